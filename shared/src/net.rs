//! What every server we run does with its accepted sockets.
//!
//! A gRPC response leaves in more than one write (headers and data, then
//! the trailers). Nagle's algorithm holds a small write back while an
//! earlier one is unacknowledged, and the client delays that ACK (about
//! 40 ms on Linux) because it is waiting for the rest: every such response
//! would stall (`shared/tests/nodelay.rs`). So accepted sockets get
//! `TCP_NODELAY`: the gRPC servers through tonic (`shared::grpc`), the axum
//! servers (metrics, the WebSocket gateway) through [`without_nagle`], whose
//! writes are not known to stall today but would the day one is split.

use std::net::SocketAddr;

use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpStream};

/// `listener`, whose accepted sockets get `TCP_NODELAY`.
pub fn without_nagle(listener: TcpListener) -> impl Listener<Io = TcpStream, Addr = SocketAddr> {
    listener.tap_io(|socket: &mut TcpStream| {
        if let Err(err) = socket.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY on an accepted connection");
        }
    })
}
