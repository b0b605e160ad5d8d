//! Live fan-out: each task event goes to its user's connections only.
//!
//! Every connection has a bounded queue. Publishing never waits: a
//! connection whose queue is full has fallen too far behind; it is dropped
//! from the hub (its receiver then ends), and the watch tells the client to
//! resync. So one slow client neither stalls the others nor grows memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use shared::proto::todo::task::v1 as pb;
use tokio::sync::mpsc;

/// What a connection receives from the hub.
pub type Live = mpsc::Receiver<Arc<pb::TaskEvent>>;

#[derive(Clone)]
pub struct Hub {
    capacity: usize,
    inner: Arc<Mutex<Inner>>,
}

/// A user's live connections: (connection id, its queue).
type Connections = Vec<(u64, mpsc::Sender<Arc<pb::TaskEvent>>)>;

#[derive(Default)]
struct Inner {
    next_id: u64,
    by_user: HashMap<String, Connections>,
}

impl Hub {
    /// Each connection buffers at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), inner: Arc::default() }
    }

    /// Joins `user`'s fan-out; the receiver ends if the connection lags.
    pub fn join(&self, user: &str) -> Live {
        let (tx, rx) = mpsc::channel(self.capacity);
        // A poisoned lock only means another thread panicked mid-update of a
        // map of senders; the map is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.next_id += 1;
        let id = inner.next_id;
        inner.by_user.entry(user.to_owned()).or_default().push((id, tx));
        rx
    }

    /// Sends `event` to its user's connections; drops the ones that lag or left.
    pub fn publish(&self, event: pb::TaskEvent) {
        let event = Arc::new(event);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(connections) = inner.by_user.get_mut(&event.user_id) else { return };
        connections.retain(|(id, tx)| match tx.try_send(event.clone()) {
            Ok(()) => {
                metrics::counter!("tasks_sync_events_fanned_out_total").increment(1);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(user = %event.user_id, connection = id, "connection fell behind: resync");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if connections.is_empty() {
            inner.by_user.remove(&event.user_id);
        }
    }

    /// Ends every connection (shutdown).
    pub fn close_all(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).by_user.clear();
    }

    /// Live connections of `user` (for tests and metrics).
    pub fn connections(&self, user: &str) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).by_user.get(user).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, revision: i64) -> pb::TaskEvent {
        pb::TaskEvent { user_id: user.into(), revision, ..Default::default() }
    }

    #[tokio::test]
    async fn events_reach_only_their_users_connections() {
        let hub = Hub::new(8);
        let mut alice = hub.join("alice");
        let mut bob = hub.join("bob");
        hub.publish(event("alice", 1));
        assert_eq!(alice.recv().await.unwrap().revision, 1);
        assert!(bob.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_full_connection_is_dropped_and_others_keep_receiving() {
        let hub = Hub::new(2);
        let mut slow = hub.join("alice");
        let mut fast = hub.join("alice");
        for revision in 1..=3 {
            hub.publish(event("alice", revision));
            assert_eq!(fast.recv().await.unwrap().revision, revision);
        }
        assert_eq!(hub.connections("alice"), 1);
        // The slow one gets what fit, then its stream ends.
        assert_eq!(slow.recv().await.unwrap().revision, 1);
        assert_eq!(slow.recv().await.unwrap().revision, 2);
        assert!(slow.recv().await.is_none());
    }
}
