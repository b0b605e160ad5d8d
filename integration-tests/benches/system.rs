//! `make bench`: figures for the task API and the event path, printed, not
//! asserted (performance goals live here, not in timed tests).
//!
//! 1. The task API alone on PostgreSQL (every write also fills the outbox):
//!    `CreateTask`, `GetTask` and `ListTasks` from `BENCH_CONCURRENCY`
//!    concurrent callers over one HTTP/2 connection on loopback — throughput
//!    and latency percentiles.
//! 2. The event path through the real runtime: task service (PostgreSQL) →
//!    outbox relay → daprd → Kafka → daprd → a consumer. One change at a
//!    time, from the `CreateTask` call until a subscriber's handler has it
//!    and until it arrives on a sync gateway `Watch`; then a burst (how long
//!    until every change has arrived), and many users at once.
//!
//! Knobs: `BENCH_REQUESTS` (default 5000), `BENCH_CONCURRENCY` (32),
//! `BENCH_EVENTS` (300), `BENCH_BURST` (2000). The PostgreSQL server is
//! `TEST_DATABASE_URL`, Kafka and the scheduler `TEST_KAFKA_BROKERS` and
//! `TEST_DAPR_SCHEDULER` (`make bench` starts private ones, PostgreSQL with
//! fsync on).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use integration_tests::{as_user, mesh, subscriber, sync_gateway, task_service_on};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use shared::{
    proto::todo::{
        sync::v1::{WatchRequest, sync_service_client::SyncServiceClient, watch_response::Kind},
        task::v1::{self as pb, task_service_client::TaskServiceClient},
    },
    testing::Backend,
};
use tonic::transport::Channel;

/// Latencies of one measured operation.
struct Sample {
    name: &'static str,
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Sample {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied().unwrap_or_default()
    }

    fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<34} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.name,
            self.latencies.len(),
            self.latencies.len() as f64 / self.wall.as_secs_f64(),
            ms(self.percentile(50.0)),
            ms(self.percentile(95.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
        );
    }
}

fn header() {
    println!(
        "{:<34} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "operation", "n", "per sec", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
}

fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    Ok(shared::config::parse(name, default)?)
}

/// Runs `requests` calls of `call` from `concurrency` workers; `call` gets
/// the request's index.
async fn measure<F, Fut>(name: &'static str, requests: usize, concurrency: usize, call: F) -> anyhow::Result<Sample>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..requests).step_by(concurrency) {
                let t = Instant::now();
                call(i).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok(Sample { name, latencies, wall: started.elapsed() })
}

fn user(i: usize) -> String {
    format!("bench-user-{}", i % 16)
}

fn new_task(i: usize) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task {
            title: format!("task {i}"),
            priority: (i % 5) as i32,
            tags: vec![],
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

async fn api(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    let (service, _db) = task_service_on(Backend::Postgres, None).await;
    let client = TaskServiceClient::connect(format!("http://{}", service.addr)).await?;

    let names = std::sync::Arc::new(std::sync::Mutex::new(vec![String::new(); requests]));
    let (c, n) = (client.clone(), names.clone());
    let create = measure("CreateTask", requests, concurrency, move |i| {
        let (mut c, n) = (c.clone(), n.clone());
        async move {
            let task = c.create_task(as_user(&user(i), new_task(i))).await?.into_inner();
            if let Ok(mut names) = n.lock() {
                names[i] = task.name;
            }
            Ok(())
        }
    })
    .await?;

    let names: Vec<String> = names.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    let names = std::sync::Arc::new(names);
    let c = client.clone();
    let get = measure("GetTask", requests, concurrency, move |i| {
        let (mut c, names) = (c.clone(), names.clone());
        async move {
            let request = pb::GetTaskRequest { name: names[i].clone() };
            c.get_task(as_user(&user(i), request)).await?;
            Ok(())
        }
    })
    .await?;

    let c = client.clone();
    let list = measure("ListTasks (page 50, filtered)", requests / 5, concurrency, move |i| {
        let mut c = c.clone();
        async move {
            let request = pb::ListTasksRequest {
                page_size: 50,
                filter: "state = OPEN AND priority >= MEDIUM".into(),
                order_by: "priority desc, create_time".into(),
                ..Default::default()
            };
            c.list_tasks(as_user(&user(i), request)).await?;
            Ok(())
        }
    })
    .await?;

    header();
    for sample in [create, get, list] {
        sample.print();
    }
    service.stop().await;
    Ok(())
}

async fn next_change(
    stream: &mut tonic::Streaming<shared::proto::todo::sync::v1::WatchResponse>,
) -> anyhow::Result<i64> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .context("no change within 30 s")?
            .context("watch ended")??;
        if let Some(Kind::Change(change)) = message.kind {
            return Ok(change.revision);
        }
    }
}

/// 8 writers creating `count` tasks between them as fast as they can; task
/// `i` belongs to `owner(i)`.
fn spawn_writers(
    tasks: &TaskServiceClient<Channel>,
    count: usize,
    owner: impl Fn(usize) -> String + Copy + Send + 'static,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    (0..8)
        .map(|w| {
            let mut creator = tasks.clone();
            tokio::spawn(async move {
                for i in (w..count).step_by(8) {
                    creator.create_task(as_user(&owner(i), new_task(i))).await?;
                }
                Ok(())
            })
        })
        .collect()
}

