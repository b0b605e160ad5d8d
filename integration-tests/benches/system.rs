//! `make bench`: figures for the task API and the event path, printed, not
//! asserted (performance goals live here, not in timed tests).
//!
//! 1. The task API alone on PostgreSQL (every write also fills the outbox),
//!    each RPC beside what PostgreSQL itself does for it (`limits`): the
//!    statements the service sends for that RPC, from a driver in the bench,
//!    and the same work as one statement. Same server, data, callers and
//!    concurrency (`BENCH_CONCURRENCY`: calls over one HTTP/2 connection to
//!    the service and its pool; the driver has a connection per caller).
//!    RPCs: CreateTask for 8 users and for 1 user, GetTask, ListTasks (a
//!    page of 50, with and without a filter), UpdateTask, CompleteTask. The
//!    service and the driver take turns for `BENCH_ROUNDS` rounds, each on
//!    a fresh database; each figure is the median of its rounds.
//! 2. The event path through the real runtime: task service (PostgreSQL) →
//!    outbox relay → daprd → Kafka → daprd → a consumer. One change at a
//!    time, from the `CreateTask` call until a subscriber's handler has it
//!    and until it arrives on a sync gateway `Watch`; then a burst (how long
//!    until every change has arrived), and many users at once.
//!
//! It ends with one line per figure, `BENCH <name> ours=<v> limit=<v>
//! ratio=<ours/limit>` (calls per second against the better limit; latency
//! figures carry no limit).
//!
//! Knobs: `BENCH_REQUESTS` (default 5000), `BENCH_CONCURRENCY` (32),
//! `BENCH_ROUNDS` (3: the API figures are medians of rounds),
//! `BENCH_EVENTS` (300), `BENCH_BURST` (2000), `BENCH_SECTIONS` (which parts
//! run: `api,start,memory,history,events`, all by default), `BENCH_TELEMETRY`
//! (`off`: the services neither trace nor log). The PostgreSQL server is
//! `TEST_DATABASE_URL`, Kafka and the scheduler `TEST_KAFKA_BROKERS` and
//! `TEST_DAPR_SCHEDULER` (`make bench` starts private ones, PostgreSQL with
//! fsync on).

#[path = "system/direct.rs"]
mod direct;
#[path = "system/h2load.rs"]
mod h2load;
#[path = "system/limits.rs"]
mod limits;

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use integration_tests::{mesh, subscriber, sync_gateway, task_service_on};
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
#[derive(Clone)]
struct Sample {
    name: String,
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

    /// Calls per second.
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<34} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.name,
            self.latencies.len(),
            self.rate(),
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
async fn measure<F, Fut>(
    name: impl Into<String>,
    requests: usize,
    concurrency: usize,
    call: F,
) -> anyhow::Result<Sample>
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
    Ok(Sample { name: name.into(), latencies, wall: started.elapsed() })
}

/// How many times GetTask (ours and its limits alike) reads each created
/// task: one pass over `BENCH_REQUESTS` tasks is over in about a third of a
/// second, too short for a steady rate on a shared two-core machine.
const GET_PASSES: usize = 4;

/// `message` as `user`'s call, with that user's token issued once, as a real
/// client keeps its token: signing one per call would charge the client's
/// JWT work to the service (they share this process and its two cores).
fn as_user<T>(user: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(credentials) = credentials(user) {
        request.metadata_mut().insert("authorization", credentials.metadata);
    }
    request
}

/// A user's `authorization` header, in the two forms the bench's clients
/// send it.
#[derive(Clone)]
struct Credentials {
    metadata: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    header: http::HeaderValue,
}

/// `user`'s credentials, signed the first time they are asked for.
fn credentials(user: &str) -> Option<Credentials> {
    type Known = std::collections::HashMap<String, Credentials>;
    static KNOWN: std::sync::LazyLock<RwLock<Known>> = std::sync::LazyLock::new(RwLock::default);
    if let Some(known) = KNOWN.read().ok().and_then(|known| known.get(user).cloned()) {
        return Some(known);
    }
    // Valid for longer than the longest `make bench`.
    let token = shared::auth::issue_hs256_token(integration_tests::SECRET, user, Duration::from_secs(6 * 3600)).ok()?;
    let value = format!("Bearer {token}");
    let credentials = Credentials { metadata: value.parse().ok()?, header: value.parse().ok()? };
    KNOWN.write().ok()?.insert(user.to_owned(), credentials.clone());
    Some(credentials)
}

