//! What PostgreSQL itself can do for each RPC, as pgbench would measure it:
//! a driver in the bench that sends the statements the task service sends
//! for that RPC (the same SQL, the same number of round trips, prepared) and,
//! for comparison, the same work as a single statement (one round trip).
//! Each caller has a connection of its own, with nothing else on it (no
//! pool, so none of the pool's pings): the same callers, concurrency and data
//! as the RPC, on the same server.
//!
//! The statements were read from the server's log (`log_statement = all`)
//! while the service answered each RPC once; if the store changes what it
//! sends, these must change with it.

use std::sync::Arc;

use sea_orm::sqlx::{self, Connection, PgConnection, Row, postgres::PgConnectOptions};
use tokio::sync::Mutex;

use super::{GET_PASSES, Sample, measure};

/// The columns of `tasks`, in the order the service reads and writes them.
const TASK_COLUMNS: &str = "id, user_id, title, description, state, priority, due_local, due_time_zone, due_sort, \
     reminders, recurrence, create_time, update_time, complete_sort, delete_time, revision, create_request_id, \
     series_id, occurrence_index";

/// What the service stores as the sort key of "no due" and "not completed".
const NONE: i64 = i64::MAX;

const NEXT_REVISION: &str = "INSERT INTO user_revisions (user_id, revision) VALUES ($1, 1) \
     ON CONFLICT (user_id) DO UPDATE SET revision = user_revisions.revision + 1 RETURNING revision";

/// A task's tags, aggregated into its row as the service reads them.
const TAG_IDS: &str =
    "array_to_string(ARRAY(SELECT tag_id FROM task_tags WHERE task_tags.task_id = tasks.id), ',') AS tag_ids";

/// An event of the size the service stores (protobuf payload and JSON).
fn event_bytes() -> (Vec<u8>, String) {
    (vec![7u8; 140], format!("{{\"eventId\":\"{}\",\"task\":{{\"title\":\"{}\"}}}}", "e".repeat(36), "t".repeat(180)))
}

/// One connection per caller: caller `i % len` uses `connections[i % len]`
/// (the bench's callers take every `len`-th index, so each has its own).
#[derive(Clone)]
pub struct Connections(Arc<Vec<Mutex<PgConnection>>>);

impl Connections {
    pub async fn open(options: &PgConnectOptions, callers: usize) -> anyhow::Result<Self> {
        let mut connections = Vec::with_capacity(callers);
        for _ in 0..callers {
            connections.push(Mutex::new(PgConnection::connect_with(options).await?));
        }
        Ok(Self(Arc::new(connections)))
    }

    async fn of(&self, i: usize) -> tokio::sync::MutexGuard<'_, PgConnection> {
        self.0[i % self.0.len()].lock().await
    }
}

/// Gathers the planner's statistics, as autovacuum would a little later (and
/// `pgbench -i` does after loading): on a table never analysed, PostgreSQL
/// guesses a user has a handful of tasks and sorts them all for a page
/// instead of reading the first 50 from the index, ten times the work.
pub async fn analyze(connections: &Connections) -> anyhow::Result<()> {
    sqlx::query("ANALYZE").execute(&mut *connections.of(0).await).await?;
    Ok(())
}

