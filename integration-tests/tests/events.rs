#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Task changes travel API → outbox → relay → daprd → Kafka → daprd →
//! subscribers: with the right CloudEvent, without loss when the sidecar is
//! down or the relay dies, in per-user order, and with poison messages
//! dead-lettered.

use std::{collections::HashMap, sync::Arc, time::Duration};

use integration_tests::{
    Mesh, Running, Sidecar, as_user, eventually, mesh, subscriber, task_client, task_service, titled,
};
use sea_orm::{EntityTrait, QueryOrder};
use shared::{Error, proto::todo::task::v1 as pb};
use task::store::entities::outbox;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The task service with its sidecar (not started: a test starts it when
/// it wants events to flow) and a subscriber that accepts every event,
/// behind its started sidecar, in one mesh.
struct Pipeline {
    mesh: Mesh,
    task_sidecar: Sidecar,
    task: Running,
    db: sea_orm::DatabaseConnection,
    sub: Running,
    recorder: subscriber::Recorder,
    sub_sidecar: Sidecar,
}

impl Pipeline {
    async fn start() -> Self {
        let mesh = mesh().await;
        let task_sidecar = mesh.sidecar("task");
        let (task, db) = task_service(Some(task_sidecar.endpoint())).await;
        let (sub, recorder) = subscriber::spawn(subscriber::accept_all()).await;
        let mut sub_sidecar = mesh.sidecar("subscriber");
        sub_sidecar.start(Some(sub.addr)).await;
        Self { mesh, task_sidecar, task, db, sub, recorder, sub_sidecar }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_task_reaches_a_subscriber_as_a_cloud_event_carrying_its_trace() {
    shared::telemetry::init_for_tests();
    let Pipeline { mesh, mut task_sidecar, task, db, sub, recorder, mut sub_sidecar } = Pipeline::start().await;
    task_sidecar.start(Some(task.addr)).await;

    let mut request = as_user("alice", titled("Buy milk"));
    request.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01").parse().unwrap());
    let created = task_client(task.addr).await.create_task(request).await.unwrap().into_inner();

    let received = eventually("the event", Duration::from_secs(20), || async {
        let got = recorder.received();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let rows = outbox::Entity::find().all(&db).await.unwrap();
    assert_eq!(received.len(), 1);
    let event = &received[0];
    assert_eq!(event.id, rows[0].event_id, "CloudEvent id = outbox event id");
    assert_eq!(event.event_type, "todo.task.created.v1");
    assert_eq!(event.partition_key.as_deref(), Some("alice"), "partitioned by user");
    let records = mesh.records("task-events").await;
    assert_eq!(records.len(), 1, "one record on the topic");
    assert_eq!(records[0].key.as_deref(), Some("alice"), "the Kafka record key is the user");
    let traceparent = event.traceparent.clone().expect("a traceparent");
    assert_eq!(traceparent.split('-').nth(1), Some(TRACE_ID), "same trace as the request: {traceparent}");
    assert_eq!(event.event.task.as_ref().unwrap().name, created.name);
    assert_eq!(event.event.revision, created.revision);
    assert!(matches!(event.event.change, Some(pb::task_event::Change::Created(_))));
    // Marked sent only after the sidecar acknowledged it.
    eventually("the row marked sent", Duration::from_secs(5), || async {
        outbox::Entity::find().all(&db).await.unwrap()[0].publish_time.map(|_| ())
    })
    .await;

    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}

/// Users and their tasks' events as received, per user, in arrival order.
fn revisions_by_user(received: &[subscriber::Received]) -> HashMap<String, Vec<i64>> {
    let mut by_user: HashMap<String, Vec<i64>> = HashMap::new();
    for r in received {
        by_user.entry(r.event.user_id.clone()).or_default().push(r.event.revision);
    }
    by_user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sidecar_down_writes_succeed_and_every_event_arrives_once_in_order_after_it_returns() {
    let Pipeline { mesh, mut task_sidecar, task, db: _db, sub, recorder, mut sub_sidecar } = Pipeline::start().await;
    task_sidecar.start(Some(task.addr)).await;
    task_sidecar.kill().await;

    // 1 000 creates across 4 users while the task's sidecar is down: all succeed.
    let users = ["u1", "u2", "u3", "u4"];
    let client = task_client(task.addr).await;
    let creates = (0..1000).map(|i| {
        let mut client = client.clone();
        async move { client.create_task(as_user(users[i % 4], titled(&format!("t{i}")))).await.map(|_| ()) }
    });
    let results = futures::future::join_all(creates).await;
    assert!(results.iter().all(Result::is_ok), "every write succeeded with the sidecar down");

    task_sidecar.restart().await;
    let received = eventually("1000 events", Duration::from_secs(90), || async {
        let got = recorder.received();
        (got.len() >= 1000).then_some(got)
    })
    .await;
    let mut ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "every event once");
    assert_eq!(received.len(), 1000, "none twice to a consumer that acknowledged");
    for (user, revisions) in revisions_by_user(&received) {
        assert_eq!(revisions.len(), 250);
        assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{user}'s events arrive in revision order");
    }
    assert_eq!(mesh.records("task-events").await.len(), 1000, "published once each");
    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_batch_loses_nothing() {
    let mesh = mesh().await;
    let mut task_sidecar = mesh.sidecar("task");
    let endpoint = task_sidecar.endpoint();
    // The app without its own relay: this test runs relays by hand.
    let (task, db) = task_service(None).await;
    let (sub, recorder) = subscriber::spawn(subscriber::accept_all()).await;
    let mut sub_sidecar = mesh.sidecar("subscriber");
    sub_sidecar.start(Some(sub.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    let client = task_client(task.addr).await;
    let creates = (0..1000).map(|i| {
        let mut client = client.clone();
        async move { client.create_task(as_user("alice", titled(&format!("t{i}")))).await.unwrap() }
    });
    futures::future::join_all(creates).await;

    let relay = |stats: Arc<task::relay::RelayStats>| {
        let config = task::relay::RelayConfig {
            sidecar: endpoint.clone(),
            api_token: None,
            pubsub: "pubsub".into(),
            app_id: "task".into(),
            batch_size: 100,
            poll_interval: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            backlog_report_interval: Duration::from_secs(10),
        };
        task::relay::Relay::new(db.clone(), config, Arc::new(tokio::sync::Notify::new()), stats)
    };
    let first_stats = Arc::new(task::relay::RelayStats::default());
    let first = tokio::spawn(relay(first_stats.clone()).run(tokio_util::sync::CancellationToken::new()));
    // Kill it once something is under way but before it could finish.
    eventually("the first relay to start publishing", Duration::from_secs(30), || async {
        (recorder.received().len() >= 150).then_some(())
    })
    .await;
    first.abort();
    let _ = first.await;
    let delivered_before = recorder.received().len();
    assert!(delivered_before < 1000, "killed mid-way ({delivered_before} delivered)");

    let stop = tokio_util::sync::CancellationToken::new();
    let second = tokio::spawn(relay(Arc::default()).run(stop.clone()));
    let received = eventually("all 1000 events", Duration::from_secs(60), || async {
        let got = recorder.received();
        let mut ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        (ids.len() == 1000).then_some(got)
    })
    .await;
    // At-least-once: a killed batch may be published again, never lost.
    assert!(received.len() >= 1000);
    let pending = outbox::Entity::find().order_by_asc(outbox::Column::Id).all(&db).await.unwrap();
    eventually("every row marked sent", Duration::from_secs(10), || async {
        outbox::Entity::find().all(&db).await.unwrap().iter().all(|r| r.publish_time.is_some()).then_some(())
    })
    .await;
    assert_eq!(pending.len(), 1000);
    stop.cancel();
    second.await.unwrap();
    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_end_in_the_dead_letter_topic_while_later_events_keep_flowing() {
    let mesh = mesh().await;
    let mut task_sidecar = mesh.sidecar("task");
    let (task, _db) = task_service(Some(task_sidecar.endpoint())).await;
    // "poison": can never succeed (DROP); "stuck": always transient (RETRY).
    let script: subscriber::Script =
        Arc::new(|event: &pb::TaskEvent| match event.task.as_ref().map(|t| t.title.as_str()) {
            Some("poison") => Err(Error::malformed("cannot ever apply")),
            Some("stuck") => Err(Error::unavailable("a dependency", "always busy")),
            _ => Ok(()),
        });
    let (sub, recorder) = subscriber::spawn(script).await;
    let mut sub_sidecar = mesh.sidecar("subscriber");
    sub_sidecar.start(Some(sub.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    let mut client = task_client(task.addr).await;
    for (user, title) in [
        ("alice", "poison"),
        ("bob", "stuck"),
        ("alice", "after poison"),
        ("bob", "after stuck"),
        ("carol", "unrelated"),
    ] {
        client.create_task(as_user(user, titled(title))).await.unwrap();
    }
    let dead = eventually("both dead letters", Duration::from_secs(30), || async {
        let dead = recorder.dead_letters();
        (dead.len() >= 2).then_some(dead)
    })
    .await;
    let dead_titles: Vec<String> = dead.iter().map(|d| d.event.task.as_ref().unwrap().title.clone()).collect();
    assert!(dead_titles.contains(&"poison".to_owned()) && dead_titles.contains(&"stuck".to_owned()), "{dead_titles:?}");
    let stuck = dead.iter().find(|d| d.event.task.as_ref().unwrap().title == "stuck").unwrap();
    assert_eq!(
        recorder.attempts(&stuck.id),
        4,
        "tried once and retried 3 times (the test Resiliency), then dead-lettered"
    );
    let poison = dead.iter().find(|d| d.event.task.as_ref().unwrap().title == "poison").unwrap();
    assert_eq!(recorder.attempts(&poison.id), 1, "DROP is not retried");

    let flowed = eventually("later events", Duration::from_secs(30), || async {
        let got: Vec<String> =
            recorder.received().iter().map(|r| r.event.task.as_ref().unwrap().title.clone()).collect();
        (got.len() >= 3).then_some(got)
    })
    .await;
    for title in ["after poison", "after stuck", "unrelated"] {
        assert!(flowed.contains(&title.to_owned()), "{title} flowed: {flowed:?}");
    }
    let dead_letters = mesh.records("task-events-dlq").await;
    assert_eq!(dead_letters.len(), 2, "each dead letter once on the DLQ topic");
    assert!(dead_letters.iter().all(|r| r.key.is_some()), "dead letters keep their partition key");
    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}

/// The value of the `i64` or `f64` gauge `name` in the latest export.
fn gauge(exported: &[opentelemetry_sdk::metrics::data::ResourceMetrics], name: &str) -> Option<f64> {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let metric = exported
        .iter()
        .rev()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == name)?;
    match metric.data() {
        AggregatedMetrics::I64(MetricData::Gauge(g)) => g.data_points().last().map(|p| p.value() as f64),
        AggregatedMetrics::F64(MetricData::Gauge(g)) => g.data_points().last().map(|p| p.value()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_backlog_is_exported_as_metrics_while_the_sidecar_is_down() {
    use opentelemetry::metrics::MeterProvider as _;
    shared::telemetry::init_for_tests();
    // A sidecar address where nothing listens: every event waits in the outbox.
    let nobody = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let url = shared::testing::fresh_database(shared::testing::Backend::Sqlite).await.unwrap();
    let mut settings = task::Settings::for_tests(&url, integration_tests::SECRET);
    let mut dapr = task::config::DaprSettings::new(format!("http://{nobody}"));
    dapr.max_backoff = Duration::from_millis(100);
    dapr.backlog_report_interval = Duration::from_millis(50);
    settings.dapr = Some(dapr);
    let app = task::Application::build(settings).await.unwrap();
    let stats = app.relay_stats();
    let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
    let meters =
        opentelemetry_sdk::metrics::SdkMeterProvider::builder().with_periodic_exporter(exporter.clone()).build();
    task::relay::register_metrics(&meters.meter("task"), &stats);
    let task = integration_tests::Running::spawn(app.addr(), |stop| app.run_until(stop));

    let client = task_client(task.addr).await;
    for i in 0..3 {
        client.clone().create_task(as_user("alice", titled(&format!("waiting {i}")))).await.unwrap();
    }
    eventually("the relay counted three waiting events", Duration::from_secs(10), || async {
        (stats.backlog.load(std::sync::atomic::Ordering::Relaxed) == 3).then_some(())
    })
    .await;
    meters.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    assert_eq!(gauge(&exported, "tasks.outbox.backlog"), Some(3.0), "{exported:#?}");
    let age = gauge(&exported, "tasks.outbox.oldest_age").unwrap();
    assert!((0.0..60.0).contains(&age), "the oldest waits since the test began: {age}s");
    task.stop().await;
    meters.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_outbox_row_is_quarantined_never_sent_and_its_users_later_events_flow() {
    use sea_orm::{ActiveModelTrait, Set};
    let mesh = mesh().await;
    let mut task_sidecar = mesh.sidecar("task");
    let url = shared::testing::fresh_database(shared::testing::Backend::Sqlite).await.unwrap();
    let mut settings = task::Settings::for_tests(&url, integration_tests::SECRET);
    let mut dapr = task::config::DaprSettings::new(task_sidecar.endpoint());
    dapr.backlog_report_interval = Duration::from_millis(50);
    settings.dapr = Some(dapr);
    let app = task::Application::build(settings).await.unwrap();
    let (db, stats) = (app.db().clone(), app.relay_stats());
    let task = integration_tests::Running::spawn(app.addr(), |stop| app.run_until(stop));
    let (sub, recorder) = subscriber::spawn(subscriber::accept_all()).await;
    let mut sub_sidecar = mesh.sidecar("subscriber");
    sub_sidecar.start(Some(sub.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    let mut client = task_client(task.addr).await;
    client.create_task(as_user("alice", titled("before"))).await.unwrap();
    // A row whose stored event is not a TaskEvent (a bug, a bad restore).
    let corrupt = outbox::ActiveModel {
        event_id: Set(uuid::Uuid::now_v7().to_string()),
        event_type: Set("todo.task.updated.v1".into()),
        topic: Set("task-events".into()),
        user_id: Set("alice".into()),
        task_id: Set(uuid::Uuid::now_v7().to_string()),
        revision: Set(99),
        payload: Set(vec![0xff; 16]),
        create_time: Set(chrono::Utc::now().timestamp_micros()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    client.create_task(as_user("alice", titled("after"))).await.unwrap();

    let titles = eventually("alice's later event", Duration::from_secs(20), || async {
        let got: Vec<String> =
            recorder.received().iter().map(|r| r.event.task.as_ref().unwrap().title.clone()).collect();
        got.contains(&"after".to_owned()).then_some(got)
    })
    .await;
    assert_eq!(titles, ["before", "after"], "the corrupt row is not delivered; the chain goes on");
    let row = outbox::Entity::find_by_id(corrupt.id).one(&db).await.unwrap().unwrap();
    assert_eq!(row.publish_time, None, "never marked sent");
    assert!(row.quarantine_time.is_some(), "quarantined");
    assert!(row.quarantine_reason.as_deref().unwrap_or_default().contains("payload"), "{row:?}");
    eventually("the quarantine counted", Duration::from_secs(10), || async {
        (stats.quarantined.load(std::sync::atomic::Ordering::Relaxed) == 1).then_some(())
    })
    .await;
    assert_eq!(mesh.records("task-events").await.len(), 2, "two events on the topic, not three");
    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}

/// The relay sends the JSON stored with a row as it is, never decoding the
/// protobuf payload again; a row from before the JSON was kept is encoded
/// from its payload; stored JSON that is not JSON is quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_the_stored_json_as_it_is() {
    use prost::Message as _;
    use sea_orm::{ActiveModelTrait, Set};
    let Pipeline { mesh: _mesh, mut task_sidecar, task, db, sub, recorder, mut sub_sidecar } = Pipeline::start().await;

    // A change made through the API keeps its event's JSON in the row.
    task_client(task.addr).await.create_task(as_user("alice", titled("through the API"))).await.unwrap();
    let made = outbox::Entity::find().all(&db).await.unwrap();
    let stored: serde_json::Value = serde_json::from_str(made[0].data_json.as_deref().unwrap()).unwrap();
    assert_eq!(stored["task"]["title"], "through the API");

    let event = |title: &str, revision: i64| pb::TaskEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        user_id: "alice".into(),
        task_id: uuid::Uuid::now_v7().to_string(),
        revision,
        change: Some(pb::task_event::Change::Completed(pb::TaskCompleted {})),
        task: Some(pb::Task { title: title.into(), ..Default::default() }),
        ..Default::default()
    };
    let row = |event: &pb::TaskEvent, payload: Vec<u8>, data_json: Option<String>| outbox::ActiveModel {
        event_id: Set(event.event_id.clone()),
        event_type: Set("todo.task.completed.v1".into()),
        topic: Set("task-events".into()),
        user_id: Set("alice".into()),
        task_id: Set(event.task_id.clone()),
        revision: Set(event.revision),
        payload: Set(payload),
        data_json: Set(data_json),
        create_time: Set(chrono::Utc::now().timestamp_micros()),
        ..Default::default()
    };
    // Payload and JSON that disagree: what is published tells which was read.
    let (in_payload, in_json) = (event("from the payload", 2), event("from the stored JSON", 2));
    let json = shared::proto::json::to_raw(&in_json).unwrap().get().to_owned();
    row(&in_json, in_payload.encode_to_vec(), Some(json)).insert(&db).await.unwrap();
    let legacy = event("written before the JSON was kept", 3);
    row(&legacy, legacy.encode_to_vec(), None).insert(&db).await.unwrap();
    let broken = event("stored JSON that is not JSON", 4);
    let broken = row(&broken, broken.encode_to_vec(), Some("{not json".into())).insert(&db).await.unwrap();
    task_sidecar.start(Some(task.addr)).await;

    let titles = eventually("the three publishable rows", Duration::from_secs(20), || async {
        let got: Vec<String> =
            recorder.received().iter().map(|r| r.event.task.as_ref().unwrap().title.clone()).collect();
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert_eq!(titles, ["through the API", "from the stored JSON", "written before the JSON was kept"]);
    // The relay quarantines the broken row after it has sent the one before
    // it, so the subscriber can see all three before the mark is written.
    let broken = eventually("the broken row quarantined", Duration::from_secs(20), || async {
        let row = outbox::Entity::find_by_id(broken.id).one(&db).await.unwrap().unwrap();
        row.quarantine_time.is_some().then_some(row)
    })
    .await;
    assert!(broken.quarantine_reason.as_deref().unwrap_or_default().contains("data_json"), "{broken:?}");
    assert_eq!(broken.publish_time, None);
    task_sidecar.stop().await;
    sub_sidecar.stop().await;
    sub.stop().await;
    task.stop().await;
}
