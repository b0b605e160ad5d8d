#![allow(clippy::unwrap_used, clippy::expect_used)]
//! User journeys through the public APIs only — the task, audit, sync and
//! notification gRPC services, with a bearer token — so the same tests run against any
//! deployment of the system ([`integration_tests::target`]):
//!
//! - by default, every service in-process, each behind its own daprd;
//! - with `E2E_TARGET=kind`, the kind cluster (`make e2e`,
//!   scripts/deploy/e2e.sh, which port-forwards the Services and sets
//!   `E2E_TASK_ADDR`, `E2E_AUDIT_ADDR`, `E2E_SYNC_ADDR`, `E2E_HS256_SECRET`).
//!
//! Nothing here looks inside a service. Every journey works with fresh
//! random user ids, so it can run any number of times against a long-lived
//! cluster; and every wait is bounded by the target's patience.

use futures::StreamExt;
use integration_tests::{Target, due, eventually, fresh_user, local_due, target};
use shared::proto::todo::{
    audit::v1 as audit_pb,
    notification::v1 as notification_pb,
    sync::v1::{self as sync_pb, watch_response::Kind},
    task::v1::{self as pb, task_service_client::TaskServiceClient},
};
use tonic::{Streaming, transport::Channel};

fn create(task: pb::Task) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest { task: Some(task), request_id: uuid::Uuid::new_v4().to_string() }
}

fn titled(title: &str) -> pb::CreateTaskRequest {
    create(pb::Task { title: title.to_owned(), ..Default::default() })
}

/// Every task of `user`, completed and deleted ones included, by due time.
async fn all_tasks(target: &Target, tasks: &TaskServiceClient<Channel>, user: &str) -> Vec<pb::Task> {
    let request =
        pb::ListTasksRequest { page_size: 1000, order_by: "due_time".into(), show_deleted: true, ..Default::default() };
    tasks.clone().list_tasks(target.as_user(user, request)).await.unwrap().into_inner().tasks
}

