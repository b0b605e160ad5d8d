#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The notification service over real gRPC, with real receivers: a webhook
//! receiver that verifies signatures, `aiosmtpd` behind daprd's `smtp`
//! binding, and daprd delivering events from Kafka (retries, dead-letter
//! topic) — on PostgreSQL and SQLite.

mod support;

use std::time::Duration;

use chrono::Utc;
use dapr::dapr::proto::runtime::v1::{
    TopicEventRequest, app_callback_client::AppCallbackClient, topic_event_response::TopicEventResponseStatus as S,
};
use notification::{Application, Settings, domain};
use rstest::rstest;
use shared::testing::Backend::{Postgres, Sqlite};
use shared::{
    dapr::{OutgoingEvent, Sidecar},
    proto::{
        json,
        todo::{
            notification::v1::{self as pb, notification_service_client::NotificationServiceClient},
            reminder::v1 as rpb,
            task::v1 as tpb,
        },
    },
    testing::{
        Backend, fresh_database,
        mesh::{self, Mesh},
    },
};
use support::{SmtpServer, WebhookReceiver, eventually};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, transport::Channel};

const JWT_SECRET: &str = "notification-test-secret";
const HOOK_SECRET: &str = "whsec-0123456789abcdef";

struct Harness {
    mesh: Mesh,
    sidecar: mesh::Sidecar,
    publisher: Sidecar,
    callbacks: AppCallbackClient<Channel>,
    api: NotificationServiceClient<Channel>,
    smtp: SmtpServer,
    hook: WebhookReceiver,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(backend: Backend) -> Harness {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    // The `email` binding reads the SMTP server from the secret store.
    let mesh = Mesh::builder()
        .secret("tasks-smtp", "host", "127.0.0.1")
        .secret("tasks-smtp", "port", &smtp.port.to_string())
        .build()
        .await;
    let mut daprd = mesh.sidecar("notification");
    let sidecar = daprd.endpoint();
    let url = fresh_database(backend).await.unwrap();
    let app = Application::build(Settings::for_tests(&url, &sidecar, JWT_SECRET)).await.unwrap();
    let app_addr = app.addr();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until(stop.clone()));
    daprd.start(Some(app_addr)).await;
    let publisher = Sidecar::connect(&sidecar, "pubsub", Duration::from_secs(5), None).await.unwrap();
    let channel = Channel::from_shared(format!("http://{app_addr}")).unwrap().connect().await.unwrap();
    Harness {
        mesh,
        sidecar: daprd,
        publisher,
        callbacks: AppCallbackClient::new(channel.clone()),
        api: NotificationServiceClient::new(channel),
        smtp,
        hook,
        stop,
        server,
    }
}

fn as_user<T>(user: &str, message: T) -> Request<T> {
    let token = shared::auth::issue_hs256_token(JWT_SECRET, user, Duration::from_secs(600)).unwrap();
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn reminder(user: &str, title: &str) -> rpb::ReminderDue {
    let task_id = uuid::Uuid::new_v4().to_string();
    rpb::ReminderDue {
        event_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        task: format!("tasks/{task_id}"),
        task_title: title.into(),
        reminder_id: "r1".into(),
        fire_time: Some(prost_types::Timestamp { seconds: Utc::now().timestamp(), nanos: 0 }),
        task_id,
        ..Default::default()
    }
}

fn task_event(user: &str, change: tpb::task_event::Change) -> tpb::TaskEvent {
    let task_id = uuid::Uuid::new_v4().to_string();
    tpb::TaskEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        task_id: task_id.clone(),
        revision: 1,
        task: Some(tpb::Task { name: format!("tasks/{task_id}"), title: "Write report".into(), ..Default::default() }),
        change: Some(change),
        ..Default::default()
    }
}

fn all_channels(address: &str, hook_url: &str) -> pb::Preferences {
    pb::Preferences {
        webhook: Some(pb::WebhookChannel { url: hook_url.into(), secret: HOOK_SECRET.into(), has_secret: false }),
        email: Some(pb::EmailChannel { address: address.into() }),
        event_types: vec![],
        update_time: None,
    }
}

impl Harness {
    async fn set(&mut self, user: &str, preferences: pb::Preferences) -> Result<pb::Preferences, tonic::Status> {
        let request = pb::SetPreferencesRequest { preferences: Some(preferences) };
        self.api.set_preferences(as_user(user, request)).await.map(|r| r.into_inner())
    }

    async fn get(&mut self, user: &str) -> pb::Preferences {
        self.api.get_preferences(as_user(user, pb::GetPreferencesRequest {})).await.unwrap().into_inner()
    }

    async fn deliveries(&self, user: &str, event_id: &str) -> Vec<pb::Delivery> {
        let request = pb::ListDeliveriesRequest { event_id: event_id.into(), ..Default::default() };
        self.api.clone().list_deliveries(as_user(user, request)).await.unwrap().into_inner().deliveries
    }