/// The `authorization` header the bench sends for `user`.
fn authorization(user: &str) -> String {
    bearer(user).to_str().unwrap_or_default().to_owned()
}

/// [`authorization`] as a header value.
fn bearer(user: &str) -> http::HeaderValue {
    credentials(user).map_or(http::HeaderValue::from_static(""), |c| c.header)
}

fn user(i: usize) -> String {
    format!("bench-user-{}", i % 16)
}

fn user8(i: usize) -> String {
    format!("bench-user-{}", i % 8)
}

fn one_user(_: usize) -> String {
    "bench-user-solo".to_owned()
}

fn new_task(i: usize) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task {
            title: format!("task {i}"),
            priority: (i % 5) as i32 + 1,
            tags: vec![],
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

fn page_of_50(filter: &str, order_by: &str) -> pb::ListTasksRequest {
    pb::ListTasksRequest { page_size: 50, filter: filter.into(), order_by: order_by.into(), ..Default::default() }
}

/// One RPC beside its limits: prints the three rows and keeps the figure
/// for the closing `BENCH` line (ours / the better limit, by throughput).
struct Compared {
    name: &'static str,
    ours: Sample,
    limits: Vec<Sample>,
}

impl Compared {
    fn print(&self) {
        self.ours.print();
        for limit in &self.limits {
            limit.print();
        }
    }

    fn bench_line(&self) -> String {
        let ours = self.ours.rate();
        let limit = self.limits.iter().map(Sample::rate).fold(0.0, f64::max);
        format!("BENCH {} ours={ours:.0} limit={limit:.0} ratio={:.2}", self.name, ours / limit.max(f64::MIN_POSITIVE))
    }
}

/// CreateTask for `users` users, then the same statements and the one-trip
/// form for the same users.
async fn create(
    client: &TaskServiceClient<direct::Direct>,
    pool: &limits::Connections,
    name: &'static str,
    requests: usize,
    concurrency: usize,
    users: fn(usize) -> String,
) -> anyhow::Result<(Compared, Vec<(String, String)>)> {
    let created = Arc::new(Mutex::new(vec![(String::new(), String::new()); requests]));
    let (c, made) = (client.clone(), created.clone());
    let ours = measure(name, requests, concurrency, move |i| {
        let (mut c, made) = (c.clone(), made.clone());
        async move {
            let task = c.create_task(as_user(&users(i), new_task(i))).await?.into_inner();
            if let Ok(mut made) = made.lock() {
                made[i] = (users(i), task.name.trim_start_matches("tasks/").to_owned());
            }
            Ok(())
        }
    })
    .await?;
    let limits = vec![
        limits::create_as_sent(pool.clone(), requests, concurrency, users).await?,
        limits::create_one_trip(pool.clone(), requests, concurrency, users).await?,
    ];
    let created = created.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    Ok((Compared { name, ours, limits }, created))
}

/// `rounds` rounds of every RPC beside its limits, each on a fresh service
/// and database (so every round sees the same data); each figure is the
/// median of its rounds. Alternating the service and PostgreSQL alone,
/// round after round, spreads what else the machine is doing over both
/// sides of each ratio.
async fn api(requests: usize, concurrency: usize, rounds: usize) -> anyhow::Result<Vec<String>> {
    let mut rounds_run = Vec::new();
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        let (service, db) = task_service_on(Backend::Postgres, None).await;
        let options = db.get_postgres_connection_pool().connect_options();
        let pool = limits::Connections::open(&options, concurrency).await?;
        let (connection, origin) = direct::Direct::connect(service.addr).await?;
        let unread = direct::Unread::connect(service.addr).await?;
        let client = TaskServiceClient::with_origin(connection, origin);
        let generators = Generators { client, unread, addr: service.addr };
        rounds_run.push(api_round(&generators, &pool, requests, concurrency).await?);
        service.stop().await;
    }
    let compared = medians(rounds_run);
    header();
    for c in &compared {
        c.print();
    }
    Ok(compared.iter().map(Compared::bench_line).collect())
}

