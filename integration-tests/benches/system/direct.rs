//! The bench's gRPC client: tonic's generated client on one HTTP/2
//! connection driven by hyper, with nothing in between; and [`Unread`],
//! the measured calls: hyper alone, on a connection of its own, answers
//! checked for their status and not decoded.
//!
//! tonic's `Channel` hands every call to a buffer task that owns the
//! connection: one more task hop per call, in the same process and on the
//! same two cores as the service, so the load generator's work would be
//! counted against the service (the limits' driver has no such hop). A load
//! generator should cost as little as it can — h2load would do, these do
//! the same from Rust.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use anyhow::{Context as _, bail};
use futures::future::BoxFuture;
use http::{HeaderValue, header, uri::PathAndQuery};
use http_body::{Body, Frame, SizeHint};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::bytes::Bytes;

/// A tower service sending requests on one HTTP/2 connection.
#[derive(Clone)]
pub struct Direct(SendRequest<tonic::body::Body>);

impl Direct {
    /// Connects to `addr` (`TCP_NODELAY`, as tonic's channel sets) and
    /// drives the connection on a task of its own.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<(Self, http::Uri)> {
        Ok((Self(connect(addr).await?), format!("http://{addr}").parse()?))
    }
}

/// An HTTP/2 connection to `addr` (`TCP_NODELAY`, as tonic's channel sets),
/// driven on a task of its own.
async fn connect<B>(addr: SocketAddr) -> anyhow::Result<SendRequest<B>>
where
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (send, connection) =
        hyper::client::conn::http2::Builder::new(TokioExecutor::new()).handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(send)
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

/// Calls methods the way h2load does: the request encoded and sent as one
/// frame, the answer's bytes read and dropped, only its status checked (a
/// call fails on any status but OK). The limits' driver leaves its rows
/// undecoded the same way. tonic's client (a request stream, an encoder
/// and a decoder, a task to pipe each request body) cost this process,
/// which the service shares, about as much as the service spends on a
/// GetTask: that is the load generator's work, not the service's.
#[derive(Clone)]
pub struct Unread {
    send: SendRequest<Message>,
    authority: http::uri::Authority,
}

impl Unread {
    /// Connects to `addr` as [`Direct::connect`] does.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self { send: connect(addr).await?, authority: addr.to_string().parse()? })
    }

    /// Calls `method` (`/package.Service/Method`) with `message`, as the
    /// holder of `authorization`.
    pub async fn call(
        &self,
        method: &'static str,
        authorization: HeaderValue,
        message: &impl prost::Message,
    ) -> anyhow::Result<()> {
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(PathAndQuery::from_static(method))
            .build()?;
        let request = http::Request::post(uri)
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"))
            .header(header::TE, HeaderValue::from_static("trailers"))
            .header(header::AUTHORIZATION, authorization)
            .body(Message::of(message))?;
        let mut send = self.send.clone();
        send.ready().await?;
        let response = send.send_request(request).await?;
        if response.status() != http::StatusCode::OK {
            bail!("{method}: HTTP {}", response.status());
        }
        // An error without a message comes as headers only ("trailers-only").
        if response.headers().contains_key("grpc-status") {
            return ok(method, response.headers());
        }
        let mut body = response.into_body();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            if let Ok(trailers) = frame?.into_trailers() {
                return ok(method, &trailers);
            }
        }
        bail!("{method}: the answer ended without a status")
    }
}

/// Whether `headers` say the call succeeded.
fn ok(method: &str, headers: &http::HeaderMap) -> anyhow::Result<()> {
    let status = headers.get("grpc-status").context("no grpc-status")?;
    if status != "0" {
        let message = headers.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or_default();
        bail!("{method}: gRPC status {status:?} {message}");
    }
    Ok(())
}

/// One gRPC message as a request body: a single frame, then the end.
pub struct Message(Option<Bytes>);

impl Message {
    fn of(message: &impl prost::Message) -> Self {
        Self(Some(framed(message).into()))
    }
}

/// A gRPC message on the wire: not compressed, its length, its bytes.
pub fn framed(message: &impl prost::Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut framed = Vec::with_capacity(5 + len);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    // Writing into a Vec cannot run out of room.
    let _ = message.encode(&mut framed);
    framed
}

impl Body for Message {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}
