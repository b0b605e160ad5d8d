//! Task rows: mapping to and from the domain, writes, and the list query
//! (AIP-160 filter → SQL, keyset pagination).

use std::sync::LazyLock;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic,
    IntoActiveModel, Iterable, QueryFilter, QueryResult, QuerySelect, Select, SelectModel, Selector, Set, Statement,
    TryGetable,
    sea_query::Expr,
    sqlx::{self, postgres::PgRow},
};
use shared::{
    auth::UserId,
    page_token::{KeyValue, Position},
};

use super::entities::{task_tags, tasks};
use crate::domain::{
    due::Due,
    from_micros,
    query::{Filter, OrderBy, OrderField},
    recurrence::RecurrenceSpec,
    reminder::Reminder,
    tag::TagId,
    task::{Description, Priority, Series, Task, TaskContent, TaskId, TaskState, Title},
    to_micros,
};

/// Stored in the sort columns when there is no due / completion time.
pub(super) const NONE_SORT: i64 = i64::MAX;

/// A list request, validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Filter,
    pub order: OrderBy,
    pub show_deleted: bool,
    pub page_size: u64,
    pub after: Option<Position>,
}

pub async fn find(conn: &impl ConnectionTrait, user: &UserId, id: TaskId) -> Result<Option<Task>, DbErr> {
    let backend = conn.get_database_backend();
    let statement =
        Statement::from_sql_and_values(backend, find_sql(backend), [id.as_stored().into(), user.as_str().into()]);
    Ok(StoredTask::find_by_statement(statement).one(conn).await?.map(|t| t.0))
}

/// `find`'s statement, written once per backend: the hottest read is not
/// rebuilt by the query builder on every call.
fn find_sql(backend: DbBackend) -> &'static str {
    static SQL: LazyLock<[String; 2]> = LazyLock::new(|| {
        [(DbBackend::Postgres, "id = $1 AND user_id = $2"), (DbBackend::Sqlite, "id = ? AND user_id = ?")]
            .map(|(backend, condition)| select_with_tags_sql(backend, condition))
    });
    let [postgres, sqlite] = &*SQL;
    if backend == DbBackend::Postgres { postgres } else { sqlite }
}

/// The tasks matching `condition`, as [`StoredTask`] reads them.
pub(super) fn select_with_tags_sql(backend: DbBackend, condition: &str) -> String {
    format!("SELECT {} FROM tasks WHERE {condition}", columns_with_tags_sql(backend))
}

/// What [`StoredTask`] reads, in its order: the entity's columns, then the
/// task's tag ids. Written once per backend: the query builder would quote
/// and write each column again on every call, a tenth of a page's work.
pub(super) fn columns_with_tags_sql(backend: DbBackend) -> &'static str {
    static SQL: LazyLock<[String; 2]> = LazyLock::new(|| {
        let columns = tasks::Column::iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>().join(", ");
        [DbBackend::Postgres, DbBackend::Sqlite]
            .map(|backend| format!("{columns}, {} AS tag_ids", tag_ids_aggregate(backend)))
    });
    let [postgres, sqlite] = &*SQL;
    if backend == DbBackend::Postgres { postgres } else { sqlite }
}

/// A task read from its row and its tag ids (one statement), by position:
/// every statement that yields these rows selects [`columns_with_tags_sql`].
/// By name, each column would be a lookup on the hottest path.
pub(super) struct StoredTask(pub(super) Task);

impl FromQueryResult for StoredTask {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        match res.try_as_pg_row() {
            Some(row) => read_task(row),
            None => read_task(res),
        }
        .map(Self)
    }
}

/// Where a column is in [`columns_with_tags_sql`]: the entity's columns in
/// their order, then the tag ids.
fn at(column: tasks::Column) -> usize {
    column as usize
}
const TAG_IDS: usize = tasks::Column::OccurrenceIndex as usize + 1;

/// A row's columns by position. On PostgreSQL straight from sqlx's row,
/// unchecked, and text borrowed from the row: sea-orm's getter formats an
/// error for every NULL it reads (six nullable columns, fifty rows a page)
/// only to turn it into `None`, sqlx's checked getter compares each
/// column's type with every type the Rust one accepts (a third of the
/// column's decoding), and a `String` is an allocation and a copy for text
/// that is parsed and dropped (ids, JSON, due dates). The schema fixes the
/// types (`migrations`, and the order test below); a value that does not
/// decode is still an error.
trait Columns {
    fn value<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: TryGetable + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>;

