#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The token matrix, against every service with a public API (task, audit,
//! notification, sync), each configured with an issuer and an audience:
//! every kind of bad token is UNAUTHENTICATED with one ErrorInfo, and a good
//! one is accepted. (The JWKS path's own matrix, with HS/RS confusion, is in
//! `shared/tests/jwks.rs`.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::StreamExt;
use integration_tests::Running;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use shared::{
    auth::AuthConfig,
    proto::todo::{
        audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
        notification::v1::{self as notification_pb, notification_service_client::NotificationServiceClient},
        sync::v1::{self as sync_pb, sync_service_client::SyncServiceClient},
        task::v1::{self as pb, task_service_client::TaskServiceClient},
    },
    testing::{Backend, fresh_database},
};
use tonic::{Code, Request, Status, transport::Channel};

const SECRET: &str = "token-matrix-secret";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "tasks";

fn auth() -> AuthConfig {
    let mut config = AuthConfig::hs256(SECRET);
    config.issuer = Some(ISSUER.into());
    config.audience = Some(AUDIENCE.into());
    config
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(change: impl Fn(&mut serde_json::Value)) -> serde_json::Value {
    let mut claims =
        serde_json::json!({"sub": "alice", "exp": now() + 600, "iat": now(), "iss": ISSUER, "aud": AUDIENCE});
    change(&mut claims);
    claims
}

fn hs256(secret: &str, claims: &serde_json::Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn remove(key: &'static str) -> impl Fn(&mut serde_json::Value) {
    move |c| drop(c.as_object_mut().unwrap().remove(key))
}

/// (case, authorization value; None = no header).
fn matrix() -> Vec<(&'static str, Option<String>)> {
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(|_| {}).to_string())
    );
    vec![
        ("missing", None),
        ("not a bearer", Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("alice:pw")))),
        ("malformed", bearer("not.a.jwt".into())),
        ("alg none", bearer(unsigned)),
        ("wrong key", bearer(hs256("some-other-secret", &claims(|_| {})))),
        ("expired", bearer(hs256(SECRET, &claims(|c| c["exp"] = (now() - 3600).into())))),
        ("not yet valid", bearer(hs256(SECRET, &claims(|c| c["nbf"] = (now() + 3600).into())))),
        ("issued in the future", bearer(hs256(SECRET, &claims(|c| c["iat"] = (now() + 3600).into())))),
        ("wrong audience", bearer(hs256(SECRET, &claims(|c| c["aud"] = "other".into())))),
        ("no audience", bearer(hs256(SECRET, &claims(remove("aud"))))),
        ("wrong issuer", bearer(hs256(SECRET, &claims(|c| c["iss"] = "https://evil.example".into())))),
        ("no issuer", bearer(hs256(SECRET, &claims(remove("iss"))))),
        ("missing sub", bearer(hs256(SECRET, &claims(remove("sub"))))),
        ("empty sub", bearer(hs256(SECRET, &claims(|c| c["sub"] = "".into())))),
    ]
}

fn with_authorization<T>(message: T, value: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = value {
        request.metadata_mut().insert("authorization", value.parse().unwrap());
    }
    request
}

fn one_error_info(status: &Status) -> usize {
    use prost::Message;
    tonic_types::pb::Status::decode(status.details())
        .map(|s| s.details.iter().filter(|a| a.type_url.ends_with("google.rpc.ErrorInfo")).count())
        .unwrap_or(0)
}

/// Calls `call` with every token of the matrix and a good one.
async fn check<F, Fut, T>(service: &str, call: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    for (case, authorization) in matrix() {
        let err = call(authorization).await.err().unwrap_or_else(|| panic!("{service}: {case} was accepted"));
        assert_eq!(err.code(), Code::Unauthenticated, "{service}: {case}: {err:?}");
        assert_eq!(one_error_info(&err), 1, "{service}: {case}: {err:?}");
    }
    let good = format!("Bearer {}", hs256(SECRET, &claims(|_| {})));
    if let Err(err) = call(Some(good)).await {
        assert_ne!(err.code(), Code::Unauthenticated, "{service}: a good token is accepted: {err:?}");
    }
    println!("TOKENS {service}: {} bad tokens rejected, the good one accepted", matrix().len());
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_rejects_every_kind_of_bad_token() {
    let mut task_settings = task::Settings::for_tests(&fresh_database(Backend::Sqlite).await.unwrap(), SECRET);
    task_settings.auth = auth();
    let app = task::Application::build(task_settings).await.unwrap();
    let task = Running::spawn(app.addr(), |stop| app.run_until(stop));
    let tasks = TaskServiceClient::new(channel(task.addr).await);
    check("task", |a| {
        let mut c = tasks.clone();
        async move { c.list_tasks(with_authorization(pb::ListTasksRequest::default(), a.as_deref())).await }
    })
    .await;

    let mut audit_settings = audit::Settings::for_tests(&fresh_database(Backend::Sqlite).await.unwrap(), SECRET);
    audit_settings.auth = auth();
    let app = audit::Application::build(audit_settings).await.unwrap();
    let audit = Running::spawn(app.addr(), |stop| app.run_until(stop));
    let audits = AuditServiceClient::new(channel(audit.addr).await);
    check("audit", |a| {
        let mut c = audits.clone();
        async move {
            c.list_audit_entries(with_authorization(audit_pb::ListAuditEntriesRequest::default(), a.as_deref())).await
        }
    })
    .await;

    let url = fresh_database(Backend::Sqlite).await.unwrap();
    let mut notification_settings = notification::Settings::for_tests(&url, "http://127.0.0.1:9", SECRET);
    notification_settings.auth = auth();
    let app = notification::Application::build(notification_settings).await.unwrap();
    let notification = Running::spawn(app.addr(), |stop| app.run_until(stop));
    let notifications = NotificationServiceClient::new(channel(notification.addr).await);
    check("notification", |a| {
        let mut c = notifications.clone();
        async move {
            c.get_preferences(with_authorization(notification_pb::GetPreferencesRequest {}, a.as_deref())).await
        }
    })
    .await;

    let mut sync_settings = sync_gateway::Settings::for_tests("http://127.0.0.1:9", SECRET, 16);
    sync_settings.auth = auth();
    let app = sync_gateway::Application::build(sync_settings).await.unwrap();
    let gateway = Running::spawn(app.addr(), |stop| app.run_until(stop));
    let sync = SyncServiceClient::new(channel(gateway.addr).await);
    check("sync", |a| {
        let mut c = sync.clone();
        async move {
            let mut stream = c
                .watch(with_authorization(sync_pb::WatchRequest { after_revision: 0 }, a.as_deref()))
                .await?
                .into_inner();
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(message)) => message.map(|_| ()),
                _ => Ok(()),
            }
        }
    })
    .await;

    for service in [task, audit, notification, gateway] {
        service.stop().await;
    }
}
