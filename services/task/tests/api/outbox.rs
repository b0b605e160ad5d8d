#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The transactional outbox: one event row per change, in revision order,
//! written atomically with the change.

use prost::Message;
use sea_orm::ConnectionTrait;
use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mutation_writes_exactly_one_event_in_revision_order(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let mut c = app.client();
    let task = app.create_titled(ALICE, "life cycle").await;
    let name = task.name.clone();
    c.update_task(as_user(
        ALICE,
        pb::UpdateTaskRequest {
            task: Some(pb::Task {
                name: name.clone(),
                title: "renamed".into(),
                priority: pb::Priority::Low as i32,
                ..Default::default()
            }),
            update_mask: mask(&["title", "priority"]),
            etag: String::new(),
        },
    ))
    .await
    .unwrap();
    c.complete_task(as_user(ALICE, pb::CompleteTaskRequest { name: name.clone(), etag: String::new() })).await.unwrap();
    c.reopen_task(as_user(ALICE, pb::ReopenTaskRequest { name: name.clone(), etag: String::new() })).await.unwrap();
    c.delete_task(as_user(ALICE, pb::DeleteTaskRequest { name: name.clone(), etag: String::new() })).await.unwrap();
    c.undelete_task(as_user(ALICE, pb::UndeleteTaskRequest { name: name.clone(), etag: String::new() })).await.unwrap();

    let rows = app.outbox_rows().await;
    let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "todo.task.created.v1",
            "todo.task.updated.v1",
            "todo.task.completed.v1",
            "todo.task.reopened.v1",
            "todo.task.deleted.v1",
            "todo.task.restored.v1"
        ]
    );
    let revisions: Vec<i64> = rows.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3, 4, 5, 6]);

    for row in &rows {
        let event = pb::TaskEvent::decode(row.payload.as_slice()).unwrap();
        assert_eq!(event.event_id, row.event_id);
        assert_eq!(event.user_id, ALICE);
        assert_eq!(format!("tasks/{}", event.task_id), name);
        assert_eq!(event.revision, row.revision);
        assert_eq!(event.task.as_ref().unwrap().revision, row.revision, "snapshot is the task after the change");
        assert!(event.occur_time.is_some());
        assert!(row.publish_time.is_none());
    }
    let updated = pb::TaskEvent::decode(rows[1].payload.as_slice()).unwrap();
    match updated.change {
        Some(pb::task_event::Change::Updated(u)) => assert_eq!(u.changed_paths, ["title", "priority"]),
        other => panic!("expected an update, got {other:?}"),
    }
    app.stop().await;
}