    async fn delivery(&self, user: &str, event_id: &str, channel: pb::Channel) -> Option<pb::Delivery> {
        self.deliveries(user, event_id).await.into_iter().find(|d| d.channel == channel as i32)
    }

    /// Publishes through the sidecar, as the reminder service would.
    async fn publish_reminder(&self, due: &rpb::ReminderDue) {
        let event = OutgoingEvent {
            id: due.event_id.clone(),
            event_type: "todo.reminder.due.v1".into(),
            source: "reminder".into(),
            subject: Some(due.task.clone()),
            time: Utc::now(),
            traceparent: None,
            partition_key: due.user_id.clone(),
            data: json::to_raw(due).unwrap(),
        };
        self.publisher.publish("reminders", &event).await.unwrap();
    }

    /// Hands an event to the AppCallback directly, as daprd would, and returns the answer.
    async fn deliver(&mut self, topic: &str, event_type: &str, id: &str, data: serde_json::Value) -> S {
        let request = TopicEventRequest {
            id: id.into(),
            source: "test".into(),
            r#type: event_type.into(),
            spec_version: "1.0".into(),
            data_content_type: "application/json".into(),
            data: serde_json::to_vec(&data).unwrap(),
            topic: topic.into(),
            pubsub_name: "pubsub".into(),
            path: topic.into(),
            extensions: None,
        };
        S::try_from(self.callbacks.on_topic_event(request).await.unwrap().into_inner().status).unwrap()
    }

    /// The events on the dead-letter topic, read from Kafka.
    async fn dead_letters(&self) -> Vec<serde_json::Value> {
        self.mesh.cloud_events("notifications-dlq").await
    }

