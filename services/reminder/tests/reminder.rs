#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The reminder service behind a real daprd (state store, the Dapr
//! scheduler's Jobs API, Kafka pub/sub), over real gRPC on 127.0.0.1.
//!
//! Task events are handed to the app's AppCallback the way daprd does, so
//! each answer (SUCCESS/RETRY/DROP) can be asserted; one test lets daprd
//! deliver them from Kafka. Jobs are inspected with daprd's
//! `ListJobs`/`GetJob`, published `reminder.due` events read from Kafka.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use dapr::dapr::proto::runtime::v1::{
    GetJobRequest, Job, JobEventRequest, ListJobsRequest, TopicEventRequest,
    app_callback_alpha_client::AppCallbackAlphaClient, app_callback_client::AppCallbackClient, dapr_client::DaprClient,
    topic_event_response::TopicEventResponseStatus as S,
};
use reminder::{Application, Settings, domain};
use shared::{
    dapr::{OutgoingEvent, Sidecar},
    proto::{
        json,
        todo::{reminder::v1 as rpb, task::v1 as pb},
    },
    testing::mesh::{self, Mesh},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Channel};

struct Harness {
    mesh: Mesh,
    sidecar: mesh::Sidecar,
    dapr: DaprClient<Channel>,
    sidecar_addr: String,
    callbacks: AppCallbackClient<Channel>,
    alpha: AppCallbackAlphaClient<Channel>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Harness {
    let mesh = Mesh::new().await;
    let mut sidecar = mesh.sidecar("reminder");
    let sidecar_addr = sidecar.endpoint();
    let app = Application::build(Settings::for_tests(&sidecar_addr)).await.unwrap();
    let app_addr = app.addr();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until(stop.clone()));
    sidecar.start(Some(app_addr)).await;
    let dapr = DaprClient::connect(sidecar_addr.clone()).await.unwrap();
    let channel = Channel::from_shared(format!("http://{app_addr}")).unwrap().connect().await.unwrap();
    Harness {
        mesh,
        sidecar,
        dapr,
        sidecar_addr,
        callbacks: AppCallbackClient::new(channel.clone()),
        alpha: AppCallbackAlphaClient::new(channel),
        stop,
        server,
    }
}

use shared::testing::wait_until as eventually;

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }
}

fn at(id: &str, t: DateTime<Utc>) -> pb::Reminder {
    pb::Reminder { id: id.into(), trigger: Some(pb::reminder::Trigger::AbsoluteTime(ts(t))) }
}

fn before_due(id: &str, seconds: i64) -> pb::Reminder {
    pb::Reminder {
        id: id.into(),
        trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds, nanos: 0 })),
    }
}

fn due_at(t: DateTime<Utc>) -> pb::Due {
    pb::Due {
        value: Some(pb::due::Value::DateTime(pb::ZonedDateTime {
            local_time: t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: "UTC".into(),
        })),
    }
}

/// A task as the task service snapshots it into an event.
#[derive(Clone)]
struct TaskSnap {
    id: String,
    user: String,
    title: String,
    due: Option<pb::Due>,
    reminders: Vec<pb::Reminder>,
    completed: bool,
    deleted: bool,
}

impl TaskSnap {
    fn new(reminders: Vec<pb::Reminder>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            user: "alice".into(),
            title: "Buy milk".into(),
            due: None,
            reminders,
            completed: false,
            deleted: false,
        }
    }

    fn event(&self, revision: i64, change: pb::task_event::Change) -> pb::TaskEvent {
        pb::TaskEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            user_id: self.user.clone(),
            task_id: self.id.clone(),
            revision,
            occur_time: Some(ts(Utc::now())),
            task: Some(pb::Task {
                name: format!("tasks/{}", self.id),
                title: self.title.clone(),
                state: if self.completed { pb::State::Completed } else { pb::State::Open } as i32,
                due: self.due.clone(),
                reminders: self.reminders.clone(),
                delete_time: self.deleted.then(|| ts(Utc::now())),
                revision,
                ..Default::default()
            }),
            change: Some(change),
        }
    }
}

fn created() -> pb::task_event::Change {
    pb::task_event::Change::Created(pb::TaskCreated::default())
}
fn updated(paths: &[&str]) -> pb::task_event::Change {
    pb::task_event::Change::Updated(pb::TaskUpdated { changed_paths: paths.iter().map(|p| (*p).into()).collect() })
}