/// On PostgreSQL a create is one statement that allocates the revision and
/// adds it to the stored event (migration m20261202_000001); on SQLite the
/// service encodes the event with it. Both must store the event the
/// response describes, in both forms, for one-byte and longer revisions.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_event_is_stored_with_the_revision_the_write_gave(#[values(Postgres, Sqlite)] backend: Backend) {
    use shared::proto::json;
    let app = spawn_app(backend).await;
    let first = app.create_titled(ALICE, "first").await;
    app.db
        .execute_unprepared(&format!("UPDATE user_revisions SET revision = 299 WHERE user_id = '{ALICE}'"))
        .await
        .unwrap();
    // A title that spells what the statement looks for changes nothing.
    let second = app.create_titled(ALICE, "second \"quoted\" ü \"revision\":\"-9223372036854775808\" \u{1}").await;
    assert_eq!((first.revision, second.revision), (1, 300));

    let rows = app.outbox_rows().await;
    assert_eq!(rows.len(), 2);
    for (row, task) in rows.iter().zip([&first, &second]) {
        let event = pb::TaskEvent::decode(row.payload.as_slice()).unwrap();
        assert_eq!(event.revision, task.revision);
        assert_eq!(event.task.as_ref(), Some(task), "the snapshot is the task the response returned");
        assert_eq!(row.revision, task.revision);
        let stored: serde_json::Value = serde_json::from_str(row.data_json.as_deref().unwrap()).unwrap();
        let canonical = json::encoded_to_raw::<pb::TaskEvent>(&event.encode_to_vec()).unwrap();
        let canonical: serde_json::Value = serde_json::from_str(canonical.get()).unwrap();
        assert_eq!(stored, canonical, "the JSON the relay publishes says what the protobuf says");
        assert_eq!(stored["task"]["etag"], format!("\"{}\"", task.revision));
    }
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_leaves_neither_the_change_nor_the_event(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "before").await;
    // Break the outbox so the event write, the last step, fails.
    app.db.execute_unprepared("ALTER TABLE outbox RENAME TO outbox_broken").await.unwrap();

    let err = app.client().create_task(as_user(ALICE, create_request(new_task("lost")))).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    let err = app
        .client()
        .complete_task(as_user(ALICE, pb::CompleteTaskRequest { name: task.name.clone(), etag: String::new() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);

    app.db.execute_unprepared("ALTER TABLE outbox_broken RENAME TO outbox").await.unwrap();
    assert_eq!(app.task_rows().await, 1, "the failed create left no task");
    let current = app.get(ALICE, &task.name).await.unwrap();
    assert_eq!(current, task, "the failed complete left the task as it was");
    assert_eq!(app.outbox_rows().await.len(), 1);

    // The revision counter rolled back too: the next change is revision 2.
    let next = app.create_titled(ALICE, "after").await;
    assert_eq!(next.revision, 2);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_one_user_get_distinct_ordered_revisions(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let writers = (0..20).map(|i| {
        let mut client = app.client();
        async move {
            client.create_task(as_user(ALICE, create_request(new_task(&format!("t{i}"))))).await.unwrap().into_inner()
        }
    });
    let mut revisions: Vec<i64> = futures::future::join_all(writers).await.iter().map(|t| t.revision).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=20).collect::<Vec<_>>());
    let rows = app.outbox_rows().await;
    let in_commit_order: Vec<i64> = rows.iter().map(|r| r.revision).collect();
    assert_eq!(in_commit_order, (1..=20).collect::<Vec<_>>(), "outbox order = revision order");
    app.stop().await;
}

/// Concurrent updates of one task, half of its title and half of its
/// description (on PostgreSQL each writes the task and its event in one
/// statement, under the user's revision lock): every update gets its own
/// revision and applies to the task as the one before it left it (an update
/// that read the task from before would put back the other field), the
/// outbox holds the events in revision order, and each event's snapshot is
/// the task its update returned.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_one_task_are_ordered_and_none_is_lost(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "contended").await;
    let updates = (0..20).map(|i| {
        let (mut client, name) = (app.client(), task.name.clone());
        async move {
            let (patch, field) = match i % 2 {
                0 => (pb::Task { name, title: format!("title {i}"), ..Default::default() }, "title"),
                _ => (pb::Task { name, description: format!("description {i}"), ..Default::default() }, "description"),
            };
            let request =
                pb::UpdateTaskRequest { task: Some(patch.clone()), update_mask: mask(&[field]), etag: String::new() };
            (patch, client.update_task(as_user(ALICE, request)).await.unwrap().into_inner())
        }
    });
    let mut updated = futures::future::join_all(updates).await;
    updated.sort_by_key(|(_, t)| t.revision);
    let revisions: Vec<i64> = updated.iter().map(|(_, t)| t.revision).collect();
    assert_eq!(revisions, (2..=21).collect::<Vec<_>>());
    let (mut title, mut description) = (task.title.clone(), task.description.clone());
    for (patch, returned) in &updated {
        match patch.title.is_empty() {
            false => title.clone_from(&patch.title),
            true => description.clone_from(&patch.description),
        }
        assert_eq!((&returned.title, &returned.description), (&title, &description), "revision {}", returned.revision);
    }

    let rows = app.outbox_rows().await;
    assert_eq!(rows.iter().map(|r| r.revision).collect::<Vec<_>>(), (1..=21).collect::<Vec<_>>());
    for (row, (_, returned)) in rows[1..].iter().zip(&updated) {
        let event = pb::TaskEvent::decode(row.payload.as_slice()).unwrap();
        assert_eq!(event.task.as_ref(), Some(returned), "revision {}", row.revision);
    }
    let (_, last) = updated.last().unwrap();
    assert_eq!(&app.get(ALICE, &task.name).await.unwrap(), last);
    app.stop().await;
}
