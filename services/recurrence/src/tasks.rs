//! The task service's internal API (`todo.task.v1.TaskInternalService`),
//! reached through this app's sidecar: Dapr gRPC proxying, the call sent to
//! the sidecar with `dapr-app-id: <the task app>`.

use shared::{
    Error,
    config::Secret,
    proto::todo::task::v1::{self as pb, task_internal_service_client::TaskInternalServiceClient},
};
use tonic::{
    Code, Request,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};

/// The task app, through the sidecar. Cheap to clone (one connection,
/// made on first use).
#[derive(Clone)]
pub struct TaskApp {
    channel: Channel,
    app_id: MetadataValue<Ascii>,
    api_token: Option<MetadataValue<Ascii>>,
}

impl TaskApp {
    /// `sidecar`: the sidecar's gRPC endpoint; `app_id`: the task app's
    /// Dapr id; `api_token`: this app's `DAPR_API_TOKEN`, when set.
    pub fn new(sidecar: &str, app_id: &str, api_token: Option<&Secret>) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(sidecar.to_owned())?.tcp_nodelay(true).connect_lazy();
        let app_id = app_id.parse().map_err(|_| anyhow::anyhow!("TASK_APP_ID `{app_id}` is not ASCII"))?;
        let api_token = api_token
            .map(|t| t.expose().parse())
            .transpose()
            .map_err(|_| anyhow::anyhow!("DAPR_API_TOKEN is not ASCII"))?;
        Ok(Self { channel, app_id, api_token })
    }

    /// Creates instance `index` of `series_id` for `user_id` (idempotent in
    /// the task service) and returns it.
    pub async fn create_occurrence(
        &self,
        user_id: &str,
        series_id: &str,
        index: i32,
        task: pb::Task,
    ) -> Result<pb::Task, Error> {
        let mut request = Request::new(pb::CreateOccurrenceRequest {
            user_id: user_id.to_owned(),
            task: Some(task),
            series_id: series_id.to_owned(),
            occurrence_index: index,
        });
        request.metadata_mut().insert("dapr-app-id", self.app_id.clone());
        if let Some(token) = &self.api_token {
            request.metadata_mut().insert("dapr-api-token", token.clone());
        }
        let mut client = TaskInternalServiceClient::new(self.channel.clone());
        match client.create_occurrence(request).await {
            Ok(created) => Ok(created.into_inner()),
            // The task service refuses this instance for good (its content
            // or the series): redelivering cannot help.
            Err(status) if matches!(status.code(), Code::InvalidArgument | Code::FailedPrecondition) => {
                Err(Error::malformed_by("the task service refused the instance", status))
            }
            // The task app or a sidecar is down, starting or overloaded
            // (bounded by resiliency and the dead-letter topic).
            Err(status) => Err(Error::unavailable("the task service (CreateOccurrence)", status)),
        }
    }
}
