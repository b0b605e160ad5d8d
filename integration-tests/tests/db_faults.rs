#![allow(clippy::unwrap_used, clippy::expect_used)]
//! PostgreSQL restarted and then stopped for a while under load, for each
//! service that keeps data in it (task, audit, notification): no
//! acknowledged write is lost, every failed call is UNAVAILABLE (which
//! clients and Dapr retry, never INTERNAL), and everything works again once
//! the database is back. Each test prints its counts.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use dapr::dapr::proto::runtime::v1::{
    TopicEventRequest, app_callback_client::AppCallbackClient, topic_event_response::TopicEventResponseStatus as S,
};
use integration_tests::{SECRET, as_user, eventually, titled};
use shared::{
    proto::{
        json,
        todo::{
            audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
            notification::v1::{self as notification_pb, notification_service_client::NotificationServiceClient},
            task::v1::{self as pb, task_service_client::TaskServiceClient},
        },
    },
    testing::stack::Postgres,
};
use tonic::{Code, transport::Channel};

/// Restarts the database, lets the load run, stops it for two seconds and
/// starts it again, while `load` keeps calling; returns once a call after
/// the restart has succeeded.
async fn fault_while(pg: &Arc<Postgres>, running: &AtomicBool) {
    let pause = || tokio::time::sleep(Duration::from_millis(700));
    pause().await;
    let db = pg.clone();
    tokio::task::spawn_blocking(move || db.restart()).await.unwrap();
    pause().await;
    let db = pg.clone();
    tokio::task::spawn_blocking(move || db.stop()).await.unwrap();
    // The outage itself: its length is the fault, not a wait for anything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = pg.clone();
    tokio::task::spawn_blocking(move || db.start_again()).await.unwrap();
    pause().await;
    running.store(false, Ordering::Relaxed);
}

/// What the calls of a load ended with.
#[derive(Default)]
struct Outcomes {
    ok: usize,
    unavailable: usize,
    /// Events the consumer answered RETRY (the database was down).
    retried: usize,
    other: Vec<String>,
}

impl Outcomes {
    fn record<T>(&mut self, result: &Result<T, tonic::Status>) {
        match result {
            Ok(_) => self.ok += 1,
            Err(e) if e.code() == Code::Unavailable => self.unavailable += 1,
            Err(e) => self.other.push(format!("{:?}: {}", e.code(), e.message())),
        }
    }

    fn check(&self, name: &str, lost: usize) {
        println!(
            "DB-FAULT {name} ok={} unavailable={} retried={} other={} lost={lost}",
            self.ok,
            self.unavailable,
            self.retried,
            self.other.len()
        );
        assert!(self.other.is_empty(), "{name}: only UNAVAILABLE while the database is down: {:?}", self.other);
        // A call may also just wait out the outage (the pool waits up to
        // 10 s for a connection), so seeing no error at all is a pass too.
        assert_eq!(lost, 0, "{name}: acknowledged writes lost");
    }
}

async fn task_on(url: &str) -> integration_tests::Running {
    let mut settings = task::Settings::for_tests(url, SECRET);
    settings.auto_migrate = true;
    let app = task::Application::build(settings).await.unwrap();
    integration_tests::Running::spawn(app.addr(), |stop| app.run_until(stop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_service_through_a_database_restart_and_outage() {
    let pg = Arc::new(Postgres::start());
    let task = task_on(&pg.fresh_database().await).await;
    let client = TaskServiceClient::connect(format!("http://{}", task.addr)).await.unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (mut client, running, outcomes, acknowledged) =
                (client.clone(), running.clone(), outcomes.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    let result = client.create_task(as_user("dbf", titled(&format!("w{w} #{i}")))).await;
                    outcomes.lock().unwrap().record(&result);
                    if let Ok(created) = result {
                        acknowledged.lock().unwrap().push(created.into_inner().name);
                    }
                }
            })
        })
        .collect();
    fault_while(&pg, &running).await;
    for writer in writers {
        writer.await.unwrap();
    }
    // Every acknowledged create is there.
    let names = acknowledged.lock().unwrap().clone();
    let mut lost = 0;
    let mut reader = client.clone();
    for name in &names {
        let got = reader.get_task(as_user("dbf", pb::GetTaskRequest { name: name.clone() })).await;
        lost += usize::from(got.is_err());
    }
    outcomes.lock().unwrap().check("task", lost);
    task.stop().await;
}

fn task_event(i: usize) -> (String, serde_json::Value) {
    let id = uuid::Uuid::now_v7().to_string();
    let task_id = uuid::Uuid::now_v7().to_string();
    let event = pb::TaskEvent {
        event_id: id.clone(),
        user_id: "dbf".into(),
        task_id: task_id.clone(),
        revision: i as i64 + 1,
        occur_time: Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp(), nanos: 0 }),
        task: Some(pb::Task { name: format!("tasks/{task_id}"), title: format!("t{i}"), ..Default::default() }),
        change: Some(pb::task_event::Change::Created(pb::TaskCreated::default())),
    };
    (id, json::to_value(&event).unwrap())
}