// -- (a) recurrence ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_daily_task_brings_the_next_instance_due_the_next_day() {
    let target = target().await;
    let user = fresh_user("daily");
    let mut tasks = target.task_client().await;

    // 09:00 in Berlin on the Saturday before the switch to summer time.
    let first = tasks
        .create_task(target.as_user(
            &user,
            create(pb::Task {
                title: "Water the plants".into(),
                priority: pb::Priority::High as i32,
                due: due("2030-03-30T09:00", "Europe/Berlin"),
                recurrence: Some(pb::RecurrenceRule {
                    frequency: pb::recurrence_rule::Frequency::Daily as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.occurrence_index, 0);
    tasks
        .complete_task(target.as_user(&user, pb::CompleteTaskRequest { name: first.name.clone(), etag: first.etag }))
        .await
        .unwrap();

    // task → outbox → broker → recurrence → CreateOccurrence on the task app.
    let listed = eventually("the next instance", target.patience, || async {
        let listed = all_tasks(&target, &tasks, &user).await;
        listed.iter().any(|t| t.name != first.name).then_some(listed)
    })
    .await;
    assert_eq!(listed.len(), 2, "exactly one next instance: {listed:#?}");
    let done = listed.iter().find(|t| t.name == first.name).unwrap();
    assert_eq!(done.state, pb::State::Completed as i32);
    let next = listed.iter().find(|t| t.name != first.name).unwrap();
    assert_eq!(local_due(next), "2030-03-31T09:00:00", "the next day, still 09:00 local across the DST change");
    assert_eq!(next.title, "Water the plants");
    assert_eq!(next.priority, pb::Priority::High as i32);
    assert_eq!(next.state, pb::State::Open as i32);
    assert_eq!(next.series_id, first.name.trim_start_matches("tasks/"));
    assert_eq!(next.occurrence_index, 1);
    assert!(next.recurrence.is_some(), "the instance repeats too");
    target.shutdown().await;
}

// -- (b) audit -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_audited_once_and_the_chain_verifies() {
    let target = target().await;
    let user = fresh_user("audited");
    let stranger = fresh_user("stranger");
    let mut tasks = target.task_client().await;
    let mut audit = target.audit_client().await;

    let task = tasks.create_task(target.as_user(&user, titled("audited"))).await.unwrap().into_inner();
    let name = task.name.clone();
    tasks
        .update_task(target.as_user(
            &user,
            pb::UpdateTaskRequest {
                task: Some(pb::Task { name: name.clone(), title: "renamed".into(), ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    tasks
        .complete_task(target.as_user(&user, pb::CompleteTaskRequest { name: name.clone(), etag: String::new() }))
        .await
        .unwrap();
    tasks
        .delete_task(target.as_user(&user, pb::DeleteTaskRequest { name: name.clone(), etag: String::new() }))
        .await
        .unwrap();
    tasks.create_task(target.as_user(&stranger, titled("not the user's"))).await.unwrap();
    // The last change: once it is recorded, a duplicate of any earlier one
    // (the user's events travel in order) would already show.
    let restored = tasks
        .undelete_task(target.as_user(&user, pb::UndeleteTaskRequest { name: name.clone(), etag: String::new() }))
        .await
        .unwrap()
        .into_inner();

    let reader = audit.clone();
    let list = |user: String| {
        let (target, mut audit) = (&target, reader.clone());
        async move {
            let request =
                audit_pb::ListAuditEntriesRequest { oldest_first: true, page_size: 100, ..Default::default() };
            audit.list_audit_entries(target.as_user(&user, request)).await.unwrap().into_inner().entries
        }
    };
    let entries = eventually("the restore audited", target.patience, || async {
        let entries = list(user.clone()).await;
        entries.iter().any(|e| e.revision >= restored.revision).then_some(entries)
    })
    .await;
    let types: Vec<&str> = entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "todo.task.created.v1",
            "todo.task.updated.v1",
            "todo.task.completed.v1",
            "todo.task.deleted.v1",
            "todo.task.restored.v1",
        ],
        "each change once, in order, nothing of anyone else's"
    );
    assert!(entries.iter().all(|e| e.task == name), "{entries:#?}");
    assert!(entries.windows(2).all(|w| w[0].revision < w[1].revision), "revisions increase: {entries:#?}");
    assert!(entries.windows(2).all(|w| w[0].sequence < w[1].sequence), "sequences increase: {entries:#?}");
    assert!(entries.windows(2).all(|w| w[1].previous_hash == w[0].hash), "each entry links to the one before");
    let mut ids: Vec<&str> = entries.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five distinct events");

    let verdict = audit
        .verify_audit_chain(target.as_user(&user, audit_pb::VerifyAuditChainRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.entries_checked, 5);

    // The stranger has a chain of their own.
    let theirs = eventually("the stranger's change audited", target.patience, || async {
        let entries = list(stranger.clone()).await;
        (!entries.is_empty()).then_some(entries)
    })
    .await;
    assert_eq!(theirs.len(), 1);
    let verdict = audit
        .verify_audit_chain(target.as_user(&stranger, audit_pb::VerifyAuditChainRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.valid && verdict.entries_checked == 1, "{verdict:?}");
    target.shutdown().await;
}

// -- (c) sync --------------------------------------------------------------------

/// The next message of a watch, within the target's patience.
async fn next(target: &Target, stream: &mut Streaming<sync_pb::WatchResponse>) -> Kind {
    let message = tokio::time::timeout(target.patience, stream.next()).await.expect("a message in time");
    message.expect("stream open").expect("no error").kind.expect("a kind")
}

/// The next message, which must be a change: (user, revision, title).
async fn next_change(target: &Target, stream: &mut Streaming<sync_pb::WatchResponse>) -> (String, i64, String) {
    match next(target, stream).await {
        Kind::Change(e) => (e.user_id, e.revision, e.task.unwrap().title),
        other => panic!("expected a change, got {other:?}"),
    }
}

async fn caught_up(target: &Target, stream: &mut Streaming<sync_pb::WatchResponse>) -> i64 {
    match next(target, stream).await {
        Kind::CaughtUp(c) => c.revision,
        other => panic!("expected caught-up, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_the_users_changes_and_a_reconnect_misses_nothing() {
    let target = target().await;
    let user = fresh_user("watcher");
    let stranger = fresh_user("stranger");
    let mut tasks = target.task_client().await;
    let sync = target.sync_client().await;
    let watch = |after_revision: i64| {
        let (target, user, mut sync) = (&target, user.clone(), sync.clone());
        async move {
            sync.watch(target.as_user(&user, sync_pb::WatchRequest { after_revision })).await.unwrap().into_inner()
        }
    };
    let mut created = Vec::new();
    let creator = tasks.clone();
    let make = |title: &str| {
        let (mut tasks, request) = (creator.clone(), target.as_user(&user, titled(title)));
        let title = title.to_owned();
        async move { (tasks.create_task(request).await.unwrap().into_inner().revision, title) }
    };

    // A new user has nothing yet: caught up at once, then live.
    let mut first = watch(0).await;
    assert_eq!(caught_up(&target, &mut first).await, 0);
    for title in ["seen 1", "seen 2"] {
        created.push(make(title).await);
    }
    tasks.create_task(target.as_user(&stranger, titled("not for the watcher"))).await.unwrap();
    for (revision, title) in &created {
        assert_eq!(next_change(&target, &mut first).await, (user.clone(), *revision, title.clone()));
    }
    let last_seen = created[1].0;
    drop(first);

    // Changes while disconnected; the reconnect from the last revision seen
    // gets exactly those, then caught-up, then live changes.
    for title in ["missed 3", "missed 4", "missed 5"] {
        created.push(make(title).await);
    }
    let mut again = watch(last_seen).await;
    for (revision, title) in &created[2..] {
        assert_eq!(next_change(&target, &mut again).await, (user.clone(), *revision, title.clone()), "no gap");
    }
    assert_eq!(caught_up(&target, &mut again).await, created[4].0);
    created.push(make("live").await);
    let live = created[5].clone();
    assert_eq!(next_change(&target, &mut again).await, (user.clone(), live.0, live.1), "no duplicate, no gap");

    // From revision 0, the whole history in order.
    let mut everything = watch(0).await;
    for (revision, title) in &created {
        assert_eq!(next_change(&target, &mut everything).await, (user.clone(), *revision, title.clone()));
    }
    assert_eq!(caught_up(&target, &mut everything).await, live.0);
    drop((again, everything));
    target.shutdown().await;
}

// -- (d) reminders and notifications -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_fires_once_and_an_opted_in_change_is_notified() {
    let target = target().await;
    let user = fresh_user("reminded");
    let mut tasks = target.task_client().await;
    let mut notifications = target.notification_client().await;

    // Opt in to completions (reminders are always delivered; log is always on).
    let preferences =
        notification_pb::Preferences { event_types: vec!["todo.task.completed.v1".into()], ..Default::default() };
    notifications
        .set_preferences(
            target.as_user(&user, notification_pb::SetPreferencesRequest { preferences: Some(preferences) }),
        )
        .await
        .unwrap();

    // task → outbox → reminder app → Dapr Job → reminder.due → notification.
    let fire_at = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let task = tasks
        .create_task(target.as_user(
            &user,
            create(pb::Task {
                title: "Call the plumber".into(),
                reminders: vec![pb::Reminder {
                    id: String::new(),
                    trigger: Some(pb::reminder::Trigger::AbsoluteTime(prost_types::Timestamp::from(fire_at))),
                }],
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    let deliveries = |user: String| {
        let (target, mut client) = (&target, notifications.clone());
        async move {
            let request = notification_pb::ListDeliveriesRequest { page_size: 100, ..Default::default() };
            client.list_deliveries(target.as_user(&user, request)).await.unwrap().into_inner().deliveries
        }
    };
    let delivered = |d: &notification_pb::Delivery, event_type: &str| {
        d.event_type == event_type
            && d.channel == notification_pb::Channel::Log as i32
            && d.state == notification_pb::delivery::State::Delivered as i32
    };
    let reminded = eventually("the reminder delivered", target.patience, || async {
        let all = deliveries(user.clone()).await;
        all.iter().any(|d| delivered(d, "todo.reminder.due.v1")).then_some(all)
    })
    .await;
    let reminder: Vec<_> = reminded.iter().filter(|d| d.event_type == "todo.reminder.due.v1").collect();
    assert_eq!(reminder.len(), 1, "one delivery per event and channel: {reminded:#?}");
    assert_eq!(reminder[0].task, task.name);
    assert!(reminded.iter().all(|d| d.event_type != "todo.task.created.v1"), "creation was not opted into");

    tasks
        .complete_task(target.as_user(&user, pb::CompleteTaskRequest { name: task.name.clone(), etag: task.etag }))
        .await
        .unwrap();
    let after = eventually("the completion notified", target.patience, || async {
        let all = deliveries(user.clone()).await;
        all.iter().any(|d| delivered(d, "todo.task.completed.v1")).then_some(all)
    })
    .await;
    assert_eq!(after.iter().filter(|d| d.event_type == "todo.task.completed.v1").count(), 1);
    assert!(after.iter().all(|d| d.task == task.name));

    // Another user sees none of it.
    assert!(deliveries(fresh_user("stranger")).await.is_empty());
    target.shutdown().await;
}
