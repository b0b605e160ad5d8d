#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ListPriorities and PreviewOccurrences.

use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_are_a_ladder_with_names_and_colours(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let list = app.client().list_priorities(as_user(ALICE, pb::ListPrioritiesRequest {})).await.unwrap().into_inner();
    let names: Vec<&str> = list.priorities.iter().map(|p| p.display_name.as_str()).collect();
    assert_eq!(names, ["None", "Low", "Medium", "High", "Urgent"]);
    assert!(list.priorities.iter().enumerate().all(|(i, p)| p.rank == i as i32 && p.color.starts_with('#')));
    app.stop().await;
}

fn preview(rule: pb::RecurrenceRule, start: &str, count: i32) -> pb::PreviewOccurrencesRequest {
    pb::PreviewOccurrencesRequest { rule: Some(rule), start: start.into(), count }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_month_end_clamping_and_dst_safe_times(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    use pb::recurrence_rule::Frequency;
    let monthly =
        pb::RecurrenceRule { frequency: Frequency::Monthly as i32, day_of_month: Some(31), ..Default::default() };
    let out = app
        .client()
        .preview_occurrences(as_user(ALICE, preview(monthly, "2027-01-31T09:00", 4)))
        .await
        .unwrap()
        .into_inner();
    let locals: Vec<&str> = out.occurrences.iter().map(|o| o.local_time.as_str()).collect();
    assert_eq!(locals, ["2027-01-31T09:00:00", "2027-02-28T09:00:00", "2027-03-31T09:00:00", "2027-04-30T09:00:00"]);

    // A daily 09:00 in Berlin stays 09:00 across the March change; the instant moves.
    let daily = pb::RecurrenceRule {
        frequency: Frequency::Daily as i32,
        time_zone: "Europe/Berlin".into(),
        ..Default::default()
    };
    let out = app
        .client()
        .preview_occurrences(as_user(ALICE, preview(daily, "2027-03-27T09:00", 3)))
        .await
        .unwrap()
        .into_inner();
    let hours: Vec<i64> = out.occurrences.iter().map(|o| o.time.unwrap().seconds % 86_400 / 3600).collect();
    assert_eq!(hours, [8, 7, 7]);
    assert!(out.occurrences.iter().all(|o| o.local_time.ends_with("T09:00:00")));
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_rejects_bad_rules_and_starts(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    use pb::recurrence_rule::Frequency;
    let daily = pb::RecurrenceRule { frequency: Frequency::Daily as i32, ..Default::default() };
    let cases = [
        (
            preview(pb::RecurrenceRule { time_zone: "Nowhere/City".into(), ..daily.clone() }, "2027-01-01", 3),
            "rule.time_zone",
        ),
        (preview(pb::RecurrenceRule { interval: Some(0), ..daily.clone() }, "2027-01-01", 3), "rule.interval"),
        (preview(daily.clone(), "next tuesday", 3), "start"),
        (preview(daily.clone(), "2027-01-01", 501), "count"),
    ];
    for (request, field) in cases {
        let err = app.client().preview_occurrences(as_user(ALICE, request)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(shared::status::violated_fields(&err), vec![field.to_owned()]);
    }
    app.stop().await;
}