    /// `read` of the text in column `index` (None when NULL).
    fn text<R>(&self, index: usize, read: impl FnOnce(Option<&str>) -> Result<R, DbErr>) -> Result<R, DbErr>;
}

fn undecodable(index: usize, err: impl std::fmt::Display) -> DbErr {
    DbErr::Type(format!("column {index}: {err}"))
}

impl Columns for PgRow {
    fn value<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: TryGetable + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        sqlx::Row::try_get_unchecked(self, index).map_err(|e| undecodable(index, e))
    }

    fn text<R>(&self, index: usize, read: impl FnOnce(Option<&str>) -> Result<R, DbErr>) -> Result<R, DbErr> {
        read(sqlx::Row::try_get_unchecked(self, index).map_err(|e| undecodable(index, e))?)
    }
}

impl Columns for QueryResult {
    fn value<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: TryGetable + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.try_get_by_index(index)
    }

    fn text<R>(&self, index: usize, read: impl FnOnce(Option<&str>) -> Result<R, DbErr>) -> Result<R, DbErr> {
        read(self.try_get_by_index::<Option<String>>(index)?.as_deref())
    }
}

/// The task in `row` (see [`to_row`] for how each field is stored).
fn read_task(row: &impl Columns) -> Result<Task, DbErr> {
    use tasks::Column as C;
    let id = row.text(at(C::Id), |id| id.and_then(TaskId::from_stored).ok_or_else(|| undecodable(0, "no task id")))?;
    let corrupt = |what: &str| DbErr::Custom(format!("task {}: stored {what} is not valid", id.as_stored()));
    let due = row.text(at(C::DueLocal), |local| {
        let Some(local) = local else { return Ok(None) };
        row.text(at(C::DueTimeZone), |zone| match zone {
            None => Ok(Some(Due::Date(Due::parse_date(local).map_err(|_| corrupt("due"))?))),
            Some(zone) => Ok(Some(Due::DateTime {
                local: Due::parse_local(local).map_err(|_| corrupt("due"))?,
                zone: Due::parse_zone(zone).map_err(|_| corrupt("due zone"))?,
            })),
        })
    })?;
    let reminders = row.text(at(C::Reminders), |json| match json {
        // Most tasks have none: no parser for an empty list.
        Some("[]") => Ok(Vec::new()),
        Some(json) => serde_json::from_str::<Vec<Reminder>>(json).map_err(|_| corrupt("reminders")),
        None => Err(corrupt("reminders")),
    })?;
    let recurrence = row.text(at(C::Recurrence), |json| {
        json.map(serde_json::from_str::<RecurrenceSpec>).transpose().map_err(|_| corrupt("recurrence"))
    })?;
    let mut tags: Vec<TagId> = row.text(TAG_IDS, |ids| {
        Ok(ids.into_iter().flat_map(|ids| ids.split(',')).filter_map(TagId::from_stored).collect())
    })?;
    tags.sort();
    let complete_sort: i64 = row.value(at(C::CompleteSort))?;
    let series = row.text(at(C::SeriesId), |series| Ok(series.and_then(TaskId::from_stored)))?;
    Ok(Task {
        user: row.text(at(C::UserId), |user| UserId::parse(user.unwrap_or_default()).map_err(|_| corrupt("user")))?,
        content: TaskContent {
            title: Title::parse(row.value::<String>(at(C::Title))?).map_err(|_| corrupt("title"))?,
            description: Description::parse(row.value::<String>(at(C::Description))?)
                .map_err(|_| corrupt("description"))?,
            priority: Priority::from_number(i32::from(row.value::<i16>(at(C::Priority))?))
                .ok_or_else(|| corrupt("priority"))?,
            tags,
            due,
            reminders,
            recurrence,
        },
        state: TaskState::from_number(i32::from(row.value::<i16>(at(C::State))?)).ok_or_else(|| corrupt("state"))?,
        create_time: from_micros(row.value(at(C::CreateTime))?),
        update_time: from_micros(row.value(at(C::UpdateTime))?),
        complete_time: (complete_sort != NONE_SORT).then(|| from_micros(complete_sort)),
        delete_time: row.value::<Option<i64>>(at(C::DeleteTime))?.map(from_micros),
        revision: row.value(at(C::Revision))?,
        series: match series {
            Some(id) => {
                let index: i32 = row.value(at(C::OccurrenceIndex))?;
                Some(Series { id, index: u32::try_from(index).unwrap_or(0) })
            }
            None => None,
        },
        id,
    })
}