fn topic_event(id: &str, data: &serde_json::Value) -> TopicEventRequest {
    TopicEventRequest {
        id: id.to_owned(),
        source: "task".into(),
        r#type: "todo.task.created.v1".into(),
        spec_version: "1.0".into(),
        data_content_type: "application/json".into(),
        data: serde_json::to_vec(data).unwrap(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: String::new(),
        extensions: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_service_through_a_database_restart_and_outage() {
    let pg = Arc::new(Postgres::start());
    let mut settings = audit::Settings::for_tests(&pg.fresh_database().await, SECRET);
    settings.auto_migrate = true;
    let app = audit::Application::build(settings).await.unwrap();
    let audit = integration_tests::Running::spawn(app.addr(), |stop| app.run_until(stop));
    let channel = Channel::from_shared(format!("http://{}", audit.addr)).unwrap().connect().await.unwrap();
    let (callbacks, api) = (AppCallbackClient::new(channel.clone()), AuditServiceClient::new(channel));
    let running = Arc::new(AtomicBool::new(true));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    // Events delivered as daprd would, in order: RETRY is redelivered.
    let deliverer = {
        let (mut callbacks, running, outcomes) = (callbacks.clone(), running.clone(), outcomes.clone());
        tokio::spawn(async move {
            let mut delivered = Vec::new();
            let mut i = 0;
            while running.load(Ordering::Relaxed) {
                let (id, data) = task_event(i);
                loop {
                    let answer = callbacks.on_topic_event(topic_event(&id, &data)).await;
                    let status = answer.as_ref().ok().map(|r| r.get_ref().status);
                    assert!(answer.is_ok(), "a handler error, not an answer: {answer:?}");
                    assert_ne!(status, Some(S::Drop as i32), "a database outage is never poison");
                    if status == Some(S::Success as i32) {
                        break;
                    }
                    outcomes.lock().unwrap().retried += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                delivered.push(id);
                i += 1;
            }
            delivered
        })
    };
    let reader = {
        let (mut api, running, outcomes) = (api.clone(), running.clone(), outcomes.clone());
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let request = audit_pb::ListAuditEntriesRequest { page_size: 10, ..Default::default() };
                let result = api.list_audit_entries(as_user("dbf", request)).await;
                outcomes.lock().unwrap().record(&result);
            }
        })
    };
    fault_while(&pg, &running).await;
    let delivered = deliverer.await.unwrap();
    reader.await.unwrap();
    let entries = eventually("the audit log readable again", Duration::from_secs(20), || {
        let mut api = api.clone();
        async move {
            let request = audit_pb::ListAuditEntriesRequest { page_size: 1000, ..Default::default() };
            api.list_audit_entries(as_user("dbf", request)).await.ok().map(|r| r.into_inner().entries)
        }
    })
    .await;
    let lost = delivered.iter().filter(|id| !entries.iter().any(|e| &e.event_id == *id)).count();
    assert_eq!(entries.len(), delivered.len(), "each acknowledged event audited once");
    outcomes.lock().unwrap().check("audit", lost);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_service_through_a_database_restart_and_outage() {
    let pg = Arc::new(Postgres::start());
    let mut settings = notification::Settings::for_tests(&pg.fresh_database().await, "http://127.0.0.1:9", SECRET);
    settings.auto_migrate = true;
    let app = notification::Application::build(settings).await.unwrap();
    let service = integration_tests::Running::spawn(app.addr(), |stop| app.run_until(stop));
    let api = NotificationServiceClient::connect(format!("http://{}", service.addr)).await.unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    // What is stored must be each user's last acknowledged preference, or a
    // later attempt whose answer was lost with the connection.
    let users: Vec<String> = (0..8).map(|u| format!("dbf-{u}")).collect();
    let last = Arc::new(Mutex::new(std::collections::HashMap::<String, (String, Vec<String>)>::new()));
    let writers: Vec<_> = users
        .iter()
        .cloned()
        .map(|user| {
            let (mut api, running, outcomes, last) = (api.clone(), running.clone(), outcomes.clone(), last.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    let address = format!("{user}+{i}@example.com");
                    let preferences = notification_pb::Preferences {
                        email: Some(notification_pb::EmailChannel { address: address.clone() }),
                        ..Default::default()
                    };
                    let request = notification_pb::SetPreferencesRequest { preferences: Some(preferences) };
                    let result = api.set_preferences(as_user(&user, request)).await;
                    outcomes.lock().unwrap().record(&result);
                    let mut last = last.lock().unwrap();
                    if result.is_ok() {
                        last.insert(user.clone(), (address, Vec::new()));
                    } else if let Some((_, later)) = last.get_mut(&user) {
                        later.push(address);
                    }
                }
            })
        })
        .collect();
    fault_while(&pg, &running).await;
    for writer in writers {
        writer.await.unwrap();
    }
    let mut lost = 0;
    let expected = last.lock().unwrap().clone();
    for (user, (acknowledged, later)) in &expected {
        let got = api
            .clone()
            .get_preferences(as_user(user, notification_pb::GetPreferencesRequest {}))
            .await
            .unwrap()
            .into_inner();
        let stored = got.email.map(|e| e.address).unwrap_or_default();
        lost += usize::from(stored != *acknowledged && !later.contains(&stored));
    }
    outcomes.lock().unwrap().check("notification", lost);
    service.stop().await;
}
