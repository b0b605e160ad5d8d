//! The WebSocket endpoint: `GET /v1/watch?after_revision=N`, authenticated
//! with `Authorization: Bearer <JWT>` or, for browsers that cannot set
//! headers on a WebSocket, `?access_token=<JWT>`. Each message is a
//! `todo.sync.v1.WatchResponse` as proto3 JSON text: `{"change": {...}}`,
//! `{"caughtUp": {"revision": "7"}}` or `{"resync": {...}}`.

use axum::{
    Router,
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use shared::{auth::Authenticator, proto::json, proto::todo::sync::v1 as sync_pb};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_util::sync::CancellationToken;

use crate::{feed::Feed, hub::Hub, watch};

#[derive(Clone)]
pub struct WsState {
    pub hub: Hub,
    pub feed: Feed,
    pub auth: Authenticator,
}

#[derive(Deserialize)]
struct Params {
    access_token: Option<String>,
    after_revision: Option<i64>,
}

pub fn router(state: WsState) -> Router {
    Router::new().route("/v1/watch", get(upgrade)).with_state(state)
}

/// Serves the WebSocket endpoint until `shutdown`.
///
/// Accepted sockets get `TCP_NODELAY` (`shared::net`): a pushed change is
/// not held back by Nagle's algorithm.
pub async fn serve(listener: TcpListener, state: WsState, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(shared::net::without_nagle(listener), router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn upgrade(
    State(state): State<WsState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or(params.access_token);
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "missing bearer token").into_response();
    };
    let user = match state.auth.verify(&token).await {
        Ok(user) => user,
        Err(err) => return (StatusCode::UNAUTHORIZED, err.to_string()).into_response(),
    };
    let after = params.after_revision.unwrap_or(0).max(0);
    ws.on_upgrade(move |socket| session(socket, state, user.as_str().to_owned(), format!("Bearer {token}"), after))
}

async fn session(mut socket: WebSocket, state: WsState, user: String, authorization: String, after: i64) {
    let (tx, mut rx) = mpsc::channel(64);
    let watcher = tokio::spawn(watch::run("websocket", state.hub, state.feed, user, authorization, after, tx));
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { break };
                let (text, last) = match item {
                    Ok(response) => {
                        let last = matches!(response.kind, Some(sync_pb::watch_response::Kind::Resync(_)));
                        (json::to_value(&response).map(|v| v.to_string()).unwrap_or_default(), last)
                    }
                    Err(status) => (serde_json::json!({"error": {"code": status.code() as i32, "message": status.message()}}).to_string(), true),
                };
                if socket.send(Message::Text(text.into())).await.is_err() || last {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {} // clients only listen
            },
        }
    }
    watcher.abort();
    let _ = socket.send(Message::Close(None)).await;
}
