#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Faults that only a real broker and a real scheduler allow, each under
//! load, each printing how many effects were lost and how many duplicated
//! (both must be 0):
//!
//! - the Kafka broker killed (SIGKILL) and restarted during 1 000 writes;
//! - a consumer's daprd killed mid-stream and restarted;
//! - the Dapr scheduler restarted with reminders pending: each fires once;
//! - two replicas of the audit and recurrence consumers in one group, with a
//!   replica joining and another leaving (two rebalances) during the load:
//!   no duplicate audit entry, no duplicate recurrence instance.
//!
//! Effects are what the consumers made of the events (audit entries, next
//! instances, `reminder.due` events), counted per event; deliveries may
//! repeat (at-least-once), effects may not.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use dapr::dapr::proto::runtime::v1::{ListJobsRequest, dapr_client::DaprClient};
use integration_tests::{
    Mesh, Running, as_user, audit_service, audit_service_at, due, eventually, recurrence_service, reminder_service,
    task_client, task_service, titled,
};
use shared::{
    proto::todo::{
        audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
        task::v1::{self as pb, task_service_client::TaskServiceClient},
    },
    testing::{
        Backend, fresh_database,
        stack::{Kafka, Scheduler, Stack, scratch_dir},
    },
};
use tonic::transport::Channel;

const USERS: [&str; 8] = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];

/// Lost and duplicated effects, printed and asserted.
struct Effects {
    name: &'static str,
    expected: usize,
    lost: usize,
    duplicated: usize,
}

impl Effects {
    /// From how often each expected key took effect.
    fn count<K: std::hash::Hash + Eq>(name: &'static str, expected: &[K], seen: &HashMap<K, usize>) -> Self {
        let lost = expected.iter().filter(|k| seen.get(*k).copied().unwrap_or(0) == 0).count();
        let duplicated = seen.values().map(|n| n.saturating_sub(1)).sum();
        Self { name, expected: expected.len(), lost, duplicated }
    }

    fn check(self) {
        println!("FAULT {} expected={} lost={} duplicated={}", self.name, self.expected, self.lost, self.duplicated);
        assert_eq!((self.lost, self.duplicated), (0, 0), "{}: effects lost or duplicated", self.name);
    }
}

/// Creates `count` tasks from 8 concurrent writers over [`USERS`], bumping
/// `written` after each acknowledged create; returns (user, task name).
fn spawn_writes(
    client: &TaskServiceClient<Channel>,
    count: usize,
    written: Arc<AtomicUsize>,
    make: fn(usize) -> pb::CreateTaskRequest,
) -> tokio::task::JoinHandle<Vec<(String, String)>> {
    let client = client.clone();
    tokio::spawn(async move {
        let writers = (0..8).map(|w| {
            let (mut client, written) = (client.clone(), written.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for i in (w..count).step_by(8) {
                    let user = USERS[i % USERS.len()];
                    let task = client.create_task(as_user(user, make(i))).await.unwrap().into_inner();
                    written.fetch_add(1, Ordering::Relaxed);
                    made.push((user.to_owned(), task.name));
                }
                made
            })
        });
        let mut all = Vec::new();
        for writer in futures::future::join_all(writers).await {
            all.extend(writer.unwrap());
        }
        all
    })
}

fn plain(i: usize) -> pb::CreateTaskRequest {
    titled(&format!("fault {i}"))
}

/// Every audit entry of `user`, oldest first.
async fn audit_entries(audit: &AuditServiceClient<Channel>, user: &str) -> Vec<audit_pb::AuditEntry> {
    integration_tests::all_audit_entries(audit, |request| as_user(user, request)).await.unwrap()
}

/// How many audit entries each (task, event type) has, over every user.
async fn audited(audit: &AuditServiceClient<Channel>) -> HashMap<(String, String), usize> {
    let mut seen = HashMap::new();
    for user in USERS {
        for entry in audit_entries(audit, user).await {
            *seen.entry((entry.task, entry.event_type)).or_default() += 1;
        }
    }
    seen
}

/// Waits until every `(task, event type)` in `expected` is audited.
async fn await_audited(audit: &AuditServiceClient<Channel>, expected: &[(String, String)], patience: Duration) {
    eventually(&format!("{} audit entries", expected.len()), patience, || async {
        let seen = audited(audit).await;
        expected.iter().all(|k| seen.contains_key(k)).then_some(())
    })
    .await;
}

fn created(made: &[(String, String)]) -> Vec<(String, String)> {
    made.iter().map(|(_, name)| (name.clone(), "todo.task.created.v1".to_owned())).collect()
}

