#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `TaskInternalService.CreateOccurrence`, called as the recurrence
//! service's sidecar calls it: with the app token when the app has one,
//! creating each instance of a series once, refusing bad input by field.

use shared::{
    config::Secret,
    proto::todo::task::v1::{self as pb, task_internal_service_client::TaskInternalServiceClient},
};
use tonic::{Code, Request};

use crate::helpers::*;

const APP_TOKEN: &str = "the-app-token";

fn occurrence(series_id: &str, index: i32, title: &str) -> pb::CreateOccurrenceRequest {
    pb::CreateOccurrenceRequest {
        user_id: ALICE.to_owned(),
        task: Some(new_task(title)),
        series_id: series_id.to_owned(),
        occurrence_index: index,
    }
}

fn with_token(message: pb::CreateOccurrenceRequest, token: Option<&str>) -> Request<pb::CreateOccurrenceRequest> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("dapr-api-token", token.parse().unwrap());
    }
    request
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_is_created_once_and_only_through_the_sidecar(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app_with(backend, |s| s.dapr_tokens.app_api_token = Some(Secret::new(APP_TOKEN))).await;
    let first = app.create_titled(ALICE, "water the plants").await;
    let series = first.name.trim_start_matches("tasks/").to_owned();
    let mut internal = TaskInternalServiceClient::connect(format!("http://{}", app.addr)).await.unwrap();

    for token in [None, Some("a-guess")] {
        let refused = internal.create_occurrence(with_token(occurrence(&series, 1, "next"), token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{token:?}: {refused:?}");
        assert_eq!(shared::status::reason_of(&refused).as_deref(), Some("INVALID_APP_API_TOKEN"));
    }
    assert_eq!(app.task_rows().await, 1, "a refused call creates nothing");

    let created = internal.create_occurrence(with_token(occurrence(&series, 1, "next"), Some(APP_TOKEN))).await;
    let created = created.unwrap().into_inner();
    assert_eq!((created.series_id.as_str(), created.occurrence_index), (series.as_str(), 1));
    let again = internal.create_occurrence(with_token(occurrence(&series, 1, "next"), Some(APP_TOKEN))).await;
    assert_eq!(again.unwrap().into_inner().name, created.name, "the same instance, not a second one");
    assert_eq!(app.task_rows().await, 2);

    let bad = internal.create_occurrence(with_token(occurrence("not-a-task-id", 2, "x"), Some(APP_TOKEN))).await;
    let bad = bad.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(shared::status::violated_fields(&bad), ["series_id"]);
    assert_eq!(app.task_rows().await, 2);
    app.stop().await;
}