    async fn stop(mut self) {
        self.sidecar.stop().await;
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

fn outcomes(delivery: &pb::Delivery) -> Vec<(pb::attempt::Outcome, i32)> {
    delivery.attempts.iter().map(|a| (a.outcome(), a.http_status)).collect()
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_is_signed_to_the_webhook_and_mailed_once(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut h = start(backend).await;
    let url = h.hook.url.clone();
    h.set("alice", all_channels("alice@example.com", &url)).await.unwrap();
    let due = reminder("alice", "Buy <milk> & eggs");
    h.publish_reminder(&due).await;
    eventually(20, "the webhook and the mail arrive", || async {
        h.hook.received().len() == 1 && h.smtp.messages().len() == 1
    })
    .await;

    let request = &h.hook.received()[0];
    assert!(request.signature_valid, "the receiver verifies the signature: {:?}", request.headers);
    let delivery_id = domain::delivery_id(&due.event_id, domain::Channel::Webhook);
    assert_eq!(request.headers["x-todo-delivery-id"], delivery_id);
    assert_eq!(request.headers["content-type"], "application/json");
    let body = request.json();
    assert_eq!(body["eventId"], due.event_id.as_str());
    assert_eq!(body["type"], "todo.reminder.due.v1");
    assert_eq!(body["data"]["taskTitle"], "Buy <milk> & eggs");

    let mail = &h.smtp.messages()[0];
    assert!(mail.starts_with("X-Envelope-To: alice@example.com"), "{mail}");
    assert!(mail.contains("Subject: Reminder: Buy <milk> & eggs"), "{mail}");
    assert!(mail.contains("From: tasks@example.invalid"), "the sender of the shipped binding: {mail}");
    assert!(mail.contains("Buy &lt;milk&gt; &amp; eggs"), "the title is escaped in the HTML body: {mail}");

    // The same event again — redelivered by the broker and handed over directly — sends nothing more.
    h.publish_reminder(&due).await;
    let data = json::to_value(&due).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &due.event_id, data).await, S::Success);
    // A later reminder of the same user (same partition, so it is delivered after the duplicate).
    let next = reminder("alice", "Call mum");
    h.publish_reminder(&next).await;
    eventually(20, "the next reminder arrives", || async {
        h.hook.received().len() == 2 && h.smtp.messages().len() == 2
    })
    .await;
    assert_eq!(h.hook.received()[1].json()["eventId"], next.event_id.as_str(), "the duplicate sent nothing");

    let deliveries = h.deliveries("alice", &due.event_id).await;
    assert_eq!(deliveries.len(), 3, "log, webhook and email: {deliveries:?}");
    for d in &deliveries {
        assert_eq!(d.state(), pb::delivery::State::Delivered, "{d:?}");
        assert_eq!(d.attempts.len(), 1, "{d:?}");
    }
    let webhook = h.delivery("alice", &due.event_id, pb::Channel::Webhook).await.unwrap();
    assert_eq!(webhook.name, format!("deliveries/{delivery_id}"));
    assert_eq!(webhook.destination, url);
    assert_eq!(outcomes(&webhook), [(pb::attempt::Outcome::Succeeded, 200)]);
    assert_eq!(webhook.task, due.task);

    // All of Alice's deliveries, newest first, two per page.
    let mut api = h.api.clone();
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListDeliveriesRequest { page_size: 2, page_token: token.clone(), ..Default::default() };
        let page = api.list_deliveries(as_user("alice", request)).await.unwrap().into_inner();
        names.extend(page.deliveries.into_iter().map(|d| d.event_id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names.len(), 6);
    assert_eq!(names[0], next.event_id, "newest first");
    assert!(h.dead_letters().await.is_empty());
    h.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_500_is_retried_and_the_later_success_recorded(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut h = start(backend).await;
    let url = h.hook.url.clone();
    let mut prefs = all_channels("", &url);
    prefs.email = None;
    h.set("alice", prefs).await.unwrap();
    h.hook.answer(&[500]);
    let due = reminder("alice", "Pay rent");
    h.publish_reminder(&due).await;
    eventually(20, "the retried webhook is delivered", || async {
        h.delivery("alice", &due.event_id, pb::Channel::Webhook)
            .await
            .is_some_and(|d| d.state() == pb::delivery::State::Delivered)
    })
    .await;
    let webhook = h.delivery("alice", &due.event_id, pb::Channel::Webhook).await.unwrap();
    assert_eq!(
        outcomes(&webhook),
        [(pb::attempt::Outcome::TransientFailure, 500), (pb::attempt::Outcome::Succeeded, 200)]
    );
    assert!(webhook.attempts[0].error.contains("500"), "{webhook:?}");
    let received = h.hook.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.signature_valid));
    assert_eq!((received[0].status, received[1].status), (500, 200));
    assert_eq!(received[0].headers["x-todo-delivery-id"], received[1].headers["x-todo-delivery-id"]);
    let log = h.delivery("alice", &due.event_id, pb::Channel::Log).await.unwrap();
    assert_eq!(log.attempts.len(), 1, "the log channel was not sent again on the retry");

    // Handed over directly, the answer is RETRY while the webhook fails.
    h.hook.answer(&[503]);
    let again = reminder("alice", "Water plants");
    let data = json::to_value(&again).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &again.event_id, data.clone()).await, S::Retry);
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &again.event_id, data).await, S::Success);
    assert!(h.dead_letters().await.is_empty());
    h.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_400_is_dead_lettered_with_the_attempt_recorded(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut h = start(backend).await;
    let url = h.hook.url.clone();
    let mut prefs = all_channels("", &url);
    prefs.email = None;
    h.set("alice", prefs).await.unwrap();
    h.hook.answer(&[400]);
    let due = reminder("alice", "Renew passport");
    h.publish_reminder(&due).await;
    eventually(20, "the event reaches the dead-letter topic", || async { !h.dead_letters().await.is_empty() }).await;
    assert_eq!(h.dead_letters().await[0]["id"], due.event_id.as_str());
    let webhook = h.delivery("alice", &due.event_id, pb::Channel::Webhook).await.unwrap();
    assert_eq!(webhook.state(), pb::delivery::State::Failed);
    assert_eq!(outcomes(&webhook), [(pb::attempt::Outcome::PermanentFailure, 400)]);
    assert_eq!(h.hook.received().len(), 1, "a permanent failure is not retried");

    // Handed over directly: DROP; once failed for good, a redelivery sends nothing.
    h.hook.answer(&[404]);
    let other = reminder("alice", "Book dentist");
    let data = json::to_value(&other).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &other.event_id, data.clone()).await, S::Drop);
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &other.event_id, data).await, S::Success);
    assert_eq!(h.hook.received().len(), 2);
    // Undecodable events are poison.
    let garbage = serde_json::json!("not a reminder");
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", "x", garbage).await, S::Drop);
    h.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_failures_are_retried_or_dead_lettered(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut h = start(backend).await;
    h.set(
        "alice",
        pb::Preferences {
            email: Some(pb::EmailChannel { address: "reject@example.com".into() }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let due = reminder("alice", "Rejected");
    let data = json::to_value(&due).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &due.event_id, data).await, S::Drop, "SMTP 550");
    let email = h.delivery("alice", &due.event_id, pb::Channel::Email).await.unwrap();
    assert_eq!(email.state(), pb::delivery::State::Failed);
    assert!(email.attempts[0].error.contains("550"), "{email:?}");

    h.set(
        "bob",
        pb::Preferences { email: Some(pb::EmailChannel { address: "later@example.com".into() }), ..Default::default() },
    )
    .await
    .unwrap();
    let due = reminder("bob", "Deferred");
    let data = json::to_value(&due).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &due.event_id, data).await, S::Retry, "SMTP 451");
    let email = h.delivery("bob", &due.event_id, pb::Channel::Email).await.unwrap();
    assert_eq!(email.state(), pb::delivery::State::Retrying);
    assert!(h.smtp.messages().is_empty());
    h.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_events_are_delivered_only_when_opted_into(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut h = start(backend).await;
    let url = h.hook.url.clone();
    let mut prefs = all_channels("alice@example.com", &url);
    prefs.event_types = vec!["todo.task.completed.v1".into()];
    h.set("alice", prefs).await.unwrap();

    let created = task_event("alice", tpb::task_event::Change::Created(tpb::TaskCreated::default()));
    let data = json::to_value(&created).unwrap();
    assert_eq!(h.deliver("task-events", "todo.task.created.v1", &created.event_id, data).await, S::Success);
    assert!(h.deliveries("alice", &created.event_id).await.is_empty(), "not opted into");

    let completed = task_event("alice", tpb::task_event::Change::Completed(tpb::TaskCompleted {}));
    let data = json::to_value(&completed).unwrap();
    assert_eq!(h.deliver("task-events", "todo.task.completed.v1", &completed.event_id, data).await, S::Success);
    assert_eq!(h.hook.received().len(), 1);
    assert_eq!(h.hook.received()[0].json()["type"], "todo.task.completed.v1");
    eventually(10, "the mail arrives", || async { h.smtp.messages().len() == 1 }).await;
    assert!(h.smtp.messages()[0].contains("Subject: Task completed: Write report"));

    // Bob never opted in: his completion is not delivered anywhere.
    let bobs = task_event("bob", tpb::task_event::Change::Completed(tpb::TaskCompleted {}));
    let data = json::to_value(&bobs).unwrap();
    assert_eq!(h.deliver("task-events", "todo.task.completed.v1", &bobs.event_id, data).await, S::Success);
    assert!(h.deliveries("bob", &bobs.event_id).await.is_empty());
    assert_eq!(h.hook.received().len(), 1);
    h.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_and_deliveries_are_private_and_the_secret_is_never_returned(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let mut h = start(backend).await;
    let url = h.hook.url.clone();
    let saved = h.set("alice", all_channels("alice@example.com", &url)).await.unwrap();
    assert!(saved.webhook.as_ref().unwrap().secret.is_empty() && saved.webhook.as_ref().unwrap().has_secret);
    let read = h.get("alice").await;
    let webhook = read.webhook.clone().unwrap();
    assert_eq!((webhook.url.as_str(), webhook.secret.as_str(), webhook.has_secret), (url.as_str(), "", true));
    assert_eq!(read.email.as_ref().unwrap().address, "alice@example.com");
    assert!(read.update_time.is_some());

    // Bob sees defaults, not Alice's settings.
    let bobs = h.get("bob").await;
    assert!(bobs.webhook.is_none() && bobs.email.is_none() && bobs.event_types.is_empty());

    // Sending the preferences back without the secret keeps it: deliveries stay verifiable.
    let mut round_trip = read.clone();
    round_trip.email = None;
    h.set("alice", round_trip).await.unwrap();
    let due = reminder("alice", "Signed with the kept secret");
    let data = json::to_value(&due).unwrap();
    assert_eq!(h.deliver("reminders", "todo.reminder.due.v1", &due.event_id, data).await, S::Success);
    assert!(h.hook.received()[0].signature_valid);

    // Alice's deliveries are hers alone; her page token is useless to Bob.
    assert!(h.deliveries("bob", &due.event_id).await.is_empty());
    let mut api = h.api.clone();
    let page = api
        .list_deliveries(as_user("alice", pb::ListDeliveriesRequest { page_size: 1, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    let err = api
        .list_deliveries(as_user(
            "bob",
            pb::ListDeliveriesRequest { page_size: 1, page_token: page.next_page_token, ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = api.get_preferences(Request::new(pb::GetPreferencesRequest {})).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // Bad input is refused, field by field, and changes nothing.
    let mut bad = all_channels("not an address", "ftp://example.com");
    bad.event_types = vec!["todo.task.exploded.v1".into()];
    let err = h.set("alice", bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        shared::status::violated_fields(&err),
        ["preferences.webhook.url", "preferences.email.address", "preferences.event_types[0]"]
    );
    let mut no_secret = all_channels("bob@example.com", &url);
    no_secret.webhook.as_mut().unwrap().secret.clear();
    let err = h.set("bob", no_secret).await.unwrap_err();
    assert_eq!(shared::status::violated_fields(&err), ["preferences.webhook.secret"]);
    assert!(h.get("bob").await.webhook.is_none());
    assert_eq!(h.get("alice").await.webhook.unwrap().url, url);
    h.stop().await;
}