async fn audit_client(addr: std::net::SocketAddr) -> AuditServiceClient<Channel> {
    AuditServiceClient::connect(format!("http://{addr}")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_killed_and_restarted_during_1000_writes_loses_and_duplicates_nothing() {
    let dir = scratch_dir("fault-broker");
    let mut kafka = Kafka::start(&dir.join("kafka")).await;
    let mut stack = Stack::shared_or_private().await;
    stack.brokers = kafka.brokers();
    let mesh = Mesh::builder().stack(stack).build().await;
    let (mut task_sidecar, mut audit_sidecar) = (mesh.sidecar("task"), mesh.sidecar("audit"));
    let (task, _) = task_service(Some(task_sidecar.endpoint())).await;
    let audit = audit_service().await;
    audit_sidecar.start(Some(audit.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    let written = Arc::new(AtomicUsize::new(0));
    let writes = spawn_writes(&task_client(task.addr).await, 1000, written.clone(), plain);
    let progress = |n: usize| {
        let written = written.clone();
        move || {
            let written = written.clone();
            async move { (written.load(Ordering::Relaxed) >= n).then_some(()) }
        }
    };
    eventually("300 writes", Duration::from_secs(60), progress(300)).await;
    kafka.kill().await;
    eventually("600 writes with the broker down", Duration::from_secs(60), progress(600)).await;
    kafka.restart().await;
    let made = writes.await.unwrap();
    assert_eq!(made.len(), 1000, "every write was acknowledged, broker or not");

    let audit_api = audit_client(audit.addr).await;
    let expected = created(&made);
    await_audited(&audit_api, &expected, Duration::from_secs(120)).await;
    let records = mesh.records("task-events").await.len();
    println!("broker fault: {records} records on task-events for 1000 events (repeats are deliveries, not effects)");
    Effects::count("broker-killed", &expected, &audited(&audit_api).await).check();

    task_sidecar.stop().await;
    audit_sidecar.stop().await;
    task.stop().await;
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumers_sidecar_killed_mid_stream_loses_and_duplicates_nothing() {
    let mesh = Mesh::new().await;
    let (mut task_sidecar, mut audit_sidecar) = (mesh.sidecar("task"), mesh.sidecar("audit"));
    let (task, _) = task_service(Some(task_sidecar.endpoint())).await;
    let audit = audit_service().await;
    audit_sidecar.start(Some(audit.addr)).await;
    task_sidecar.start(Some(task.addr)).await;
    let audit_api = audit_client(audit.addr).await;

    let written = Arc::new(AtomicUsize::new(0));
    let writes = spawn_writes(&task_client(task.addr).await, 1000, written.clone(), plain);
    eventually("the consumer under way", Duration::from_secs(60), || async {
        (audited(&audit_api).await.len() >= 200).then_some(())
    })
    .await;
    audit_sidecar.kill().await;
    let at_kill = audited(&audit_api).await.len();
    audit_sidecar.restart().await;
    let made = writes.await.unwrap();
    assert!(at_kill < 1000, "killed mid-stream ({at_kill} audited)");

    let expected = created(&made);
    await_audited(&audit_api, &expected, Duration::from_secs(120)).await;
    Effects::count("consumer-sidecar-killed", &expected, &audited(&audit_api).await).check();

    task_sidecar.stop().await;
    audit_sidecar.stop().await;
    task.stop().await;
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_restarted_with_reminders_pending_fires_each_once() {
    let mut scheduler = Scheduler::start(&scratch_dir("fault-scheduler")).await;
    let mut stack = Stack::shared_or_private().await;
    stack.scheduler = scheduler.address();
    let mesh = Mesh::builder().stack(stack).build().await;
    let (mut task_sidecar, mut reminder_sidecar) = (mesh.sidecar("task"), mesh.sidecar("reminder"));
    let (task, _) = task_service(Some(task_sidecar.endpoint())).await;
    let reminder = reminder_service(&reminder_sidecar.endpoint()).await;
    reminder_sidecar.start(Some(reminder.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    // 20 reminders, 6 to 16 seconds ahead: some fall due while the
    // scheduler is down, the rest after it is back.
    let mut tasks = task_client(task.addr).await;
    let now = Utc::now();
    for i in 0..20 {
        let at = now + chrono::Duration::milliseconds(6000 + 500 * i);
        let request = pb::CreateTaskRequest {
            task: Some(pb::Task {
                title: format!("remind {i}"),
                reminders: vec![pb::Reminder {
                    id: String::new(),
                    trigger: Some(pb::reminder::Trigger::AbsoluteTime(prost_types::Timestamp {
                        seconds: at.timestamp(),
                        nanos: 0,
                    })),
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        };
        tasks.create_task(as_user(USERS[i as usize % 8], request)).await.unwrap();
    }
    let jobs = DaprClient::connect(reminder_sidecar.endpoint()).await.unwrap();
    let pending = || {
        let mut jobs = jobs.clone();
        async move { jobs.list_jobs(ListJobsRequest {}).await.map(|r| r.into_inner().jobs.len()).unwrap_or(usize::MAX) }
    };
    eventually("20 jobs scheduled", Duration::from_secs(30), || async { (pending().await == 20).then_some(()) }).await;

    scheduler.stop().await;
    scheduler.restart().await;

    eventually("20 reminder.due events", Duration::from_secs(60), || async {
        (mesh.records("reminders").await.len() >= 20).then_some(())
    })
    .await;
    eventually("every job done", Duration::from_secs(30), || async { (pending().await == 0).then_some(()) }).await;
    let events = mesh.cloud_events("reminders").await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in &events {
        *seen.entry(event["data"]["taskId"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let expected: Vec<String> = seen.keys().cloned().collect();
    assert_eq!(expected.len(), 20, "a reminder.due for each of the 20 tasks: {seen:?}");
    Effects::count("scheduler-restarted", &expected, &seen).check();

    task_sidecar.stop().await;
    reminder_sidecar.stop().await;
    task.stop().await;
    reminder.stop().await;
}

fn daily(i: usize) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task {
            title: format!("daily {i}"),
            due: due("2030-06-01T09:00", "UTC"),
            recurrence: Some(pb::RecurrenceRule {
                frequency: pb::recurrence_rule::Frequency::Daily as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

/// A consumer app with its sidecar.
struct Replica {
    sidecar: integration_tests::Sidecar,
    app: Running,
}

impl Replica {
    async fn stop(mut self) {
        self.sidecar.stop().await;
        self.app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_a_consumer_through_rebalances_make_no_duplicate_effects() {
    let mesh = Mesh::new().await;
    let mut task_sidecar = mesh.sidecar("task");
    let (task, _) = task_service(Some(task_sidecar.endpoint())).await;
    task_sidecar.start(Some(task.addr)).await;
    // The audit replicas share one PostgreSQL database, as in production.
    let audit_db = fresh_database(Backend::Postgres).await.unwrap();
    let replica = |app_id: &'static str| {
        let (mesh, audit_db) = (&mesh, audit_db.clone());
        async move {
            let mut sidecar = mesh.sidecar(app_id);
            let app = match app_id {
                "audit" => audit_service_at(&audit_db).await,
                _ => recurrence_service(&sidecar.endpoint()).await,
            };
            sidecar.start(Some(app.addr)).await;
            Replica { sidecar, app }
        }
    };
    let (audit_a, recurrence_a) = (replica("audit").await, replica("recurrence").await);

    // 400 daily tasks, each completed once it exists: the completions make
    // recurrence create 400 next instances while the groups rebalance.
    let tasks = task_client(task.addr).await;
    let written = Arc::new(AtomicUsize::new(0));
    let writes = spawn_writes(&tasks, 400, written.clone(), daily);
    eventually("100 tasks", Duration::from_secs(60), || async {
        (written.load(Ordering::Relaxed) >= 100).then_some(())
    })
    .await;
    let (audit_b, recurrence_b) = (replica("audit").await, replica("recurrence").await);
    let made = writes.await.unwrap();
    let completions = made.iter().map(|(user, name)| {
        let mut tasks = tasks.clone();
        async move {
            let request = pb::CompleteTaskRequest { name: name.clone(), etag: String::new() };
            tasks.complete_task(as_user(user, request)).await.unwrap();
        }
    });
    let complete_all = futures::future::join_all(completions);
    let leave = async {
        eventually("a quarter of the next instances", Duration::from_secs(60), || async {
            let listed = list_all(&tasks).await;
            (listed.len() >= 500).then_some(())
        })
        .await;
        // Replica A of each consumer leaves: its partitions move to B.
        audit_a.stop().await;
        recurrence_a.stop().await;
    };
    futures::future::join(complete_all, leave).await;

    // Every series gets exactly one next instance.
    let listed = eventually("800 tasks", Duration::from_secs(120), || async {
        let listed = list_all(&tasks).await;
        (listed.len() >= 800).then_some(listed)
    })
    .await;
    let originals: Vec<String> = made.iter().map(|(_, n)| n.trim_start_matches("tasks/").to_owned()).collect();
    let mut instances: HashMap<String, usize> = HashMap::new();
    for t in listed.iter().filter(|t| t.occurrence_index == 1) {
        *instances.entry(t.series_id.clone()).or_default() += 1;
    }
    Effects::count("rebalance-recurrence", &originals, &instances).check();

    // Every change audited exactly once, by whichever replica had it.
    let audit_api = audit_client(audit_b.app.addr).await;
    let mut expected = created(&made);
    expected.extend(made.iter().map(|(_, n)| (n.clone(), "todo.task.completed.v1".to_owned())));
    expected.extend(
        listed.iter().filter(|t| t.occurrence_index == 1).map(|t| (t.name.clone(), "todo.task.created.v1".to_owned())),
    );
    await_audited(&audit_api, &expected, Duration::from_secs(120)).await;
    let seen: HashMap<(String, String), usize> =
        audited(&audit_api).await.into_iter().filter(|(k, _)| !k.1.ends_with("recurred.v1")).collect();
    Effects::count("rebalance-audit", &expected, &seen).check();

    audit_b.stop().await;
    recurrence_b.stop().await;
    task_sidecar.stop().await;
    task.stop().await;
}

/// Every task of every user.
async fn list_all(tasks: &TaskServiceClient<Channel>) -> Vec<pb::Task> {
    let mut all = Vec::new();
    for user in USERS {
        let mut page_token = String::new();
        loop {
            let request =
                pb::ListTasksRequest { page_size: 1000, page_token: page_token.clone(), ..Default::default() };
            let page = tasks.clone().list_tasks(as_user(user, request)).await.unwrap().into_inner();
            all.extend(page.tasks);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    all
}