fn event_type(event: &pb::TaskEvent) -> &'static str {
    match event.change {
        Some(pb::task_event::Change::Created(_)) => "todo.task.created.v1",
        Some(pb::task_event::Change::Updated(_)) => "todo.task.updated.v1",
        Some(pb::task_event::Change::Completed(_)) => "todo.task.completed.v1",
        Some(pb::task_event::Change::Reopened(_)) => "todo.task.reopened.v1",
        Some(pb::task_event::Change::Deleted(_)) => "todo.task.deleted.v1",
        Some(pb::task_event::Change::Restored(_)) => "todo.task.restored.v1",
        _ => "todo.task.recurred.v1",
    }
}

impl Harness {
    /// Delivers `event` as daprd would and returns the app's answer.
    async fn deliver(&mut self, event: &pb::TaskEvent) -> S {
        let request = TopicEventRequest {
            id: event.event_id.clone(),
            source: "task".into(),
            r#type: event_type(event).into(),
            spec_version: "1.0".into(),
            data_content_type: "application/json".into(),
            data: serde_json::to_vec(&json::to_value(event).unwrap()).unwrap(),
            topic: "task-events".into(),
            pubsub_name: "pubsub".into(),
            path: "reminders".into(),
            extensions: None,
        };
        S::try_from(self.callbacks.on_topic_event(request).await.unwrap().into_inner().status).unwrap()
    }

    /// Name → due_time of the app's jobs.
    async fn jobs(&self) -> BTreeMap<String, String> {
        let jobs = self.dapr.clone().list_jobs(ListJobsRequest {}).await.unwrap().into_inner().jobs;
        jobs.into_iter().map(|j| (j.name, j.due_time.unwrap_or_default())).collect()
    }

    async fn job(&self, name: &str) -> Option<Job> {
        self.dapr.clone().get_job(GetJobRequest { name: name.into() }).await.ok().and_then(|r| r.into_inner().job)
    }

    /// The `reminder.due` CloudEvents on the `reminders` topic, read from Kafka.
    async fn published(&self) -> Vec<serde_json::Value> {
        self.mesh.cloud_events("reminders").await
    }

