//! Audit rows: idempotent, per-user serialised appends; listing; reading a
//! chain back to verify it.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};

use crate::chain::Link;

pub mod entities {
    pub mod audit_entries {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "audit_entries")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub user_id: String,
            #[sea_orm(primary_key, auto_increment = false)]
            pub sequence: i64,
            pub event_id: String,
            pub event_type: String,
            pub task_id: String,
            pub revision: i64,
            pub occur_time: i64,
            pub record_time: i64,
            pub event_json: String,
            pub previous_hash: String,
            pub hash: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod audit_heads {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "audit_heads")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub user_id: String,
            pub sequence: i64,
            pub hash: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entities::{audit_entries, audit_heads};

/// What to record of one event.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub user_id: String,
    pub event_id: String,
    pub event_type: String,
    pub task_id: String,
    pub revision: i64,
    pub occur_time: i64,
    pub record_time: i64,
    pub event_json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    New {
        sequence: i64,
    },
    /// The event was recorded before (a redelivery): nothing changed.
    Duplicate,
}

/// Appends `entry` to its user's chain, once per event id.
pub async fn append(db: &DatabaseConnection, entry: &NewEntry) -> Result<Appended, DbErr> {
    let tx = db.begin().await?;
    // Claim the next sequence; the head row's lock serialises this user's appends.
    let backend = tx.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO audit_heads (user_id, sequence, hash) VALUES ($1, 1, '') \
             ON CONFLICT (user_id) DO UPDATE SET sequence = audit_heads.sequence + 1 RETURNING sequence, hash"
        }
        _ => {
            "INSERT INTO audit_heads (user_id, sequence, hash) VALUES (?, 1, '') \
             ON CONFLICT (user_id) DO UPDATE SET sequence = audit_heads.sequence + 1 RETURNING sequence, hash"
        }
    };
    let row = tx
        .query_one(Statement::from_sql_and_values(backend, sql, [entry.user_id.clone().into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit head".into()))?;
    let sequence: i64 = row.try_get("", "sequence")?;
    // RETURNING shows the hash before this statement's update: the previous entry's.
    let previous_hash: String = row.try_get("", "hash")?;

    let already =
        audit_entries::Entity::find().filter(audit_entries::Column::EventId.eq(&entry.event_id)).one(&tx).await?;
    if already.is_some() {
        tx.rollback().await?;
        return Ok(Appended::Duplicate);
    }
    let hash = Link {
        previous_hash: &previous_hash,
        user_id: &entry.user_id,
        sequence,
        event_id: &entry.event_id,
        event_type: &entry.event_type,
        task_id: &entry.task_id,
        revision: entry.revision,
        occur_time: entry.occur_time,
        event_json: &entry.event_json,
    }
    .hash();
    let model = audit_entries::Model {
        user_id: entry.user_id.clone(),
        sequence,
        event_id: entry.event_id.clone(),
        event_type: entry.event_type.clone(),
        task_id: entry.task_id.clone(),
        revision: entry.revision,
        occur_time: entry.occur_time,
        record_time: entry.record_time,
        event_json: entry.event_json.clone(),
        previous_hash,
        hash: hash.clone(),
    };
    let inserted = audit_entries::Entity::insert(sea_orm::IntoActiveModel::into_active_model(model))
        .exec_without_returning(&tx)
        .await;
    match inserted {
        Ok(_) => {}
        // Another delivery of the same event won a race on another user's
        // head row ordering: it is recorded, so this one is a duplicate.
        Err(err) if matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            tx.rollback().await?;
            return Ok(Appended::Duplicate);
        }
        Err(err) => return Err(err),
    }
    audit_heads::Entity::update_many()
        .col_expr(audit_heads::Column::Hash, sea_orm::sea_query::Expr::value(hash))
        .filter(audit_heads::Column::UserId.eq(&entry.user_id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(Appended::New { sequence })
}

/// A page of `user`'s entries after sequence `after` in the given order.
pub async fn list(
    db: &DatabaseConnection,
    user_id: &str,
    task_id: Option<&str>,
    oldest_first: bool,
    page_size: u64,
    after: Option<i64>,
) -> Result<(Vec<audit_entries::Model>, bool), DbErr> {
    let mut select = audit_entries::Entity::find().filter(audit_entries::Column::UserId.eq(user_id));
    if let Some(task_id) = task_id {
        select = select.filter(audit_entries::Column::TaskId.eq(task_id));
    }
    if let Some(after) = after {
        select = select.filter(if oldest_first {
            audit_entries::Column::Sequence.gt(after)
        } else {
            audit_entries::Column::Sequence.lt(after)
        });
    }
    let order = if oldest_first { Order::Asc } else { Order::Desc };
    let mut rows = select.order_by(audit_entries::Column::Sequence, order).limit(page_size + 1).all(db).await?;
    let more = rows.len() as u64 > page_size;
    rows.truncate(page_size as usize);
    Ok((rows, more))
}

/// The outcome of recomputing a user's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    pub checked: i64,
    pub first_invalid: i64,
    pub reason: String,
}

/// Recomputes every link of `user`'s chain, oldest first, in pages.
pub async fn verify(db: &DatabaseConnection, user_id: &str) -> Result<Verification, DbErr> {
    let broken =
        |checked, sequence, reason: String| Verification { valid: false, checked, first_invalid: sequence, reason };
    let mut previous_hash = String::new();
    let mut expected = 1i64;
    let mut after = None;
    loop {
        let (rows, more) = list(db, user_id, None, true, 1000, after).await?;
        for row in &rows {
            if row.sequence != expected {
                return Ok(broken(expected - 1, expected, format!("entry {expected} is missing")));
            }
            if row.previous_hash != previous_hash {
                return Ok(broken(expected - 1, row.sequence, "the link to the previous entry does not match".into()));
            }
            let recomputed = Link {
                previous_hash: &row.previous_hash,
                user_id: &row.user_id,
                sequence: row.sequence,
                event_id: &row.event_id,
                event_type: &row.event_type,
                task_id: &row.task_id,
                revision: row.revision,
                occur_time: row.occur_time,
                event_json: &row.event_json,
            }
            .hash();
            if recomputed != row.hash {
                return Ok(broken(expected - 1, row.sequence, "the entry's content does not match its hash".into()));
            }
            previous_hash = row.hash.clone();
            expected += 1;
        }
        after = rows.last().map(|r| r.sequence);
        if !more {
            break;
        }
    }
    let checked = expected - 1;
    // The head remembers the last entry: a truncated tail shows here.
    let head = audit_heads::Entity::find_by_id(user_id.to_owned()).one(db).await?;
    if let Some(head) = head
        && (head.sequence != checked || head.hash != previous_hash)
    {
        return Ok(broken(checked, checked + 1, "entries after the last one found were removed".into()));
    }
    Ok(Verification { valid: true, checked, first_invalid: 0, reason: String::new() })
}
