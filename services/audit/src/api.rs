//! `todo.audit.v1.AuditService`: a user's own entries, and verifying them.

use shared::{
    Error,
    auth::Authenticator,
    page_token::{PageTokens, Position},
    proto::{
        time::timestamp_from_micros,
        todo::audit::v1::{self as pb, audit_service_server::AuditService},
    },
};
use tonic::{Request, Response, Status};

use crate::store::{self, entities::audit_entries};

pub use pb::audit_service_server::AuditServiceServer;

pub const DEFAULT_PAGE_SIZE: i32 = 50;

#[derive(Clone)]
pub struct AuditApi {
    db: sea_orm::DatabaseConnection,
    auth: Authenticator,
    tokens: PageTokens,
}

impl AuditApi {
    pub fn new(db: sea_orm::DatabaseConnection, auth: Authenticator, tokens: PageTokens) -> Self {
        Self { db, auth, tokens }
    }
}

fn entry(row: audit_entries::Model) -> pb::AuditEntry {
    pb::AuditEntry {
        sequence: row.sequence,
        event_id: row.event_id,
        event_type: row.event_type,
        task: format!("tasks/{}", row.task_id),
        revision: row.revision,
        occur_time: Some(timestamp_from_micros(row.occur_time)),
        record_time: Some(timestamp_from_micros(row.record_time)),
        event_json: row.event_json,
        previous_hash: row.previous_hash,
        hash: row.hash,
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        Ok(Response::new(self.list(request).await?))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let v = store::verify(&self.db, user.as_str()).await.map_err(Error::from)?;
        Ok(Response::new(pb::VerifyAuditChainResponse {
            valid: v.valid,
            entries_checked: v.checked,
            first_invalid_sequence: v.first_invalid,
            reason: v.reason,
        }))
    }
}

impl AuditApi {
    async fn list(&self, request: Request<pb::ListAuditEntriesRequest>) -> Result<pb::ListAuditEntriesResponse, Error> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let r = request.into_inner();
        let task_id = match r.task.trim() {
            "" => None,
            name => Some(
                name.strip_prefix("tasks/")
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| Error::invalid("INVALID_NAME", "task", "must be a task name tasks/{task}"))?,
            ),
        };
        let page_size = shared::page_token::page_size(r.page_size, DEFAULT_PAGE_SIZE)
            .map_err(|e| Error::invalid("INVALID_PAGE_SIZE", e.field, e.message))?;
        let fingerprint = PageTokens::fingerprint(&[user.as_str(), task_id.unwrap_or(""), &r.oldest_first.to_string()]);
        let after = match r.page_token.as_str() {
            "" => None,
            token => {
                let position = self
                    .tokens
                    .open(token, &fingerprint)
                    .map_err(|e| Error::invalid("INVALID_PAGE_TOKEN", "page_token", e.to_string()))?;
                let malformed = |_| Error::invalid("INVALID_PAGE_TOKEN", "page_token", "malformed");
                Some(position.id.parse::<i64>().map_err(malformed)?)
            }
        };
        let (rows, more) = store::list(&self.db, user.as_str(), task_id, r.oldest_first, page_size, after).await?;
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => {
                self.tokens.issue(&fingerprint, Position { keys: vec![], id: last.sequence.to_string() })
            }
            _ => String::new(),
        };
        Ok(pb::ListAuditEntriesResponse { entries: rows.into_iter().map(entry).collect(), next_page_token })
    }
}