    async fn stop(mut self) {
        self.sidecar.stop().await;
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_follow_the_task_through_its_life() {
    let mut h = start().await;
    let now = whole_seconds(Utc::now());
    let (fixed, due) = (now + chrono::Duration::hours(2), now + chrono::Duration::days(1));
    let mut task = TaskSnap::new(vec![at("fixed", fixed), before_due("lead", 1800)]);
    task.due = Some(due_at(due));
    let job_fixed = domain::job_name(&task.id, "fixed");
    let job_lead = domain::job_name(&task.id, "lead");

    assert_eq!(h.deliver(&task.event(1, created())).await, S::Success);
    let expected = BTreeMap::from([
        (job_fixed.clone(), rfc3339(fixed)),
        (job_lead.clone(), rfc3339(due - chrono::Duration::minutes(30))),
    ]);
    assert_eq!(h.jobs().await, expected, "one job per reminder, due at its fire time");

    // The due date moves: the relative reminder follows, the absolute one is untouched.
    let new_due = due + chrono::Duration::hours(3);
    task.due = Some(due_at(new_due));
    assert_eq!(h.deliver(&task.event(2, updated(&["due"]))).await, S::Success);
    assert_eq!(h.jobs().await[&job_lead], rfc3339(new_due - chrono::Duration::minutes(30)));
    assert_eq!(h.jobs().await[&job_fixed], rfc3339(fixed));

    // A reminder removed: its job goes.
    task.reminders.retain(|r| r.id == "lead");
    assert_eq!(h.deliver(&task.event(3, updated(&["reminders"]))).await, S::Success);
    assert_eq!(h.jobs().await.keys().collect::<Vec<_>>(), [&job_lead]);

    // Completed: cancelled. Reopened: restored.
    task.completed = true;
    assert_eq!(h.deliver(&task.event(4, pb::task_event::Change::Completed(pb::TaskCompleted {}))).await, S::Success);
    assert!(h.jobs().await.is_empty(), "completing cancels every reminder");
    task.completed = false;
    assert_eq!(h.deliver(&task.event(5, pb::task_event::Change::Reopened(pb::TaskReopened {}))).await, S::Success);
    assert_eq!(h.jobs().await.keys().collect::<Vec<_>>(), [&job_lead], "reopening restores it");

    // Deleted: cancelled. Undeleted: restored.
    task.deleted = true;
    assert_eq!(h.deliver(&task.event(6, pb::task_event::Change::Deleted(pb::TaskDeleted {}))).await, S::Success);
    assert!(h.jobs().await.is_empty(), "deleting cancels every reminder");
    task.deleted = false;
    assert_eq!(h.deliver(&task.event(7, pb::task_event::Change::Restored(pb::TaskRestored {}))).await, S::Success);
    let job = h.job(&job_lead).await.expect("restored on undelete");
    assert_eq!(job.due_time.as_deref(), Some(rfc3339(new_due - chrono::Duration::minutes(30)).as_str()));
    assert!(h.published().await.is_empty(), "nothing is due yet");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_job_publishes_one_reminder_due_even_if_it_fires_twice() {
    let mut h = start().await;
    let fire_at = Utc::now() + chrono::Duration::milliseconds(1500);
    let fire_at = DateTime::from_timestamp_micros(fire_at.timestamp() * 1_000_000).unwrap();
    let mut task = TaskSnap::new(vec![at("r1", fire_at)]);
    task.due = Some(pb::Due { value: Some(pb::due::Value::Date("2030-01-02".into())) });
    assert_eq!(h.deliver(&task.event(1, created())).await, S::Success);
    let name = domain::job_name(&task.id, "r1");
    let job = h.job(&name).await.expect("scheduled");

    eventually(10, "the job fires and reminder.due is published", || async { h.published().await.len() == 1 }).await;
    let published = h.published().await;
    let ce = &published[0];
    let expected_id = domain::event_id(&task.id, "r1", fire_at);
    assert_eq!(ce["id"], expected_id.as_str());
    assert_eq!(ce["type"], "todo.reminder.due.v1");
    assert_eq!(ce["source"], "reminder");
    let due: rpb::ReminderDue = json::from_slice(&serde_json::to_vec(&ce["data"]).unwrap()).unwrap();
    assert_eq!(due.event_id, expected_id);
    assert_eq!(due.user_id, "alice");
    assert_eq!(due.task, format!("tasks/{}", task.id));
    assert_eq!(due.task_title, "Buy milk");
    assert_eq!(due.reminder_id, "r1");
    assert_eq!(due.fire_time.unwrap().seconds, fire_at.timestamp());
    assert_eq!(due.due, task.due);
    assert_eq!(
        due.due_time.unwrap().seconds,
        DateTime::parse_from_rfc3339("2030-01-02T00:00:00Z").unwrap().timestamp()
    );
    eventually(5, "the one-shot job is gone after firing", || async { h.job(&name).await.is_none() }).await;

    // The scheduler fires the same job again (at-least-once): nothing new is published.
    let again = JobEventRequest {
        name: name.clone(),
        data: job.data.clone(),
        method: format!("job/{name}"),
        content_type: job.data.as_ref().unwrap().type_url.clone(),
        http_extension: None,
    };
    h.callbacks.on_job_event(again.clone()).await.unwrap();
    #[allow(deprecated)]
    h.alpha.on_job_event_alpha1(again).await.unwrap();
    assert_eq!(h.published().await.len(), 1, "once per reminder");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_already_past_when_set_fires_at_once_and_only_once() {
    let mut h = start().await;
    let now = whole_seconds(Utc::now());
    let past = now - chrono::Duration::minutes(5);
    let ancient = now - chrono::Duration::days(3);
    let mut task = TaskSnap::new(vec![at("late", past), at("ancient", ancient)]);
    assert_eq!(h.deliver(&task.event(1, created())).await, S::Success);
    eventually(10, "the past reminder fires at once", || async { h.published().await.len() == 1 }).await;
    assert_eq!(h.published().await[0]["id"], domain::event_id(&task.id, "late", past).as_str());
    assert!(h.job(&domain::job_name(&task.id, "ancient")).await.is_none(), "older than the lateness limit: not fired");
    eventually(5, "the at-once job is done", || async { h.jobs().await.is_empty() }).await;

    // An unrelated update does not fire it again.
    task.title = "Buy oat milk".into();
    assert_eq!(h.deliver(&task.event(2, updated(&["title"]))).await, S::Success);
    assert!(h.jobs().await.is_empty(), "no job for an untouched past reminder");

    // Moving it to another past time is a new reminder time: it fires (once) again.
    let moved = now - chrono::Duration::minutes(1);
    task.reminders = vec![at("late", moved), at("ancient", ancient)];
    assert_eq!(h.deliver(&task.event(3, updated(&["reminders"]))).await, S::Success);
    eventually(10, "the moved reminder fires", || async { h.published().await.len() == 2 }).await;
    let published = h.published().await;
    assert_eq!(published[1]["id"], domain::event_id(&task.id, "late", moved).as_str());
    assert_eq!(published[1]["data"]["taskTitle"], "Buy oat milk", "the title at firing time");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_stale_task_events_change_nothing() {
    let mut h = start().await;
    let now = whole_seconds(Utc::now());
    let (first, third) = (now + chrono::Duration::hours(1), now + chrono::Duration::hours(3));
    let mut task = TaskSnap::new(vec![at("r", first)]);
    let name = domain::job_name(&task.id, "r");
    let created_event = task.event(1, created());
    assert_eq!(h.deliver(&created_event).await, S::Success);

    task.reminders = vec![at("r", now + chrono::Duration::hours(2))];
    let second = task.event(2, updated(&["reminders"]));
    task.reminders = vec![at("r", third)];
    let newest = task.event(3, updated(&["reminders"]));
    assert_eq!(h.deliver(&newest).await, S::Success);
    assert_eq!(h.jobs().await[&name], rfc3339(third));

    // The newest event again, the first one again, and a stale one arriving late.
    for event in [&newest, &created_event, &second] {
        assert_eq!(h.deliver(event).await, S::Success);
    }
    assert_eq!(h.jobs().await, BTreeMap::from([(name.clone(), rfc3339(third))]), "unchanged");

    // A completion, redelivered after a reopen, does not cancel the reopened task's reminder.
    task.completed = true;
    let completed = task.event(4, pb::task_event::Change::Completed(pb::TaskCompleted {}));
    assert_eq!(h.deliver(&completed).await, S::Success);
    task.completed = false;
    assert_eq!(h.deliver(&task.event(5, pb::task_event::Change::Reopened(pb::TaskReopened {}))).await, S::Success);
    assert_eq!(h.deliver(&completed).await, S::Success);
    assert!(h.job(&name).await.is_some());

    // Poison is dropped (to the dead-letter topic).
    let mut broken = task.event(6, created());
    broken.task = None;
    assert_eq!(h.deliver(&broken).await, S::Drop);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fires_for_a_changed_task_publishes_nothing_and_one_ahead_of_the_state_is_retried() {
    let mut h = start().await;
    let soon = whole_seconds(Utc::now()) + chrono::Duration::hours(1);
    let mut task = TaskSnap::new(vec![at("r", soon)]);
    assert_eq!(h.deliver(&task.event(1, created())).await, S::Success);
    let name = domain::job_name(&task.id, "r");
    let job = h.job(&name).await.unwrap();
    let fire = |data| JobEventRequest { name: name.clone(), data, method: format!("job/{name}"), ..Default::default() };

    // The task is completed but the cancelled job fires anyway (a race): nothing is published.
    task.completed = true;
    assert_eq!(h.deliver(&task.event(2, pb::task_event::Change::Completed(pb::TaskCompleted {}))).await, S::Success);
    h.callbacks.on_job_event(fire(job.data.clone())).await.unwrap();
    assert!(h.published().await.is_empty());

    // A job from an event whose state is not saved yet: UNAVAILABLE (retry), never NOT_FOUND.
    let mut ahead = reminder::jobs::decode(job.data.as_ref()).unwrap();
    ahead.revision = 99;
    let data = prost_types::Any {
        type_url: "type.googleapis.com/todo.reminder.v1.ReminderJob".into(),
        value: prost::Message::encode_to_vec(&ahead),
    };
    let err = h.callbacks.on_job_event(fire(Some(data))).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    // Undecodable job data can never succeed: acknowledged.
    h.callbacks.on_job_event(fire(None)).await.unwrap();
    assert!(h.published().await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_events_published_through_the_sidecar_schedule_reminders() {
    let h = start().await;
    let publisher = Sidecar::connect(&h.sidecar_addr, "pubsub", Duration::from_secs(5), None).await.unwrap();
    let soon = whole_seconds(Utc::now()) + chrono::Duration::seconds(1);
    let task = TaskSnap::new(vec![at("r", soon)]);
    let event = task.event(1, created());
    let outgoing = OutgoingEvent {
        id: event.event_id.clone(),
        event_type: "todo.task.created.v1".into(),
        source: "task".into(),
        subject: Some(format!("tasks/{}", task.id)),
        time: Utc::now(),
        traceparent: None,
        partition_key: task.user.clone(),
        data: json::to_raw(&event).unwrap(),
    };
    publisher.publish("task-events", &outgoing).await.unwrap();
    publisher.publish("task-events", &outgoing).await.unwrap();
    eventually(15, "the reminder fires through subscription, job and publish", || async {
        h.published().await.len() == 1
    })
    .await;
    assert_eq!(h.published().await[0]["id"], domain::event_id(&task.id, "r", soon).as_str());
    // The scheduler removes a one-shot job once its callback has returned,
    // which is after the publish seen above.
    eventually(5, "the fired job is gone", || async { h.jobs().await.is_empty() }).await;
    assert_eq!(h.published().await.len(), 1, "the duplicate event scheduled nothing more");
    h.stop().await;
}
