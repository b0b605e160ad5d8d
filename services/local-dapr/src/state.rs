//! State management on the runtime's database, for every `state.*` component.
//!
//! - **Keys** are stored as `<appId>||<key>` (component metadata `keyPrefix`:
//!   `appid`, the default; `name` = `<store>||<key>`; `namespace` = same as
//!   `appid` here, there are no namespaces; `none` = the bare key), in one
//!   table partitioned by component name.
//! - **ETags** are a version number per key, as a string. A write or delete
//!   with an ETag that does not match fails with `ABORTED` and one that is not
//!   a number with `INVALID_ARGUMENT` — daprd's mapping of the state stores'
//!   `ETagMismatch` / `ETagInvalid` errors. With `concurrency:
//!   FIRST_WRITE` and no ETag a write only succeeds if the key is new.
//! - `ttlInSeconds` in an item's metadata expires it.
//! - `SaveState`, `DeleteBulkState` and `ExecuteStateTransaction` are
//!   all-or-nothing (one database transaction).
//! - An unknown store is `INVALID_ARGUMENT` ("state store … is not found"),
//!   no store at all `FAILED_PRECONDITION`, as in daprd.
//! - The Dapr outbox (`outboxPublishPubsub`) is not implemented.

use dapr::dapr::proto::{common::v1 as common, runtime::v1 as rt};
use sea_orm::DbErr;
use tonic::Status;

use crate::{
    api::Sidecar,
    db::{Tx, now_ms},
};

const FIRST_WRITE: i32 = 1;

fn db_error(e: DbErr) -> Status {
    Status::internal(format!("state store error: {e}"))
}

/// The table key of `key` in `store` for the calling app.
fn store_key(sidecar: &Sidecar, store: &str, key: &str) -> Result<String, Status> {
    let app_id = &sidecar.app.id;
    let shared = &sidecar.shared;
    if !shared.components(app_id).any(|c| c.category() == "state") {
        return Err(Status::failed_precondition("state store is not configured"));
    }
    let component = shared
        .component(app_id, "state", store)
        .ok_or_else(|| Status::invalid_argument(format!("state store {store} is not found")))?;
    if key.contains("||") {
        return Err(Status::invalid_argument(format!("input key/keyPrefix '{key}' can't contain '||'")));
    }
    Ok(match component.meta("keyPrefix").map(str::to_ascii_lowercase).as_deref() {
        Some("none") => key.to_owned(),
        Some("name") => format!("{store}||{key}"),
        _ => format!("{app_id}||{key}"),
    })
}

fn parse_etag(etag: Option<&common::Etag>) -> Result<Option<i64>, Status> {
    match etag.map(|e| e.value.as_str()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| Status::invalid_argument(format!("invalid etag value: {v}"))),
    }
}

fn mismatch() -> Status {
    Status::aborted("possible etag mismatch. error from state store: ETag mismatch")
}

async fn read(sidecar: &Sidecar, store: &str, key: &str) -> Result<Option<(Vec<u8>, i64)>, Status> {
    let skey = store_key(sidecar, store, key)?;
    let row = sidecar
        .shared
        .db
        .query_one(
            "SELECT value, etag FROM ld_state WHERE store = $1 AND skey = $2 AND (expires_at IS NULL OR expires_at > $3)",
            vec![store.into(), skey.into(), now_ms().into()],
        )
        .await
        .map_err(db_error)?;
    row.map(|r| Ok((r.try_get("", "value").map_err(db_error)?, r.try_get("", "etag").map_err(db_error)?))).transpose()
}

pub async fn get_state(
    sidecar: &Sidecar,
    request: tonic::Request<rt::GetStateRequest>,
) -> Result<tonic::Response<rt::GetStateResponse>, Status> {
    let req = request.into_inner();
    let found = read(sidecar, &req.store_name, &req.key).await?;
    let (data, etag) = found.map(|(v, e)| (v, e.to_string())).unwrap_or_default();
    Ok(tonic::Response::new(rt::GetStateResponse { data, etag, metadata: Default::default() }))
}

pub async fn get_bulk_state(
    sidecar: &Sidecar,
    request: tonic::Request<rt::GetBulkStateRequest>,
) -> Result<tonic::Response<rt::GetBulkStateResponse>, Status> {
    let req = request.into_inner();
    let mut items = Vec::with_capacity(req.keys.len());
    for key in req.keys {
        let item = match read(sidecar, &req.store_name, &key).await {
            Ok(found) => {
                let (data, etag) = found.map(|(v, e)| (v, e.to_string())).unwrap_or_default();
                rt::BulkStateItem { key, data, etag, ..Default::default() }
            }
            Err(status) if status.code() == tonic::Code::Internal => {
                rt::BulkStateItem { key, error: status.message().to_owned(), ..Default::default() }
            }
            Err(status) => return Err(status),
        };
        items.push(item);
    }
    Ok(tonic::Response::new(rt::GetBulkStateResponse { items }))
}

