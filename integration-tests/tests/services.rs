#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The event-driven services end to end, each as its own app behind its
//! own daprd: recurrence (on completion and on schedule) and the audit log.

use std::time::Duration;

use chrono::{Duration as Days, Utc};
use dapr::dapr::proto::runtime::v1::{
    BindingEventRequest, PublishEventRequest, app_callback_client::AppCallbackClient, dapr_client::DaprClient,
};
use integration_tests::{
    Mesh, Running, Sidecar, as_user, audit_service, due, eventually, local_due, mesh, recurrence_service, task_client,
    task_service,
};
use shared::proto::todo::{
    audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
    task::v1::{self as pb, task_service_client::TaskServiceClient},
};
use tonic::transport::Channel;

struct System {
    mesh: Mesh,
    sidecars: Vec<Sidecar>,
    task: Running,
    recurrence: Running,
    audit: Running,
    tasks: TaskServiceClient<Channel>,
    task_sidecar: String,
}

async fn start() -> System {
    shared::telemetry::init_for_tests();
    let mesh = mesh().await;
    let mut sidecars = vec![mesh.sidecar("task"), mesh.sidecar("recurrence"), mesh.sidecar("audit")];
    let task_sidecar = sidecars[0].endpoint();
    let (task, _) = task_service(Some(task_sidecar.clone())).await;
    let recurrence = recurrence_service(&sidecars[1].endpoint()).await;
    let audit = audit_service().await;
    for (sidecar, app) in sidecars.iter_mut().zip([task.addr, recurrence.addr, audit.addr]) {
        sidecar.start(Some(app)).await;
    }
    let tasks = task_client(task.addr).await;
    System { mesh, sidecars, task, recurrence, audit, tasks, task_sidecar }
}

impl System {
    async fn stop(mut self) {
        for sidecar in &mut self.sidecars {
            sidecar.stop().await;
        }
        self.recurrence.stop().await;
        self.audit.stop().await;
        self.task.stop().await;
    }

    async fn list(&self, user: &str) -> Vec<pb::Task> {
        let request = pb::ListTasksRequest { page_size: 1000, order_by: "due_time".into(), ..Default::default() };
        self.tasks.clone().list_tasks(as_user(user, request)).await.unwrap().into_inner().tasks
    }