/// Figure by figure, the round with the median rate.
fn medians(rounds: Vec<Vec<Compared>>) -> Vec<Compared> {
    fn median(mut samples: Vec<Sample>) -> Option<Sample> {
        samples.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let middle = samples.len() / 2;
        samples.into_iter().nth(middle)
    }
    let mut rounds = rounds.into_iter().map(Vec::into_iter).collect::<Vec<_>>();
    let mut medians = Vec::new();
    loop {
        let figures: Vec<Compared> = rounds.iter_mut().filter_map(Iterator::next).collect();
        let Some(name) = figures.first().map(|c| c.name) else { return medians };
        let mut ours = Vec::new();
        let mut limits: Vec<Vec<Sample>> = Vec::new();
        for figure in figures {
            ours.push(figure.ours);
            for (k, limit) in figure.limits.into_iter().enumerate() {
                if limits.len() <= k {
                    limits.push(Vec::new());
                }
                limits[k].push(limit);
            }
        }
        let (Some(ours), limits) = (median(ours), limits.into_iter().filter_map(median).collect()) else {
            return medians;
        };
        medians.push(Compared { name, ours, limits });
    }
}

/// The ways the bench calls the service under test.
struct Generators {
    /// tonic's client, for the calls whose answers the bench reads.
    client: TaskServiceClient<direct::Direct>,
    /// The measured calls, answers not decoded.
    unread: direct::Unread,
    /// Where it listens, for `h2load`.
    addr: std::net::SocketAddr,
}

const GET_TASK: &str = "/todo.task.v1.TaskService/GetTask";
const LIST_TASKS: &str = "/todo.task.v1.TaskService/ListTasks";
const UPDATE_TASK: &str = "/todo.task.v1.TaskService/UpdateTask";
const COMPLETE_TASK: &str = "/todo.task.v1.TaskService/CompleteTask";