/// A task with its tags, by id and owner, as the service reads it.
fn task_by_id() -> String {
    format!("SELECT {TASK_COLUMNS}, {TAG_IDS} FROM tasks WHERE id = $1 AND user_id = $2")
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// CreateTask as the service sends it on PostgreSQL (a task without tags):
/// one statement that takes the user's next revision, writes the task and
/// its event, and adds the revision to the stored event in SQL (appended to
/// the protobuf by `task_event_revised`, in place of the JSON's marks).
pub async fn create_as_sent(
    connections: Connections,
    n: usize,
    concurrency: usize,
    user: fn(usize) -> String,
) -> anyhow::Result<Sample> {
    let sql = format!(
        "WITH revision AS ({NEXT_REVISION}), \
         task AS (INSERT INTO tasks ({TASK_COLUMNS}) SELECT $2, $1, $3, '', 1, 2, NULL, NULL, {NONE}, '[]', NULL, \
               $4, $4, {NONE}, NULL, revision.revision, $2, NULL, 0 FROM revision RETURNING revision) \
         INSERT INTO outbox (event_id, event_type, topic, user_id, task_id, revision, payload, data_json, \
               traceparent, create_time, publish_time) \
         SELECT $5, 'todo.task.created.v1', 'task-events', $1, $2, task.revision, \
               task_event_revised($6, task.revision), replace($7, chr(1), task.revision::text), NULL, $4, NULL \
         FROM task RETURNING revision"
    );
    create_by_statement("  limit: same SQL (1 round trip)", sql, connections, n, concurrency, user).await
}

/// The same three writes as one statement with the event stored as it
/// comes (no revision added in SQL).
pub async fn create_one_trip(
    connections: Connections,
    n: usize,
    concurrency: usize,
    user: fn(usize) -> String,
) -> anyhow::Result<Sample> {
    let sql = format!(
        "WITH rev AS ({NEXT_REVISION}), \
         t AS (INSERT INTO tasks ({TASK_COLUMNS}) SELECT $2, $1, $3, '', 1, 2, NULL, NULL, {NONE}, '[]', NULL, $4, \
               $4, {NONE}, NULL, rev.revision, $2, NULL, 0 FROM rev RETURNING id, revision) \
         INSERT INTO outbox (event_id, event_type, topic, user_id, task_id, revision, payload, data_json, \
               traceparent, create_time, publish_time) \
         SELECT $5, 'todo.task.created.v1', 'task-events', $1, t.id, t.revision, $6, $7, NULL, $4, NULL FROM t"
    );
    create_by_statement("  limit: one round trip", sql, connections, n, concurrency, user).await
}

/// Runs a create statement whose parameters are: the user, the task id, the
/// title, the time, the event id, the payload and the JSON.
async fn create_by_statement(
    name: &str,
    sql: String,
    connections: Connections,
    n: usize,
    concurrency: usize,
    user: fn(usize) -> String,
) -> anyhow::Result<Sample> {
    let sql = Arc::new(sql);
    measure(name, n, concurrency, move |i| {
        let (conns, sql) = (connections.clone(), sql.clone());
        async move {
            let (payload, json) = event_bytes();
            sqlx::query(&sql)
                .bind(user(i))
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(format!("limit {i}"))
                .bind(now_micros())
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(payload)
                .bind(json)
                .execute(&mut *conns.of(i).await)
                .await?;
            Ok(())
        }
    })
    .await
}

/// GetTask, one lookup a statement: the task with its tags aggregated in,
/// as the service reads a lookup alone; and the same with the tags as an
/// array. (Under load the service reads the lookups waiting at once in one
/// statement, `services/task/src/store/reads.rs`; the limits do not: they
/// are what PostgreSQL does for each call on its own.)
pub async fn get(
    connections: Connections,
    targets: Arc<Vec<(String, String)>>,
    concurrency: usize,
) -> anyhow::Result<[Sample; 2]> {
    let n = targets.len() * GET_PASSES;
    let (p, t) = (connections.clone(), targets.clone());
    let as_sent = measure("  limit: same SQL, 1 lookup each", n, concurrency, move |i| {
        let (conns, targets) = (p.clone(), t.clone());
        async move {
            let (user, id) = &targets[i % targets.len()];
            sqlx::query(&task_by_id()).bind(id).bind(user).fetch_one(&mut *conns.of(i).await).await?;
            Ok(())
        }
    })
    .await?;
    let one_trip = measure("  limit: one round trip", n, concurrency, move |i| {
        let (conns, targets) = (connections.clone(), targets.clone());
        async move {
            let (user, id) = &targets[i % targets.len()];
            let sql = format!(
                "SELECT {TASK_COLUMNS}, ARRAY(SELECT tag_id FROM task_tags WHERE task_id = tasks.id) AS tags \
                 FROM tasks WHERE id = $1 AND user_id = $2"
            );
            sqlx::query(&sql).bind(id).bind(user).fetch_one(&mut *conns.of(i).await).await?;
            Ok(())
        }
    })
    .await?;
    Ok([as_sent, one_trip])
}

/// ListTasks, a page of 50 (with `condition` as the filter), as sent: the
/// page with each task's tags aggregated in (one round trip); and the same
/// with the tags as arrays.
pub async fn list(
    connections: Connections,
    n: usize,
    concurrency: usize,
    user: fn(usize) -> String,
    condition: &'static str,
    order: &'static str,
) -> anyhow::Result<[Sample; 2]> {
    let page = Arc::new(format!(
        "SELECT {TASK_COLUMNS}, {TAG_IDS} FROM tasks WHERE user_id = $1 AND {condition} AND delete_time IS NULL \
         ORDER BY {order}, id ASC LIMIT 51"
    ));
    let with_tags = Arc::new(format!(
        "SELECT {TASK_COLUMNS}, ARRAY(SELECT tag_id FROM task_tags WHERE task_id = tasks.id) AS tags FROM tasks \
         WHERE user_id = $1 AND {condition} AND delete_time IS NULL ORDER BY {order}, id ASC LIMIT 51"
    ));
    let (p, s) = (connections.clone(), page.clone());
    let as_sent = measure("  limit: same SQL (1 round trip)", n, concurrency, move |i| {
        let (conns, page) = (p.clone(), s.clone());
        async move {
            sqlx::query(&page).bind(user(i)).fetch_all(&mut *conns.of(i).await).await?;
            Ok(())
        }
    })
    .await?;
    let one_trip = measure("  limit: one round trip", n, concurrency, move |i| {
        let (conns, sql) = (connections.clone(), with_tags.clone());
        async move {
            sqlx::query(&sql).bind(user(i)).fetch_all(&mut *conns.of(i).await).await?;
            Ok(())
        }
    })
    .await?;
    Ok([as_sent, one_trip])
}

/// UpdateTask (and CompleteTask, which sends the same statements) as sent:
/// BEGIN, the next revision, the task with its tags, the update with its
/// event (one statement), COMMIT (5 round trips); and all as one statement.
pub async fn update(
    connections: Connections,
    targets: Arc<Vec<(String, String)>>,
    concurrency: usize,
) -> anyhow::Result<[Sample; 2]> {
    let n = targets.len();
    let (p, t) = (connections.clone(), targets.clone());
    let as_sent = measure("  limit: same SQL (5 round trips)", n, concurrency, move |i| {
        let (conns, targets) = (p.clone(), t.clone());
        async move {
            let (user, id) = &targets[i];
            let mut connection = conns.of(i).await;
            let mut tx = connection.begin().await?;
            let revision: i64 = sqlx::query(NEXT_REVISION).bind(user).fetch_one(&mut *tx).await?.try_get(0)?;
            sqlx::query(&task_by_id()).bind(id).bind(user).fetch_one(&mut *tx).await?;
            let update = format!(
                "WITH task AS (UPDATE tasks SET user_id = $1, title = $2, description = '', state = 1, priority = 2, \
                 due_local = NULL, due_time_zone = NULL, due_sort = {NONE}, reminders = '[]', recurrence = NULL, \
                 create_time = create_time, update_time = $3, complete_sort = {NONE}, delete_time = NULL, \
                 revision = $4, series_id = NULL, occurrence_index = 0 WHERE id = $5 RETURNING id) \
                 INSERT INTO outbox (event_id, event_type, topic, user_id, task_id, revision, payload, data_json, \
                 traceparent, create_time, publish_time) \
                 SELECT $6, 'todo.task.updated.v1', 'task-events', $1, $5, $4, $7, $8, NULL, $3, NULL FROM task"
            );
            let (payload, json) = event_bytes();
            sqlx::query(&update)
                .bind(user)
                .bind(format!("renamed {i}"))
                .bind(now_micros())
                .bind(revision)
                .bind(id)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(payload)
                .bind(json)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    let sql = Arc::new(format!(
        "WITH rev AS ({NEXT_REVISION}), \
         u AS (UPDATE tasks SET title = $3, update_time = $4, revision = rev.revision FROM rev \
               WHERE tasks.id = $2 AND tasks.user_id = $1 RETURNING tasks.id, tasks.revision) \
         INSERT INTO outbox (event_id, event_type, topic, user_id, task_id, revision, payload, data_json, \
               traceparent, create_time, publish_time) \
         SELECT $5, 'todo.task.updated.v1', 'task-events', $1, u.id, u.revision, $6, $7, NULL, $4, NULL FROM u"
    ));
    let one_trip = measure("  limit: one round trip", n, concurrency, move |i| {
        let (conns, targets, sql) = (connections.clone(), targets.clone(), sql.clone());
        async move {
            let (user, id) = &targets[i];
            let (payload, json) = event_bytes();
            sqlx::query(&sql)
                .bind(user)
                .bind(id)
                .bind(format!("renamed again {i}"))
                .bind(now_micros())
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(payload)
                .bind(json)
                .execute(&mut *conns.of(i).await)
                .await?;
            Ok(())
        }
    })
    .await?;
    Ok([as_sent, one_trip])
}
