#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Create, get, update, delete/undelete, complete/reopen: happy paths and
//! every bad input, which must change nothing.

use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn zoned(local: &str, zone: &str) -> Option<pb::Due> {
    Some(pb::Due {
        value: Some(pb::due::Value::DateTime(pb::ZonedDateTime { local_time: local.into(), time_zone: zone.into() })),
    })
}

fn daily(interval: Option<i32>) -> pb::RecurrenceRule {
    pb::RecurrenceRule { frequency: pb::recurrence_rule::Frequency::Daily as i32, interval, ..Default::default() }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_the_task_with_server_assigned_fields(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = pb::Task {
        title: "  Buy milk  ".into(),
        description: "2 litres".into(),
        priority: pb::Priority::High as i32,
        due: zoned("2026-12-01T09:00", "Europe/Berlin"),
        reminders: vec![pb::Reminder {
            id: "ignored".into(),
            trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds: 900, nanos: 0 })),
        }],
        recurrence: Some(daily(None)),
        // Output-only fields are ignored, not rejected.
        state: pb::State::Completed as i32,
        revision: 99,
        etag: "\"x\"".into(),
        ..Default::default()
    };
    let created = app.create(ALICE, task).await;

    assert!(created.name.starts_with("tasks/"));
    assert_eq!(created.title, "Buy milk");
    assert_eq!(created.state, pb::State::Open as i32);
    assert_eq!(created.priority, pb::Priority::High as i32);
    assert_eq!(created.revision, 1);
    assert_eq!(created.etag, "\"1\"");
    assert_eq!(created.reminders.len(), 1);
    assert_ne!(created.reminders[0].id, "ignored");
    assert_eq!(created.recurrence.as_ref().unwrap().interval, Some(1));
    assert!(created.create_time.is_some() && created.complete_time.is_none());

    let fetched = app.get(ALICE, &created.name).await.unwrap();
    assert_eq!(fetched, created);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_creates_name_the_field_and_change_nothing(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cases: Vec<(&str, pb::Task, &str)> = vec![
        ("blank title", new_task("   "), "task.title"),
        ("oversized title", new_task(&"x".repeat(501)), "task.title"),
        ("oversized description", pb::Task { description: "d".repeat(20_001), ..new_task("t") }, "task.description"),
        ("unknown priority", pb::Task { priority: 42, ..new_task("t") }, "task.priority"),
        (
            "bad time zone",
            pb::Task { due: zoned("2026-12-01T09:00", "Mars/Olympus"), ..new_task("t") },
            "task.due.date_time.time_zone",
        ),
        (
            "bad local time",
            pb::Task { due: zoned("2026-12-01 09:00", "UTC"), ..new_task("t") },
            "task.due.date_time.local_time",
        ),
        (
            "bad date",
            pb::Task { due: Some(pb::Due { value: Some(pb::due::Value::Date("2026-02-30".into())) }), ..new_task("t") },
            "task.due.date",
        ),
        (
            "interval 0",
            pb::Task { due: zoned("2026-12-01T09:00", "UTC"), recurrence: Some(daily(Some(0))), ..new_task("t") },
            "task.recurrence.interval",
        ),
        (
            "end date and count",
            pb::Task {
                due: zoned("2026-12-01T09:00", "UTC"),
                recurrence: Some(pb::RecurrenceRule { until_date: "2027-01-01".into(), count: Some(3), ..daily(None) }),
                ..new_task("t")
            },
            "task.recurrence.count",
        ),
        (
            "cron that does not parse",
            pb::Task {
                recurrence: Some(pb::RecurrenceRule {
                    frequency: pb::recurrence_rule::Frequency::Cron as i32,
                    cron: "every monday".into(),
                    ..Default::default()
                }),
                ..new_task("t")
            },
            "task.recurrence.cron",
        ),
        (
            "calendar recurrence without due",
            pb::Task { recurrence: Some(daily(None)), ..new_task("t") },
            "task.recurrence",
        ),
        (
            "reminder relative to a missing due",
            pb::Task {
                reminders: vec![pb::Reminder {
                    id: String::new(),
                    trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds: 60, nanos: 0 })),
                }],
                ..new_task("t")
            },
            "task.reminders[0].before_due",
        ),
        ("malformed tag name", pb::Task { tags: vec!["work".into()], ..new_task("t") }, "task.tags[0]"),
    ];
    let some_tag = format!("tags/{}", uuid::Uuid::new_v4());
    cases.push((
        "the same tag twice",
        pb::Task { tags: vec![some_tag.clone(), some_tag], ..new_task("t") },
        "task.tags[1]",
    ));
    cases.push((
        "a sixth weekday of the month",
        pb::Task {
            due: zoned("2026-12-07T09:00", "UTC"),
            recurrence: Some(pb::RecurrenceRule {
                frequency: pb::recurrence_rule::Frequency::Monthly as i32,
                nth_weekday: Some(pb::recurrence_rule::NthWeekday { n: 6, weekday: 1 }),
                ..Default::default()
            }),
            ..new_task("t")
        },
        "task.recurrence.nth_weekday.n",
    ));
    // A well-formed name of a tag that does not exist.
    cases.push((
        "unknown tag",
        pb::Task { tags: vec![format!("tags/{}", uuid::Uuid::new_v4())], ..new_task("t") },
        "task.tags[0]",
    ));

    for (case, task, field) in cases {
        let err = app.client().create_task(as_user(ALICE, create_request(task))).await.expect_err(case);
        assert_eq!(err.code(), Code::InvalidArgument, "{case}: {err:?}");
        assert_eq!(shared::status::violated_fields(&err), vec![field.to_owned()], "{case}: {err:?}");
        assert!(shared::status::reason_of(&err).is_some(), "{case}: every error carries an ErrorInfo");
    }
    let err = app.client().create_task(as_user(ALICE, pb::CreateTaskRequest::default())).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "MISSING_FIELD", Some("task"));
    let err = app
        .client()
        .create_task(as_user(ALICE, pb::CreateTaskRequest { task: Some(new_task("t")), request_id: "nope".into() }))
        .await
        .unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_REQUEST_ID", Some("request_id"));

    assert_eq!(app.task_rows().await, 0);
    assert!(app.outbox_rows().await.is_empty());
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_twice_creates_one_task(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = || pb::CreateTaskRequest { task: Some(new_task("once")), request_id: request_id.clone() };

    let first = app.client().create_task(as_user(ALICE, request())).await.unwrap().into_inner();
    let replay = app.client().create_task(as_user(ALICE, request())).await.unwrap().into_inner();
    assert_eq!(first, replay);

    // Concurrent replays too.
    let racers = (0..8).map(|_| {
        let mut client = app.client();
        let req = request();
        async move { client.create_task(as_user(ALICE, req)).await.unwrap().into_inner() }
    });
    for task in futures::future::join_all(racers).await {
        assert_eq!(task.name, first.name);
    }
    assert_eq!(app.task_rows().await, 1);
    assert_eq!(app.outbox_rows().await.len(), 1);

    // The same id from another user is another request.
    let bobs = app.client().create_task(as_user(BOB, request())).await.unwrap().into_inner();
    assert_ne!(bobs.name, first.name);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_of_a_missing_or_malformed_name_fails_clearly(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let err = app.get(ALICE, &format!("tasks/{}", uuid::Uuid::new_v4())).await.unwrap_err();
    assert_error(&err, Code::NotFound, "TASK_NOT_FOUND", None);
    let err = app.get(ALICE, "tasks/not-a-uuid").await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_NAME", Some("name"));
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_only_the_masked_fields(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create(ALICE, pb::Task { description: "keep".into(), ..new_task("old") }).await;
    let patch = pb::Task {
        name: task.name.clone(),
        title: "new".into(),
        description: "ignored: not in mask".into(),
        priority: pb::Priority::Urgent as i32,
        ..Default::default()
    };
    let updated = app
        .client()
        .update_task(as_user(
            ALICE,
            pb::UpdateTaskRequest {
                task: Some(patch),
                update_mask: mask(&["title", "priority", "update_time"]),
                etag: task.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "new");
    assert_eq!(updated.priority, pb::Priority::Urgent as i32);
    assert_eq!(updated.description, "keep");
    assert!(updated.revision > task.revision);
    assert_ne!(updated.etag, task.etag);

    // An empty mask means every populated field.
    let patch = pb::Task { name: task.name.clone(), description: "changed".into(), ..Default::default() };
    let updated = app
        .client()
        .update_task(as_user(
            ALICE,
            pb::UpdateTaskRequest { task: Some(patch), update_mask: None, etag: String::new() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.title.as_str(), updated.description.as_str()), ("new", "changed"));

    // `*` replaces every mutable field, clearing what is not sent.
    let patch = pb::Task { name: task.name.clone(), title: "only title".into(), ..Default::default() };
    let replaced = app
        .client()
        .update_task(as_user(
            ALICE,
            pb::UpdateTaskRequest { task: Some(patch), update_mask: mask(&["*"]), etag: String::new() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.description, "");
    assert_eq!(replaced.priority, pb::Priority::None as i32);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_rejects_stale_etags_and_bad_masks_without_changing_anything(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "v1").await;
    let update = |paths: &[&str], etag: &str, title: &str| pb::UpdateTaskRequest {
        task: Some(pb::Task { name: task.name.clone(), title: title.into(), ..Default::default() }),
        update_mask: mask(paths),
        etag: etag.into(),
    };
    app.client().update_task(as_user(ALICE, update(&["title"], &task.etag, "v2"))).await.unwrap();

    let err = app.client().update_task(as_user(ALICE, update(&["title"], &task.etag, "v3"))).await.unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH", None);
    let err = app.client().update_task(as_user(ALICE, update(&["colour"], "", "v3"))).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "UNKNOWN_FIELD", Some("update_mask.paths[0]"));
    let err = app.client().update_task(as_user(ALICE, update(&["title"], "", ""))).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_TASK", Some("task.title"));

    let current = app.get(ALICE, &task.name).await.unwrap();
    assert_eq!(current.title, "v2");
    assert_eq!(app.outbox_rows().await.len(), 2, "create + one successful update");
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_only_fields_in_an_update_mask_are_ignored_one_way(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "v1").await;
    // Every OUTPUT_ONLY field of Task (as the protos mark them; shared's
    // tests pin the list), `name` included, with a value that would change
    // it if it were taken.
    let output_only = shared::proto::output_only_fields::<pb::Task>();
    assert!(output_only.len() >= 10, "{output_only:?}");
    let mut paths: Vec<&str> = output_only.iter().map(String::as_str).collect();
    paths.push("title");
    let request = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            name: task.name.clone(),
            title: "v2".into(),
            state: pb::State::Completed as i32,
            series_id: uuid::Uuid::new_v4().to_string(),
            occurrence_index: 7,
            revision: 99,
            ..Default::default()
        }),
        update_mask: mask(&paths),
        etag: String::new(),
    };
    let updated = app.client().update_task(as_user(ALICE, request)).await.unwrap().into_inner();
    assert_eq!(updated.title, "v2", "the mutable field changed");
    assert_eq!(updated.state, task.state, "state is not changed by an update");
    assert_eq!((updated.series_id, updated.occurrence_index), (task.series_id, task.occurrence_index));
    assert_eq!(updated.create_time, task.create_time);
    assert_eq!(updated.revision, task.revision + 1, "the server's revision, not the request's");
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_and_undelete_follow_aip_164(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "to delete").await;
    let deleted = app
        .client()
        .delete_task(as_user(ALICE, pb::DeleteTaskRequest { name: task.name.clone(), etag: task.etag.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.delete_time.is_some());
    // Still readable, but not listed unless asked.
    assert!(app.get(ALICE, &task.name).await.unwrap().delete_time.is_some());
    assert!(app.list(ALICE, pb::ListTasksRequest::default()).await.unwrap().tasks.is_empty());
    let with_deleted =
        app.list(ALICE, pb::ListTasksRequest { show_deleted: true, ..Default::default() }).await.unwrap();
    assert_eq!(with_deleted.tasks.len(), 1);

    let err = app
        .client()
        .delete_task(as_user(ALICE, pb::DeleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap_err();
    assert_error(&err, Code::NotFound, "TASK_NOT_FOUND", None);
    let err = app
        .client()
        .complete_task(as_user(ALICE, pb::CompleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "TASK_DELETED", None);

    let restored = app
        .client()
        .undelete_task(as_user(ALICE, pb::UndeleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert!(restored.delete_time.is_none());
    let err = app
        .client()
        .undelete_task(as_user(ALICE, pb::UndeleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap_err();
    assert_error(&err, Code::AlreadyExists, "TASK_NOT_DELETED", None);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_and_reopen_are_idempotent_state_changes(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "do it").await;
    let complete = |etag: &str| pb::CompleteTaskRequest { name: task.name.clone(), etag: etag.into() };

    let done = app.client().complete_task(as_user(ALICE, complete(&task.etag))).await.unwrap().into_inner();
    assert_eq!(done.state, pb::State::Completed as i32);
    assert!(done.complete_time.is_some());
    let again = app.client().complete_task(as_user(ALICE, complete(""))).await.unwrap().into_inner();
    assert_eq!(again.revision, done.revision, "completing a completed task changes nothing");
    let err = app.client().complete_task(as_user(ALICE, complete(&task.etag))).await.unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH", None);

    let reopened = app
        .client()
        .reopen_task(as_user(ALICE, pb::ReopenTaskRequest { name: task.name.clone(), etag: done.etag.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reopened.state, pb::State::Open as i32);
    assert!(reopened.complete_time.is_none());
    assert_eq!(app.outbox_rows().await.len(), 3, "create, complete, reopen; the no-op published nothing");
    app.stop().await;
}

/// Many GetTasks at once (on PostgreSQL they are read together, several
/// lookups to a statement): each caller gets its own task, with its tags,
/// and neither another user's task nor a missing one.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_each_answer_their_own_caller(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let tag = app.create_tag(ALICE, "errands").await;
    let mut owned = Vec::new();
    for i in 0..12 {
        let tags = if i % 3 == 0 { vec![tag.name.clone()] } else { vec![] };
        owned.push((ALICE, app.create(ALICE, pb::Task { tags, ..new_task(&format!("alice {i}")) }).await));
        owned.push((BOB, app.create_titled(BOB, &format!("bob {i}")).await));
    }
    let missing = format!("tasks/{}", uuid::Uuid::new_v4());

    let calls = (0..300).map(|i| {
        let (owner, task) = &owned[i % owned.len()];
        let (asker, expected) = match i % 3 {
            0 | 1 => (*owner, Some(task.clone())),
            // The other user asks for it.
            _ => (if *owner == ALICE { BOB } else { ALICE }, None),
        };
        let name = if i % 10 == 9 { missing.clone() } else { task.name.clone() };
        let expected = if name == missing { None } else { expected };
        let mut client = app.client();
        async move { (client.get_task(as_user(asker, pb::GetTaskRequest { name })).await, expected) }
    });
    for (answer, expected) in futures::future::join_all(calls).await {
        match expected {
            Some(task) => {
                let got = answer.expect("own task").into_inner();
                assert_eq!(got, task);
            }
            None => assert_eq!(answer.expect_err("not the caller's").code(), Code::NotFound),
        }
    }
    let tagged = owned.iter().filter(|(_, t)| !t.tags.is_empty()).count();
    assert_eq!(tagged, 4, "some answers carry tags");
    app.stop().await;
}
