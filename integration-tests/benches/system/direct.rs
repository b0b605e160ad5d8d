//! The bench's gRPC client: tonic's generated client on one HTTP/2
//! connection driven by hyper, with nothing in between; and [`Discarding`],
//! which calls the same way but does not decode the answers.
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

use std::marker::PhantomData;

use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

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

/// Calls methods on a [`Direct`] connection and reads each answer without
/// decoding it, as h2load does and as the limits' driver leaves its rows
/// undecoded: turning the answer back into structs is the load generator's
/// work, and it runs on the service's two cores. A call still fails on any
/// status but OK (tonic reads the status from the trailers).
#[derive(Clone)]
pub struct Discarding(tonic::client::Grpc<Direct>);

impl Discarding {
    pub fn new(connection: Direct, origin: http::Uri) -> Self {
        Self(tonic::client::Grpc::with_origin(connection, origin))
    }

    /// Calls `method` (`/package.Service/Method`) with `request`.
    pub async fn call<M>(&self, method: &'static str, request: tonic::Request<M>) -> anyhow::Result<()>
    where
        M: prost::Message + Send + 'static,
    {
        let mut grpc = self.0.clone();
        grpc.ready().await?;
        grpc.unary(request, PathAndQuery::from_static(method), Unread(PhantomData)).await?;
        Ok(())
    }
}

/// Encodes requests with prost; skips the bytes of answers.
struct Unread<M>(PhantomData<M>);

impl<M: prost::Message + Send + 'static> Codec for Unread<M> {
    type Encode = M;
    type Decode = ();
    type Encoder = Unread<M>;
    type Decoder = Unread<()>;

    fn encoder(&mut self) -> Self::Encoder {
        Unread(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        Unread(PhantomData)
    }
}

impl<M: prost::Message> Encoder for Unread<M> {
    type Item = M;
    type Error = tonic::Status;

    fn encode(&mut self, item: M, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for Unread<()> {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Self::Error> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
