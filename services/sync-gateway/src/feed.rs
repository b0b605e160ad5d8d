//! The task service's change feed (`ListTaskChanges`), called with the
//! client's own token so the task service enforces the same isolation.
//!
//! Through Dapr it goes to the local sidecar with `dapr-app-id: task`
//! (native gRPC proxying, the recommended form of service invocation).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use shared::{
    Error,
    proto::todo::task::v1::{self as pb, task_service_client::TaskServiceClient},
};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

#[derive(Clone)]
pub struct Feed {
    channel: Channel,
    /// `Some(app id)` when `channel` is the sidecar.
    app_id: Option<String>,
}

impl Feed {
    /// `endpoint` is the sidecar (with `app_id`) or the task service itself.
    pub fn new(endpoint: &str, app_id: Option<String>) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(endpoint.to_owned())?.connect_lazy();
        Ok(Self { channel, app_id })
    }

    /// One page of changes after `after`, oldest first, and whether more
    /// follow. A task service (or its sidecar) that is briefly unavailable —
    /// starting, restarting, not yet healthy — is retried for a while.
    pub async fn changes(&self, authorization: &str, after: i64) -> Result<(Vec<pb::TaskEvent>, bool), Status> {
        (|| self.changes_once(authorization, after))
            .retry(
                ExponentialBuilder::new()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(1))
                    .with_total_delay(Some(Duration::from_secs(15)))
                    .without_max_times(),
            )
            .when(is_transient)
            .notify(|status, _| {
                tracing::debug!(code = ?status.code(), message = status.message(), "change feed unavailable, retrying");
            })
            .await
    }

    async fn changes_once(&self, authorization: &str, after: i64) -> Result<(Vec<pb::TaskEvent>, bool), Status> {
        let mut request = Request::new(pb::ListTaskChangesRequest { after_revision: after, page_size: 500 });
        let metadata = request.metadata_mut();
        // The caller's own header, passed on: it was valid metadata once.
        let auth = MetadataValue::try_from(authorization)
            .map_err(|_| Error::Unauthenticated(shared::auth::AuthError::NotBearer))?;
        metadata.insert("authorization", auth);
        if let Some(app_id) = &self.app_id {
            let id = MetadataValue::try_from(app_id.as_str())
                .map_err(|_| Error::internal(format!("the task app id `{app_id}` is not valid metadata")))?;
            metadata.insert("dapr-app-id", id);
        }
        let response = TaskServiceClient::new(self.channel.clone()).list_task_changes(request).await?.into_inner();
        Ok((response.changes, response.has_more))
    }
}

/// Codes that say "not now" rather than "never" (a sidecar answers INTERNAL
/// while its app is not healthy yet).
fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DeadlineExceeded
    )
}
