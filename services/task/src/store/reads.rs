//! GetTask's reads, coalesced on PostgreSQL: the lookups that arrive while
//! the readers are busy go to the server as one statement.
//!
//! A lookup of one task by id is the cheapest thing the service asks of
//! PostgreSQL, and most of its cost there is the statement itself (the
//! round trip, the protocol, starting and ending the implicit
//! transaction), not the index probe. Under load, [`READERS`] readers
//! each take every lookup waiting in the queue (up to [`MOST_PER_READ`])
//! and read them with `WHERE id IN (…)`: a probe per task, one statement.
//! A lookup that finds a reader idle is read at once, alone, with the
//! statement a single lookup always uses: coalescing adds no wait when
//! there is nothing to coalesce.
//!
//! Each statement runs after every lookup in it arrived, so a read still
//! sees every write acknowledged before it was asked for. SQLite (in the
//! process, without round trips) reads each lookup as it comes.

use std::{collections::HashMap, sync::Arc, sync::LazyLock};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, RuntimeErr, Statement};
use shared::{
    auth::UserId,
    db::{Database, closed, is_unavailable},
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::tasks::{self, StoredTask};
use crate::domain::task::{Task, TaskId};

/// How many coalesced reads may be at PostgreSQL at once. Two: while one
/// runs, the lookups behind it gather into the next. (`make bench`, 32
/// callers on 2 cores: 1, 2, 4 and 8 readers gave about 19k, 18k, 15k and
/// 14k GetTask calls/s; one reader would leave every lookup behind a
/// single slow statement.)
pub const READERS: usize = 2;
/// The most lookups one statement reads.
pub const MOST_PER_READ: usize = 64;

/// A task wanted by its owner, and where its reader sends it.
struct Lookup {
    user: UserId,
    id: TaskId,
    reply: oneshot::Sender<Result<Option<Task>, DbErr>>,
}

/// Reads tasks by id for their owners. Cheap to clone: the clones share
/// the readers, which stop when the last clone is dropped.
#[derive(Clone)]
pub struct TaskReads {
    db: Database,
    /// The readers' queue; `None` on SQLite.
    queue: Option<mpsc::UnboundedSender<Lookup>>,
}

impl TaskReads {
    /// Starts the readers on PostgreSQL; must be called inside a tokio runtime.
    pub fn new(db: Database) -> Self {
        if db.get_database_backend() != DbBackend::Postgres {
            return Self { db, queue: None };
        }
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..READERS {
            tokio::spawn(read_until_closed(db.clone(), waiting.clone()));
        }
        Self { db, queue: Some(queue) }
    }

    /// `user`'s task `id` (deleted or not); `None` if there is none, or it
    /// is another user's.
    pub async fn find(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, DbErr> {
        let Some(queue) = &self.queue else { return tasks::find(&self.db, user, id).await };
        let (reply, answer) = oneshot::channel();
        queue.send(Lookup { user: user.clone(), id, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// One reader: takes what is waiting, reads it, answers, until every
/// sender is gone.
async fn read_until_closed(db: Database, waiting: Arc<Mutex<mpsc::UnboundedReceiver<Lookup>>>) {
    loop {
        let mut lookups = Vec::with_capacity(MOST_PER_READ);
        // Holding the lock only to take: the next reader takes what arrives
        // while this one reads.
        if waiting.lock().await.recv_many(&mut lookups, MOST_PER_READ).await == 0 {
            return;
        }
        answer(&db, lookups).await;
    }
}

/// Reads `lookups` in one statement and sends each its task.
async fn answer(db: &Database, mut lookups: Vec<Lookup>) {
    if let [_] = lookups.as_slice()
        && let Some(Lookup { user, id, reply }) = lookups.pop()
    {
        let _ = reply.send(tasks::find(db, &user, id).await);
        return;
    }
    match read_many(db, &lookups).await {
        Ok(found) => {
            for Lookup { user, id, reply } in lookups {
                // Another user's task is not found, as with a single lookup.
                let task = found.get(&id).filter(|task| task.user == user);
                let _ = reply.send(Ok(task.cloned()));
            }
        }
        Err(err) => {
            for Lookup { reply, .. } in lookups {
                let _ = reply.send(Err(copy_of(&err)));
            }
        }
    }
}

/// The rows of `lookups`' tasks, by id.
async fn read_many(db: &Database, lookups: &[Lookup]) -> Result<HashMap<TaskId, Task>, DbErr> {
    let ids = lookups.iter().map(|l| l.id.as_stored().into());
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, in_sql(lookups.len()), ids);
    let rows = StoredTask::find_by_statement(statement).all(db).await?;
    Ok(rows.into_iter().map(|StoredTask(task)| (task.id, task)).collect())
}

/// The statement for `n` ids (`$1` … `$n`), written once for each `n`:
/// each is prepared once per connection, like any other.
fn in_sql(n: usize) -> &'static str {
    static SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..=MOST_PER_READ)
            .map(|n| {
                let ids = (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                tasks::select_with_tags_sql(DbBackend::Postgres, &format!("id IN ({ids})"))
            })
            .collect()
    });
    SQL.get(n).map_or("", String::as_str)
}

/// The same failure for every lookup of a failed read (sqlx's errors are
/// not `Clone`): unavailable stays unavailable, the rest stays a bug.
fn copy_of(err: &DbErr) -> DbErr {
    if is_unavailable(err) {
        DbErr::Conn(RuntimeErr::Internal(err.to_string()))
    } else {
        DbErr::Custom(err.to_string())
    }
}
