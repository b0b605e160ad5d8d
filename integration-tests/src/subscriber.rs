//! A subscriber app for end-to-end tests: the shared callback router on a
//! real server, recording what the runtime delivers and answering with a
//! scripted outcome.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use shared::{
    Error,
    dapr::{CallbackRouter, Event, Subscription},
    grpc::Host,
    proto::todo::task::v1 as pb,
};

use crate::Running;

/// What a delivery carried.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub event_type: String,
    pub traceparent: Option<String>,
    pub partition_key: Option<String>,
    pub event: pb::TaskEvent,
}

/// Decides a delivery's outcome from its event.
pub type Script = Arc<dyn Fn(&pb::TaskEvent) -> Result<(), Error> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Recorder {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub dead_letters: Arc<Mutex<Vec<Received>>>,
    pub attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl Recorder {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
    pub fn dead_letters(&self) -> Vec<Received> {
        self.dead_letters.lock().unwrap().clone()
    }
    pub fn attempts(&self, event_id: &str) -> u32 {
        self.attempts.lock().unwrap().get(event_id).copied().unwrap_or(0)
    }
}

fn record(event: &Event, decoded: pb::TaskEvent) -> Received {
    Received {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        traceparent: event.traceparent().map(str::to_owned),
        partition_key: event.metadata.get("__key").cloned(),
        event: decoded,
    }
}

/// Serves a subscriber of `task-events` (dead letters to `task-events-dlq`,
/// which it also records) on port 0.
pub async fn spawn(script: Script) -> (Running, Recorder) {
    let recorder = Recorder::default();
    let on_event = recorder.clone();
    let on_dead = recorder.clone();
    let router = CallbackRouter::builder()
        .subscribe(Subscription::new("pubsub", "task-events").dead_letter("task-events-dlq").default_route(
            "all",
            &[],
            move |event: Event| {
                let recorder = on_event.clone();
                let script = script.clone();
                async move {
                    let decoded: pb::TaskEvent = event.decode()?;
                    *recorder.attempts.lock().unwrap().entry(event.id.clone()).or_default() += 1;
                    script(&decoded)?;
                    recorder.received.lock().unwrap().push(record(&event, decoded));
                    Ok(())
                }
            },
        ))
        .subscribe(Subscription::new("pubsub", "task-events-dlq").default_route("dlq", &[], move |event: Event| {
            let recorder = on_dead.clone();
            async move {
                let decoded: pb::TaskEvent = event.decode()?;
                recorder.dead_letters.lock().unwrap().push(record(&event, decoded));
                Ok(())
            }
        }))
        .build();
    let mut host = Host::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &[]).await.unwrap();
    host.serve_callbacks(router);
    let addr = host.addr();
    let running = Running::spawn(addr, move |stop| async move {
        host.run_until(stop, std::time::Duration::from_secs(5)).await.map_err(anyhow::Error::from)
    });
    (running, recorder)
}

/// A script that acknowledges everything.
pub fn accept_all() -> Script {
    Arc::new(|_| Ok(()))
}
