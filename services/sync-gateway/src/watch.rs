//! One watch, whichever the transport: catch up from the feed, then go live,
//! in revision order, with no gap and no duplicate.

use shared::proto::todo::{sync::v1 as sync_pb, task::v1 as pb};
use tokio::sync::mpsc;
use tonic::Status;

use crate::{feed::Feed, hub::Hub};

/// Counts an open connection for as long as it lives.
struct OpenConnection(&'static str);

impl OpenConnection {
    fn new(transport: &'static str) -> Self {
        metrics::gauge!("tasks_sync_open_connections", "transport" => transport).increment(1.0);
        Self(transport)
    }
}

/// Registers the gateway's series at 0 for both transports, so dashboards
/// and alerts see them before the first watch.
pub fn register_metrics() {
    for transport in ["grpc", "websocket"] {
        metrics::gauge!("tasks_sync_open_connections", "transport" => transport).set(0.0);
        metrics::counter!("tasks_sync_resumes_total", "transport" => transport).increment(0);
    }
    metrics::counter!("tasks_sync_events_fanned_out_total").increment(0);
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("tasks_sync_open_connections", "transport" => self.0).decrement(1.0);
    }
}

/// The six changes the task service makes; other events on the topic (such
/// as `task.recurred`, which repeats a created task's revision) are not
/// forwarded: the `created` event already carries the new task.
fn is_task_change(event: &pb::TaskEvent) -> bool {
    use pb::task_event::Change as C;
    matches!(
        event.change,
        Some(C::Created(_) | C::Updated(_) | C::Completed(_) | C::Reopened(_) | C::Deleted(_) | C::Restored(_))
    )
}

pub fn should_forward(event: &pb::TaskEvent) -> bool {
    is_task_change(event)
}

fn change(event: pb::TaskEvent) -> sync_pb::WatchResponse {
    sync_pb::WatchResponse { kind: Some(sync_pb::watch_response::Kind::Change(event)) }
}

/// Runs a watch for `user` from `after`, sending responses into `out` until
/// the client leaves (send fails), lags (resync) or the feed fails.
///
/// `transport` (`grpc` or `websocket`) labels the metrics: open connections
/// (`tasks_sync_open_connections`) and resumes from a revision
/// (`tasks_sync_resumes_total`).
pub async fn run(
    transport: &'static str,
    hub: Hub,
    feed: Feed,
    user: String,
    authorization: String,
    after: i64,
    out: mpsc::Sender<Result<sync_pb::WatchResponse, Status>>,
) {
    let _open = OpenConnection::new(transport);
    if after > 0 {
        metrics::counter!("tasks_sync_resumes_total", "transport" => transport).increment(1);
    }
    // Join first: anything committed from now on is buffered, so the
    // catch-up and the live part overlap rather than leave a hole.
    let mut live = hub.join(&user);
    let mut last = after;
    if let Err(status) = catch_up(&feed, &authorization, &mut last, None, &out).await {
        let _ = out.send(Err(status)).await;
        return;
    }
    let caught_up = sync_pb::WatchResponse {
        kind: Some(sync_pb::watch_response::Kind::CaughtUp(sync_pb::CaughtUp { revision: last })),
    };
    if out.send(Ok(caught_up)).await.is_err() {
        return;
    }
    while let Some(event) = live.recv().await {
        if event.revision <= last {
            continue; // already sent during catch-up
        }
        if event.revision > last + 1 {
            // Something between was not seen live (e.g. still in flight): fetch it.
            if let Err(status) = catch_up(&feed, &authorization, &mut last, Some(event.revision), &out).await {
                let _ = out.send(Err(status)).await;
                return;
            }
            if event.revision <= last {
                continue;
            }
        }
        last = event.revision;
        if out.send(Ok(change((*event).clone()))).await.is_err() {
            return;
        }
    }
    // The hub let go of us: we fell behind (or the server is stopping).
    let resync = sync_pb::WatchResponse {
        kind: Some(sync_pb::watch_response::Kind::Resync(sync_pb::Resync {
            reason: format!("fell too far behind; watch again with after_revision = {last}"),
        })),
    };
    let _ = out.send(Ok(resync)).await;
}

/// Sends the feed's changes after `*last` (up to `until`, inclusive, when
/// given) and advances `*last`.
async fn catch_up(
    feed: &Feed,
    authorization: &str,
    last: &mut i64,
    until: Option<i64>,
    out: &mpsc::Sender<Result<sync_pb::WatchResponse, Status>>,
) -> Result<(), Status> {
    loop {
        let (changes, more) = feed.changes(authorization, *last).await?;
        for event in changes {
            if until.is_some_and(|u| event.revision > u) {
                return Ok(());
            }
            *last = event.revision;
            if out.send(Ok(change(event))).await.is_err() {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}