/// `select` with each task's tags aggregated into the same row: a task and
/// its tags in one round trip, not two.
fn with_tags(select: Select<tasks::Entity>, conn: &impl ConnectionTrait) -> Selector<SelectModel<StoredTask>> {
    let columns = columns_with_tags_sql(conn.get_database_backend());
    select.select_only().expr(Expr::cust(columns)).into_model::<StoredTask>()
}

/// A task's tag ids, comma-separated, as a column of its row (on
/// PostgreSQL an array subquery, which costs it less than an aggregate;
/// "" without tags).
fn tag_ids_aggregate(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "array_to_string(ARRAY(SELECT tag_id FROM task_tags WHERE task_tags.task_id = tasks.id), ',')"
        }
        _ => "(SELECT group_concat(tag_id, ',') FROM task_tags WHERE task_tags.task_id = tasks.id)",
    }
}

pub async fn find_by_request_id(
    conn: &impl ConnectionTrait,
    user: &UserId,
    request_id: &str,
) -> Result<Option<Task>, DbErr> {
    let select = tasks::Entity::find()
        .filter(tasks::Column::UserId.eq(user.as_str()))
        .filter(tasks::Column::CreateRequestId.eq(request_id));
    Ok(with_tags(select, conn).one(conn).await?.map(|t| t.0))
}

pub async fn insert(conn: &impl ConnectionTrait, task: &Task, request_id: Option<&str>) -> Result<(), DbErr> {
    let mut model = to_row(task)?.into_active_model();
    model.create_request_id = Set(request_id.map(str::to_owned));
    tasks::Entity::insert(model).exec_without_returning(conn).await?;
    write_tags(conn, task, false).await
}

/// Writes every column of `task` (but its request id) and, when
/// `tags_changed`, its tag set.
pub async fn update(conn: &impl ConnectionTrait, task: &Task, tags_changed: bool) -> Result<(), DbErr> {
    let row = to_row(task)?;
    let id = row.id.clone();
    let mut model = row.into_active_model().reset_all();
    model.id = sea_orm::ActiveValue::NotSet;
    model.create_request_id = sea_orm::ActiveValue::NotSet;
    // update_many: no RETURNING of the row just written.
    tasks::Entity::update_many().set(model).filter(tasks::Column::Id.eq(id)).exec(conn).await?;
    if tags_changed {
        write_tags(conn, task, true).await?;
    }
    Ok(())
}

async fn write_tags(conn: &impl ConnectionTrait, task: &Task, replace: bool) -> Result<(), DbErr> {
    if replace {
        task_tags::Entity::delete_many().filter(task_tags::Column::TaskId.eq(task.id.as_stored())).exec(conn).await?;
    }
    if task.content.tags.is_empty() {
        return Ok(());
    }
    let rows = task.content.tags.iter().map(|tag| task_tags::ActiveModel {
        task_id: Set(task.id.as_stored()),
        tag_id: Set(tag.as_stored()),
        user_id: Set(task.user.as_str().to_owned()),
    });
    task_tags::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

/// Ids of `user`'s tasks carrying `tag`.
pub async fn tasks_with_tag(conn: &impl ConnectionTrait, user: &UserId, tag: TagId) -> Result<Vec<TaskId>, DbErr> {
    Ok(task_tags::Entity::find()
        .filter(task_tags::Column::UserId.eq(user.as_str()))
        .filter(task_tags::Column::TagId.eq(tag.as_stored()))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| TaskId::from_stored(&row.task_id))
        .collect())
}