/// Every RPC once, beside its limits.
async fn api_round(
    generators: &Generators,
    pool: &limits::Connections,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Compared>> {
    let mut compared = Vec::new();
    let client = &generators.client;

    let (create8, targets) = create(client, pool, "CreateTask_8_users", requests, concurrency, user8).await?;
    compared.push(create8);
    let (create1, _) = create(client, pool, "CreateTask_1_user", requests / 5, concurrency, one_user).await?;
    compared.push(create1);
    limits::analyze(pool).await?;

    let targets = Arc::new(targets);
    let (c, t) = (generators.unread.clone(), targets.clone());
    let ours = measure("GetTask", targets.len() * GET_PASSES, concurrency, move |i| {
        let (c, t) = (c.clone(), t.clone());
        async move {
            let (user, id) = &t[i % t.len()];
            c.call(GET_TASK, bearer(user), &pb::GetTaskRequest { name: format!("tasks/{id}") }).await
        }
    })
    .await?;
    let limits = limits::get(pool.clone(), targets.clone(), concurrency).await?.into();
    compared.push(Compared { name: "GetTask", ours, limits });
    // No h2load cross-check here: it posts one body, so it would read one
    // task over and over, and the coalesced reads fold repeated ids into
    // one probe; one h2load per task (32 processes, 32 connections) costs
    // more than the service it measures.

    for (name, h2load_name, filter, order_by, condition, order) in [
        ("ListTasks_50", "ListTasks_50_h2load", "", "", "TRUE", "create_time ASC"),
        (
            "ListTasks_50_filtered",
            "ListTasks_50_filtered_h2load",
            "state = OPEN AND priority >= MEDIUM",
            "priority desc, create_time",
            "state = 1 AND priority >= 3",
            "priority DESC, create_time ASC",
        ),
    ] {
        let c = generators.unread.clone();
        let ours = measure(name, requests / 5, concurrency, move |i| {
            let c = c.clone();
            async move { c.call(LIST_TASKS, bearer(&user8(i)), &page_of_50(filter, order_by)).await }
        })
        .await?;
        let limits: Vec<Sample> =
            limits::list(pool.clone(), requests / 5, concurrency, user8, condition, order).await?.into();
        compared.push(Compared { name, ours, limits: limits.clone() });
        if h2load::available() {
            // A cross-check from a load generator that is not ours: one
            // user's page over and over, against the same limits.
            let request = page_of_50(filter, order_by);
            let answer = client.clone().list_tasks(as_user(&user8(0), request.clone())).await?.into_inner();
            let auth = authorization(&user8(0));
            let call = h2load::Call { addr: generators.addr, method: LIST_TASKS, authorization: auth };
            let n = requests / 5;
            let ours =
                tokio::task::spawn_blocking(move || call.run(h2load_name, &request, &answer, n, concurrency)).await??;
            compared.push(Compared { name: h2load_name, ours, limits });
        } else {
            println!("{h2load_name}: no h2load on the PATH (scripts/install-tools.sh h2load)");
        }
    }

    let (c, t) = (generators.unread.clone(), targets.clone());
    let ours = measure("UpdateTask", targets.len(), concurrency, move |i| {
        let (c, t) = (c.clone(), t.clone());
        async move {
            let (user, id) = &t[i];
            let task = pb::Task { name: format!("tasks/{id}"), title: format!("renamed {i}"), ..Default::default() };
            let mask = prost_types::FieldMask { paths: vec!["title".into()] };
            let request = pb::UpdateTaskRequest { task: Some(task), update_mask: Some(mask), etag: String::new() };
            c.call(UPDATE_TASK, bearer(user), &request).await
        }
    })
    .await?;
    let [as_sent, one_trip] = limits::update(pool.clone(), targets.clone(), concurrency).await?;
    compared.push(Compared { name: "UpdateTask", ours, limits: vec![as_sent, one_trip] });

    let (c, t) = (generators.unread.clone(), targets.clone());
    let ours = measure("CompleteTask", targets.len(), concurrency, move |i| {
        let (c, t) = (c.clone(), t.clone());
        async move {
            let (user, id) = &t[i];
            let request = pb::CompleteTaskRequest { name: format!("tasks/{id}"), etag: String::new() };
            c.call(COMPLETE_TASK, bearer(user), &request).await
        }
    })
    .await?;
    // CompleteTask sends the statements UpdateTask sends.
    let limits = limits::update(pool.clone(), targets.clone(), concurrency).await?.into();
    compared.push(Compared { name: "CompleteTask", ours, limits });
    Ok(compared)
}

/// From `Application::build` (settings read, database connected, listener
/// bound) until the health service answers SERVING, on a database that is
/// already migrated: a restart, in-process.
async fn start_to_serving(runs: usize) -> anyhow::Result<Sample> {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let url = shared::testing::fresh_database(Backend::Postgres).await?;
    let settings = || task::Settings::for_tests(&url, integration_tests::SECRET);
    task::Application::build(settings()).await?; // migrates
    let mut latencies = Vec::with_capacity(runs);
    let started = Instant::now();
    for _ in 0..runs {
        let t = Instant::now();
        let app = task::Application::build(settings()).await?;
        let addr = app.addr();
        let running = integration_tests::Running::spawn(addr, |stop| app.run_until(stop));
        let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
        let mut health = HealthClient::new(channel);
        // Polling is the measurement here, not synchronisation.
        loop {
            let status = health.check(HealthCheckRequest { service: String::new() }).await?.into_inner().status;
            if status == ServingStatus::Serving as i32 {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(t.elapsed());
        running.stop().await;
    }
    Ok(Sample { name: "task service start → SERVING".into(), latencies, wall: started.elapsed() })
}

/// The resident memory of process `pid`, in MiB (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// Each service as shipped (its release binary, behind its daprd, on
/// SQLite as `make dev` runs it), idle after start and after `load`
/// CreateTask calls went through the whole system.
async fn memory(load: usize) -> anyhow::Result<Vec<String>> {
    let system = integration_tests::binaries::System::start(mesh().await, None).await;
    let idle: Vec<(&str, Option<f64>)> = system.services.iter().map(|s| (s.id, s.pid().and_then(rss_mib))).collect();
    let tasks = TaskServiceClient::connect(format!("http://{}", system.service("task").addr)).await?;
    for writer in spawn_writers(&tasks, load, user) {
        writer.await??;
    }
    let loaded: Vec<Option<f64>> = system.services.iter().map(|s| s.pid().and_then(rss_mib)).collect();
    let mut lines = Vec::new();
    println!("{:<14} {:>10} {:>12}", "service", "idle MiB", "loaded MiB");
    for ((id, idle), loaded) in idle.into_iter().zip(loaded) {
        let (idle, loaded) = (idle.unwrap_or(f64::NAN), loaded.unwrap_or(f64::NAN));
        println!("{id:<14} {idle:>10.1} {loaded:>12.1}");
        lines.push(format!("BENCH rss_idle_mib_{id} ours={idle:.1}"));
        lines.push(format!("BENCH rss_loaded_mib_{id} ours={loaded:.1}"));
    }
    system.shutdown().await;
    Ok(lines)
}

/// Gives `user` `count` tasks straight in SQL (a third of them completed,
/// priorities spread), as a user with a long history has them.
async fn fill(db: &sea_orm::DatabaseConnection, user: &str, count: usize) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let sql = format!(
        "INSERT INTO tasks (id, user_id, title, description, state, priority, due_local, due_time_zone, due_sort, \
         reminders, recurrence, create_time, update_time, complete_sort, delete_time, revision, create_request_id, \
         series_id, occurrence_index) \
         SELECT gen_random_uuid()::text, '{user}', 'task ' || g, '', CASE WHEN g % 3 = 0 THEN 2 ELSE 1 END, \
         1 + g % 5, NULL, NULL, {none}, '[]', NULL, 1700000000000000 + g, 1700000000000000 + g, \
         CASE WHEN g % 3 = 0 THEN 1700000000000000 + g ELSE {none} END, NULL, g, NULL, NULL, 0 \
         FROM generate_series(1, {count}) AS g",
        none = i64::MAX
    );
    db.execute_unprepared(&sql).await?;
    // What autovacuum would do soon after so many inserts, done now so that
    // it does not run during the measurement.
    db.execute_unprepared("VACUUM (ANALYZE) tasks").await?;
    Ok(())
}

/// ListTasks latency, one call at a time, for users with 10 000 and with
/// `big` tasks: a page is read through an index, so it should not depend on
/// how many tasks the user has.
async fn long_histories(requests: usize, big: usize) -> anyhow::Result<Vec<String>> {
    let (service, db) = task_service_on(Backend::Postgres, None).await;
    let client = TaskServiceClient::connect(format!("http://{}", service.addr)).await?;
    let mut samples = Vec::new();
    let mut lines = Vec::new();
    for (label, count) in [("10k", 10_000), ("big", big)] {
        let user = format!("bench-history-{count}");
        let started = Instant::now();
        fill(&db, &user, count).await?;
        println!("{count} tasks for {user} written in {:.1} s", started.elapsed().as_secs_f64());
        let label = if label == "big" { format!("{}k", count / 1000) } else { label.to_owned() };
        for (kind, filter, order_by) in
            [("", "", ""), ("_filtered", "state = OPEN AND priority >= MEDIUM", "priority desc, create_time")]
        {
            let (c, u) = (client.clone(), user.clone());
            let name = format!("ListTasks_50{kind}_of_{label}");
            let sample = measure(name.clone(), requests, 1, move |_| {
                let (mut c, u) = (c.clone(), u.clone());
                async move {
                    let page = c.list_tasks(as_user(&u, page_of_50(filter, order_by))).await?.into_inner();
                    anyhow::ensure!(page.tasks.len() == 50, "a full page");
                    Ok(())
                }
            })
            .await?;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            lines.push(format!("BENCH {name}_p50_ms ours={:.2}", ms(sample.percentile(50.0))));
            lines.push(format!("BENCH {name}_p99_ms ours={:.2}", ms(sample.percentile(99.0))));
            samples.push(sample);
        }
    }
    header();
    for sample in &samples {
        sample.print();
    }
    service.stop().await;
    Ok(lines)
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
    Ok(Sample { name: "create → subscriber, one at a time".into(), latencies, wall: started.elapsed() })
}

async fn event_path(events: usize, burst: usize) -> anyhow::Result<Vec<String>> {
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
    let one_at_a_time = Sample { name: "create → Watch, one at a time".into(), latencies, wall: started.elapsed() };
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
    let burst_sample =
        Sample { name: "burst of 8 writers → Watch".into(), latencies: arrivals, wall: started.elapsed() };

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
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(vec![
        format!("BENCH event_commit_to_subscriber_p50_ms ours={:.1}", ms(to_subscriber.percentile(50.0))),
        format!("BENCH event_commit_to_subscriber_p99_ms ours={:.1}", ms(to_subscriber.percentile(99.0))),
        format!("BENCH event_commit_to_watch_p50_ms ours={:.1}", ms(one_at_a_time.percentile(50.0))),
        format!("BENCH event_commit_to_watch_p99_ms ours={:.1}", ms(one_at_a_time.percentile(99.0))),
        format!("BENCH events_acknowledged_per_s ours={:.0}", burst as f64 / drained.as_secs_f64()),
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let requests = knob("BENCH_REQUESTS", 5000)?;
    let concurrency = knob("BENCH_CONCURRENCY", 32)?.max(1);
    let events = knob("BENCH_EVENTS", 300)?;
    let burst = knob("BENCH_BURST", 2000)?;
    // The services in this process trace and log as deployed ones do (the
    // Helm chart's JSON lines at `info`, an OpenTelemetry span per call), so
    // what that costs a call is in the figures. `BENCH_TELEMETRY=off` leaves
    // it out, to see how much it is.
    let _telemetry = (shared::config::string("BENCH_TELEMETRY", "on") != "off").then(|| {
        let settings =
            shared::config::TelemetrySettings { json_logs: true, ..shared::config::TelemetrySettings::from_env() };
        shared::telemetry::init("bench", &settings)
    });
    println!(
        "tasks platform benchmarks: PostgreSQL, loopback, {} cores visible",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let sections = shared::config::string("BENCH_SECTIONS", "api,start,memory,history,events");
    let wanted = |name: &str| sections.split(',').any(|s| s.trim() == name);
    let mut bench_lines = Vec::new();
    if wanted("api") {
        println!("\n== task API, {concurrency} concurrent callers, each RPC beside PostgreSQL doing its SQL ==");
        bench_lines.extend(api(requests, concurrency, knob("BENCH_ROUNDS", 3)?.max(1)).await?);
    }
    if wanted("start") {
        println!("\n== start ==");
        let start = start_to_serving(10).await?;
        header();
        start.print();
        bench_lines
            .push(format!("BENCH task_start_to_serving_p50_ms ours={:.1}", start.percentile(50.0).as_secs_f64() * 1e3));
    }
    if wanted("memory") {
        println!("\n== memory: the six service binaries behind their daprds, idle and after {burst} creates ==");
        bench_lines.extend(memory(burst).await?);
    }
    if wanted("history") {
        println!("\n== ListTasks for users with a long history, one call at a time ==");
        bench_lines.extend(long_histories(200, knob("BENCH_BIG_USER", 1_000_000)?).await?);
    }
    if wanted("events") {
        println!("\n== event path: outbox relay → daprd → Kafka → daprd → subscriber / sync gateway → Watch ==");
        bench_lines.extend(event_path(events, burst).await?);
    }
    println!();
    for line in bench_lines {
        println!("{line}");
    }
    Ok(())
}