    /// CloudEvents published on `task-events` of `event_type`, read from Kafka.
    async fn published(&self, event_type: &str) -> Vec<serde_json::Value> {
        let all = self.mesh.cloud_events("task-events").await;
        all.into_iter().filter(|ce| ce["type"] == event_type).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_daily_task_creates_the_next_instance_exactly_once() {
    let system = start().await;
    let mut tasks = system.tasks.clone();
    let first = tasks
        .create_task(as_user(
            "alice",
            pb::CreateTaskRequest {
                task: Some(pb::Task {
                    title: "Water the plants".into(),
                    priority: pb::Priority::High as i32,
                    due: due("2026-03-28T09:00", "Europe/Berlin"),
                    reminders: vec![pb::Reminder {
                        id: String::new(),
                        trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration {
                            seconds: 600,
                            nanos: 0,
                        })),
                    }],
                    recurrence: Some(pb::RecurrenceRule {
                        frequency: pb::recurrence_rule::Frequency::Daily as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let complete = |etag: &str| pb::CompleteTaskRequest { name: first.name.clone(), etag: etag.into() };
    tasks.complete_task(as_user("alice", complete(""))).await.unwrap();

    let listed = eventually("the next instance", Duration::from_secs(30), || async {
        let listed = system.list("alice").await;
        (listed.len() == 2).then_some(listed)
    })
    .await;
    let next = listed.iter().find(|t| t.name != first.name).unwrap();
    assert_eq!(local_due(next), "2026-03-29T09:00:00", "09:00 in Berlin the next day, across the DST change");
    assert_eq!(next.title, "Water the plants");
    assert_eq!(next.priority, pb::Priority::High as i32);
    assert_eq!(next.reminders.len(), 1, "reminders carried over");
    assert_eq!(next.state, pb::State::Open as i32);
    assert_eq!(next.series_id, first.name.trim_start_matches("tasks/"));
    assert_eq!(next.occurrence_index, 1);
    eventually("task.recurred", Duration::from_secs(10), || async {
        let recurred = system.published("todo.task.recurred.v1").await;
        (recurred.len() == 1).then_some(())
    })
    .await;

    // Reopen and complete again: the same next instance, not a second one.
    tasks
        .reopen_task(as_user("alice", pb::ReopenTaskRequest { name: first.name.clone(), etag: String::new() }))
        .await
        .unwrap();
    tasks.complete_task(as_user("alice", complete(""))).await.unwrap();
    eventually("the second completion handled", Duration::from_secs(30), || async {
        (system.published("todo.task.recurred.v1").await.len() >= 2).then_some(())
    })
    .await;

    // And a duplicate delivery of the original completion event changes nothing.
    let completed = system.published("todo.task.completed.v1").await.remove(0);
    let mut dapr = DaprClient::connect(system.task_sidecar.clone()).await.unwrap();
    dapr.publish_event(PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: "task-events".into(),
        data: serde_json::to_vec(&completed).unwrap(),
        data_content_type: "application/cloudevents+json".into(),
        metadata: [("partitionKey".to_owned(), "alice".to_owned())].into(),
    })
    .await
    .unwrap();
    eventually("the duplicate handled", Duration::from_secs(30), || async {
        (system.published("todo.task.recurred.v1").await.len() >= 3).then_some(())
    })
    .await;
    assert_eq!(system.list("alice").await.len(), 2, "still exactly one next instance");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_driven_series_catches_up_without_duplicates_even_with_concurrent_sweeps() {
    let system = start().await;
    let start_local = (Utc::now() - Days::days(3) - Days::hours(1)).naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    system
        .tasks
        .clone()
        .create_task(as_user(
            "bob",
            pb::CreateTaskRequest {
                task: Some(pb::Task {
                    title: "Weekly report".into(),
                    due: due(&start_local, "UTC"),
                    recurrence: Some(pb::RecurrenceRule {
                        frequency: pb::recurrence_rule::Frequency::Daily as i32,
                        anchor: pb::recurrence_rule::Anchor::Schedule as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    // The cron binding (every second) sweeps: the 3 missed instances appear.
    let listed = eventually("the missed instances", Duration::from_secs(30), || async {
        let listed = system.list("bob").await;
        (listed.len() >= 4).then_some(listed)
    })
    .await;
    let indexes: Vec<i32> = listed.iter().map(|t| t.occurrence_index).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);

    // Two replicas' cron triggers at once (the binding fires in each).
    let channel = Channel::from_shared(format!("http://{}", system.recurrence.addr)).unwrap().connect().await.unwrap();
    let sweep = || {
        let mut client = AppCallbackClient::new(channel.clone());
        async move {
            client
                .on_binding_event(BindingEventRequest { name: "recurrence-sweep".into(), ..Default::default() })
                .await
                .unwrap();
        }
    };
    futures::future::join(sweep(), sweep()).await;
    assert_eq!(system.list("bob").await.len(), 4, "no duplicates");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_audited_once_in_a_chain_that_verifies() {
    let system = start().await;
    let mut tasks = system.tasks.clone();
    let task = tasks.create_task(as_user("carol", integration_tests::titled("audited"))).await.unwrap().into_inner();
    tasks
        .update_task(as_user(
            "carol",
            pb::UpdateTaskRequest {
                task: Some(pb::Task { name: task.name.clone(), title: "renamed".into(), ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    tasks
        .complete_task(as_user("carol", pb::CompleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap();
    tasks
        .delete_task(as_user("carol", pb::DeleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap();
    tasks.create_task(as_user("dave", integration_tests::titled("not carol's"))).await.unwrap();

    let mut audit = AuditServiceClient::connect(format!("http://{}", system.audit.addr)).await.unwrap();
    let entries = eventually("4 audit entries", Duration::from_secs(30), || {
        let mut audit = audit.clone();
        async move {
            let list = audit
                .list_audit_entries(as_user(
                    "carol",
                    audit_pb::ListAuditEntriesRequest { oldest_first: true, ..Default::default() },
                ))
                .await
                .unwrap()
                .into_inner();
            (list.entries.len() >= 4).then_some(list.entries)
        }
    })
    .await;
    let types: Vec<&str> = entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["todo.task.created.v1", "todo.task.updated.v1", "todo.task.completed.v1", "todo.task.deleted.v1"]
    );
    let verdict =
        audit.verify_audit_chain(as_user("carol", audit_pb::VerifyAuditChainRequest {})).await.unwrap().into_inner();
    assert!(verdict.valid);
    assert_eq!(verdict.entries_checked, 4, "one entry per change, nothing of dave's");
    system.stop().await;
}
