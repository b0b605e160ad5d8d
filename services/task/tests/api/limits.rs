#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The server's limits, as a client meets them: a user over the rate is
//! told to come back later (RESOURCE_EXHAUSTED with a RetryInfo) while other
//! users are served; an oversized request is refused before it is decoded;
//! long bad input is not echoed back in full.

use std::time::Duration;

use shared::{grpc::Rate, proto::todo::task::v1 as pb};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_rate_is_told_when_to_retry_and_others_are_served(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.limits.per_user = Some(Rate { per_second: 1.0, burst: 3.0 })).await;
    for i in 0..3 {
        app.client().create_task(as_user(ALICE, create_request(new_task(&format!("t{i}"))))).await.unwrap();
    }
    let err = app.client().create_task(as_user(ALICE, create_request(new_task("one too many")))).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(shared::status::reason_of(&err).as_deref(), Some("RATE_LIMITED"));
    let retry = err.get_details_retry_info().and_then(|r| r.retry_delay).expect("a RetryInfo");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(1), "{retry:?}");
    app.client().create_task(as_user(BOB, create_request(new_task("bob's")))).await.expect("another user is served");
    assert_eq!(app.task_rows().await, 4, "the throttled call changed nothing");
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_is_refused_and_long_bad_input_is_not_echoed_in_full(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.limits.max_message_bytes = 64 * 1024).await;
    let err = app
        .client()
        .create_task(as_user(ALICE, create_request(pb::Task { description: "x".repeat(100_000), ..new_task("t") })))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(shared::status::reason_of(&err).as_deref(), Some("MESSAGE_TOO_LARGE"));

    // 20 KB of bad input, repeated by the error: still INVALID_ARGUMENT
    // with its details, not a transport error.
    let cron = format!("bad cron {}", "x".repeat(20_000));
    let task = pb::Task {
        recurrence: Some(pb::RecurrenceRule {
            frequency: pb::recurrence_rule::Frequency::Cron as i32,
            cron,
            ..Default::default()
        }),
        ..new_task("t")
    };
    let err = app.client().create_task(as_user(ALICE, create_request(task))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{:?}", err.code());
    assert_eq!(shared::status::violated_fields(&err), ["task.recurrence.cron"]);
    assert!(err.message().len() <= shared::status::MAX_MESSAGE + 4, "message of {} bytes", err.message().len());
    let described = err.get_details_bad_request().unwrap().field_violations[0].description.chars().count();
    assert!(described <= shared::status::MAX_DESCRIPTION + 1, "description of {described} characters");
    app.stop().await;
}