/// One page of `user`'s tasks and, when more follow, the position after it.
pub async fn list(
    conn: &impl ConnectionTrait,
    user: &UserId,
    query: &ListQuery,
) -> Result<(Vec<Task>, Option<Position>), DbErr> {
    let statement = super::list::statement(conn.get_database_backend(), user, query);
    let mut tasks: Vec<Task> =
        StoredTask::find_by_statement(statement).all(conn).await?.into_iter().map(|t| t.0).collect();

    let more = tasks.len() as u64 > query.page_size;
    tasks.truncate(query.page_size as usize);
    let next = match (more, tasks.last()) {
        (true, Some(last)) => Some(position_of(&query.order, last)),
        _ => None,
    };
    Ok((tasks, next))
}

/// Checks that a decoded position fits `order` (a signed token from another
/// order is already rejected by its fingerprint; this guards the shape).
pub fn position_fits(order: &OrderBy, position: &Position) -> bool {
    position.keys.len() == order.0.len()
        && order
            .0
            .iter()
            .zip(&position.keys)
            .all(|((field, _), key)| (*field == OrderField::Title) == matches!(key, KeyValue::Text(_)))
}

fn position_of(order: &OrderBy, task: &Task) -> Position {
    let keys = order
        .0
        .iter()
        .map(|(field, _)| match field {
            OrderField::DueTime => KeyValue::Int(due_sort(task)),
            OrderField::Priority => KeyValue::Int(task.content.priority as i64),
            OrderField::CreateTime => KeyValue::Int(to_micros(task.create_time)),
            OrderField::UpdateTime => KeyValue::Int(to_micros(task.update_time)),
            OrderField::CompleteTime => KeyValue::Int(complete_sort(task)),
            OrderField::Title => KeyValue::Text(task.content.title.as_str().to_owned()),
        })
        .collect();
    Position { keys, id: task.id.as_stored() }
}

/// What the `due_sort` column holds for `task`.
fn due_sort(task: &Task) -> i64 {
    task.content.due.map_or(NONE_SORT, |d| to_micros(d.instant()))
}

/// What the `complete_sort` column holds for `task`.
fn complete_sort(task: &Task) -> i64 {
    task.complete_time.map_or(NONE_SORT, to_micros)
}

pub(super) fn to_row(task: &Task) -> Result<tasks::Model, DbErr> {
    let content = &task.content;
    let (due_local, due_time_zone) = match &content.due {
        None => (None, None),
        Some(Due::Date(date)) => (Some(date.format("%Y-%m-%d").to_string()), None),
        Some(Due::DateTime { local, zone }) => {
            (Some(local.format("%Y-%m-%dT%H:%M:%S").to_string()), Some(zone.name().to_owned()))
        }
    };
    let json = |e: serde_json::Error| DbErr::Custom(format!("cannot encode task column: {e}"));
    Ok(tasks::Model {
        id: task.id.as_stored(),
        user_id: task.user.as_str().to_owned(),
        title: content.title.as_str().to_owned(),
        description: content.description.as_str().to_owned(),
        state: task.state as i16,
        priority: content.priority as i16,
        due_local,
        due_time_zone,
        due_sort: due_sort(task),
        reminders: serde_json::to_string(&content.reminders).map_err(json)?,
        recurrence: content.recurrence.as_ref().map(serde_json::to_string).transpose().map_err(json)?,
        create_time: to_micros(task.create_time),
        update_time: to_micros(task.update_time),
        complete_sort: complete_sort(task),
        delete_time: task.delete_time.map(to_micros),
        revision: task.revision,
        create_request_id: None,
        series_id: task.series.map(|s| s.id.as_stored()),
        occurrence_index: task.series.map_or(0, |s| i32::try_from(s.index).unwrap_or(i32::MAX)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_come_in_the_order_rows_are_read_by() {
        // `StoredTask` reads by position, in this order: a change to the
        // entity's fields must change it too.
        let columns: Vec<String> = tasks::Column::iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(
            columns,
            [
                "id",
                "user_id",
                "title",
                "description",
                "state",
                "priority",
                "due_local",
                "due_time_zone",
                "due_sort",
                "reminders",
                "recurrence",
                "create_time",
                "update_time",
                "complete_sort",
                "delete_time",
                "revision",
                "create_request_id",
                "series_id",
                "occurrence_index",
            ]
        );
    }
}
