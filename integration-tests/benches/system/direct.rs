//! The bench's gRPC client: tonic's generated client on one HTTP/2
//! connection driven by hyper, with nothing in between.
//!
//! tonic's `Channel` hands every call to a buffer task that owns the
//! connection: one more task hop per call, in the same process and on the
//! same two cores as the service, so the load generator's work would be
//! counted against the service (the limits' driver has no such hop). A load
//! generator should cost as little as it can — h2load would do, this does
//! the same from Rust.

use std::{
    net::SocketAddr,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A tower service sending requests on one HTTP/2 connection.
#[derive(Clone)]
pub struct Direct(SendRequest<tonic::body::Body>);

impl Direct {
    /// Connects to `addr` (`TCP_NODELAY`, as tonic's channel sets) and
    /// drives the connection on a task of its own.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<(Self, http::Uri)> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, connection) =
            hyper::client::conn::http2::Builder::new(TokioExecutor::new()).handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok((Self(send), format!("http://{addr}").parse()?))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Direct {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}