/// Writes one item inside `tx`, enforcing ETag and first-write rules.
async fn upsert(tx: &Tx<'_>, sidecar: &Sidecar, store: &str, item: &common::StateItem) -> Result<(), Status> {
    let skey = store_key(sidecar, store, &item.key)?;
    let etag = parse_etag(item.etag.as_ref())?;
    let now = now_ms();
    let expires_at = item
        .metadata
        .get("ttlInSeconds")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|t| *t >= 0)
        .map(|t| now + t * 1000);
    let first_write = item.options.as_ref().is_some_and(|o| o.concurrency == FIRST_WRITE);
    let value = item.value.clone();
    let changed = match etag {
        Some(etag) => tx
            .exec(
                "UPDATE ld_state SET value = $3, etag = etag + 1, expires_at = $4 \
                 WHERE store = $1 AND skey = $2 AND etag = $5 AND (expires_at IS NULL OR expires_at > $6)",
                vec![store.into(), skey.into(), value.into(), expires_at.into(), etag.into(), now.into()],
            )
            .await
            .map_err(db_error)?,
        None if first_write => {
            // Expired rows do not count as existing.
            tx.exec(
                "DELETE FROM ld_state WHERE store = $1 AND skey = $2 AND expires_at IS NOT NULL AND expires_at <= $3",
                vec![store.into(), skey.clone().into(), now.into()],
            )
            .await
            .map_err(db_error)?;
            tx.exec(
                "INSERT INTO ld_state (store, skey, value, etag, expires_at) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (store, skey) DO NOTHING",
                vec![store.into(), skey.into(), value.into(), expires_at.into()],
            )
            .await
            .map_err(db_error)?
        }
        None => tx
            .exec(
                "INSERT INTO ld_state (store, skey, value, etag, expires_at) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (store, skey) DO UPDATE SET value = excluded.value, etag = ld_state.etag + 1, \
                 expires_at = excluded.expires_at",
                vec![store.into(), skey.into(), value.into(), expires_at.into()],
            )
            .await
            .map_err(db_error)?,
    };
    if changed == 0 { Err(mismatch()) } else { Ok(()) }
}

/// Deletes one item inside `tx`; with an ETag it must match.
async fn delete(
    tx: &Tx<'_>,
    sidecar: &Sidecar,
    store: &str,
    key: &str,
    etag: Option<&common::Etag>,
) -> Result<(), Status> {
    let skey = store_key(sidecar, store, key)?;
    match parse_etag(etag)? {
        Some(etag) => {
            let deleted = tx
                .exec(
                    "DELETE FROM ld_state WHERE store = $1 AND skey = $2 AND etag = $3",
                    vec![store.into(), skey.into(), etag.into()],
                )
                .await
                .map_err(db_error)?;
            if deleted == 0 {
                return Err(mismatch());
            }
        }
        None => {
            tx.exec("DELETE FROM ld_state WHERE store = $1 AND skey = $2", vec![store.into(), skey.into()])
                .await
                .map_err(db_error)?;
        }
    }
    Ok(())
}

pub async fn save_state(
    sidecar: &Sidecar,
    request: tonic::Request<rt::SaveStateRequest>,
) -> Result<tonic::Response<()>, Status> {
    let req = request.into_inner();
    let tx = sidecar.shared.db.begin().await.map_err(db_error)?;
    for item in &req.states {
        upsert(&tx, sidecar, &req.store_name, item).await?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(tonic::Response::new(()))
}

pub async fn delete_state(
    sidecar: &Sidecar,
    request: tonic::Request<rt::DeleteStateRequest>,
) -> Result<tonic::Response<()>, Status> {
    let req = request.into_inner();
    let tx = sidecar.shared.db.begin().await.map_err(db_error)?;
    delete(&tx, sidecar, &req.store_name, &req.key, req.etag.as_ref()).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(tonic::Response::new(()))
}

pub async fn delete_bulk_state(
    sidecar: &Sidecar,
    request: tonic::Request<rt::DeleteBulkStateRequest>,
) -> Result<tonic::Response<()>, Status> {
    let req = request.into_inner();
    let tx = sidecar.shared.db.begin().await.map_err(db_error)?;
    for item in &req.states {
        delete(&tx, sidecar, &req.store_name, &item.key, item.etag.as_ref()).await?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(tonic::Response::new(()))
}

pub async fn execute_state_transaction(
    sidecar: &Sidecar,
    request: tonic::Request<rt::ExecuteStateTransactionRequest>,
) -> Result<tonic::Response<()>, Status> {
    let req = request.into_inner();
    let tx = sidecar.shared.db.begin().await.map_err(db_error)?;
    for op in &req.operations {
        let item = op.request.clone().unwrap_or_default();
        match op.operation_type.as_str() {
            "upsert" => upsert(&tx, sidecar, &req.store_name, &item).await?,
            "delete" => delete(&tx, sidecar, &req.store_name, &item.key, item.etag.as_ref()).await?,
            other => return Err(Status::invalid_argument(format!("operation type {other} not supported"))),
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(tonic::Response::new(()))
}
