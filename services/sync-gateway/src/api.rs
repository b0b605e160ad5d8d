//! `todo.sync.v1.SyncService/Watch` over gRPC.

use std::pin::Pin;

use futures::Stream;
use shared::{auth::Authenticator, proto::todo::sync::v1 as sync_pb};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{feed::Feed, hub::Hub, watch};

pub use sync_pb::sync_service_server::SyncServiceServer;

/// Responses waiting for a slow gRPC client; beyond this the hub's buffer
/// fills and the client is told to resync.
const STREAM_BUFFER: usize = 64;

#[derive(Clone)]
pub struct SyncApi {
    pub hub: Hub,
    pub feed: Feed,
    pub auth: Authenticator,
}

#[tonic::async_trait]
impl sync_pb::sync_service_server::SyncService for SyncApi {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<sync_pb::WatchResponse, Status>> + Send>>;

    async fn watch(&self, request: Request<sync_pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let authorization =
            request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let after = request.get_ref().after_revision.max(0);
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(watch::run(
            "grpc",
            self.hub.clone(),
            self.feed.clone(),
            user.as_str().to_owned(),
            authorization,
            after,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
