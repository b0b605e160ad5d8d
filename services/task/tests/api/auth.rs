#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every RPC needs a valid bearer token.

use std::time::Duration;

use shared::{auth::issue_hs256_token, proto::todo::task::v1 as pb};
use tonic::{Code, Request};

use crate::helpers::*;

fn with_header<T>(value: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", value.parse().unwrap());
    request
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_token_are_unauthenticated(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let err = app.client().list_tasks(Request::new(pb::ListTasksRequest::default())).await.unwrap_err();
    assert_error(&err, Code::Unauthenticated, "MISSING_CREDENTIALS", None);

    let forged = issue_hs256_token("another-secret", ALICE, Duration::from_secs(60)).unwrap();
    let expired = {
        // jsonwebtoken allows 60 s of leeway; be well past it.
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = shared::auth::Claims { sub: ALICE.into(), exp: 1_000_000, iat: None, nbf: None };
        encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
    };
    for header in [
        format!("Bearer {forged}"),
        format!("Bearer {expired}"),
        "Bearer not.a.jwt".into(),
        format!("Basic {}", token(ALICE)),
    ] {
        let err = app.client().create_task(with_header(&header, create_request(new_task("x")))).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{header}: {err:?}");
    }
    assert_eq!(app.task_rows().await, 0);
    app.stop().await;
}