/// Commit → a subscriber's handler, one change at a time.
async fn to_subscriber(
    tasks: &TaskServiceClient<Channel>,
    recorder: &subscriber::Recorder,
    events: usize,
) -> anyhow::Result<Sample> {
    let who = "bench-subscribed";
    let mut tasks = tasks.clone();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(events);
    for i in 0..events {
        let t = Instant::now();
        let created = tasks.create_task(as_user(who, new_task(i))).await?.into_inner();
        // Polling the recorder is the measurement here, not synchronisation.
        loop {
            let got = recorder.received();
            if got.iter().any(|r| r.event.user_id == who && r.event.revision == created.revision) {
                break;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(30), "revision {} not delivered", created.revision);
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(t.elapsed());
    }
    Ok(Sample { name: "create → subscriber, one at a time", latencies, wall: started.elapsed() })
}

async fn event_path(events: usize, burst: usize) -> anyhow::Result<()> {
    let mesh = mesh().await;
    let (mut task_sidecar, mut gateway_sidecar) = (mesh.sidecar("task"), mesh.sidecar("sync-gateway"));
    let mut sub_sidecar = mesh.sidecar("subscriber");
    let (task, db) = task_service_on(Backend::Postgres, Some(task_sidecar.endpoint())).await;
    let (gateway, _ws) = sync_gateway(&gateway_sidecar.endpoint(), burst + 16).await;
    let (sub, recorder) = subscriber::spawn(subscriber::accept_all()).await;
    gateway_sidecar.start(Some(gateway.addr)).await;
    sub_sidecar.start(Some(sub.addr)).await;
    task_sidecar.start(Some(task.addr)).await;

    let mut tasks: TaskServiceClient<Channel> = TaskServiceClient::connect(format!("http://{}", task.addr)).await?;
    let mut sync = SyncServiceClient::connect(format!("http://{}", gateway.addr)).await?;
    let who = "bench-watcher";
    let mut stream = sync.watch(as_user(who, WatchRequest { after_revision: 0 })).await?.into_inner();
    // Caught up (a new user has no history): from here on, changes are live.
    match stream.next().await {
        Some(Ok(m)) if matches!(m.kind, Some(Kind::CaughtUp(_))) => {}
        other => anyhow::bail!("expected caught-up first, got {other:?}"),
    }

    let started = Instant::now();
    let mut latencies = Vec::with_capacity(events);
    for i in 0..events {
        let t = Instant::now();
        let created = tasks.create_task(as_user(who, new_task(i))).await?.into_inner();
        let seen = next_change(&mut stream).await?;
        anyhow::ensure!(seen == created.revision, "change {seen} arrived for revision {}", created.revision);
        latencies.push(t.elapsed());
    }
    let one_at_a_time = Sample { name: "create → Watch, one at a time", latencies, wall: started.elapsed() };
    let to_subscriber = to_subscriber(&tasks, &recorder, events).await?;

    // Burst: 8 writers create `burst` tasks as fast as they can; the watch
    // sees them in revision order. Latency here is from the start of the
    // burst to each arrival, so the rate (per sec) is the figure to read.
    let started = Instant::now();
    let writers = spawn_writers(&tasks, burst, move |_| who.to_owned());
    let mut arrivals = Vec::with_capacity(burst);
    let mut last = 0;
    for _ in 0..burst {
        let revision = next_change(&mut stream).await?;
        anyhow::ensure!(revision > last, "revision {revision} after {last}: out of order or duplicate");
        last = revision;
        arrivals.push(started.elapsed());
    }
    for writer in writers {
        writer.await??;
    }
    let burst_sample = Sample { name: "burst of 8 writers → Watch", latencies: arrivals, wall: started.elapsed() };

    // Many users: the relay publishes different users' events concurrently.
    // Figure: events written and acknowledged by the sidecar per second.
    let started = Instant::now();
    let writers = spawn_writers(&tasks, burst, user);
    for writer in writers {
        writer.await??;
    }
    // Polling the outbox is the measurement here, not synchronisation.
    loop {
        let waiting = task::store::entities::outbox::Entity::find()
            .filter(task::store::entities::outbox::Column::PublishTime.is_null())
            .count(&db)
            .await?;
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();

    header();
    to_subscriber.print();
    one_at_a_time.print();
    burst_sample.print();
    println!(
        "16 users, 8 writers: {burst} events written and acknowledged by the sidecar in {:.2} s = {:.0} events/s",
        drained.as_secs_f64(),
        burst as f64 / drained.as_secs_f64()
    );
    drop(stream);
    for sidecar in [&mut task_sidecar, &mut gateway_sidecar, &mut sub_sidecar] {
        sidecar.stop().await;
    }
    gateway.stop().await;
    sub.stop().await;
    task.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let requests = knob("BENCH_REQUESTS", 5000)?;
    let concurrency = knob("BENCH_CONCURRENCY", 32)?.max(1);
    let events = knob("BENCH_EVENTS", 300)?;
    let burst = knob("BENCH_BURST", 2000)?;
    println!(
        "tasks platform benchmarks: PostgreSQL, loopback, {} cores visible",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("\n== task API, {concurrency} concurrent callers ==");
    api(requests, concurrency).await?;
    println!("\n== event path: outbox relay → daprd → Kafka → daprd → subscriber / sync gateway → Watch ==");
    event_path(events, burst).await?;
    Ok(())
}
