#![allow(clippy::unwrap_used, clippy::expect_used)]
//! User B can neither see nor touch user A's tasks and tags, through any
//! RPC, and is told NOT_FOUND (existence is not revealed).

use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_tasks_are_invisible_and_untouchable(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app.create_titled(ALICE, "alice's").await;
    let name = task.name.clone();
    let mut c = app.client();

    let not_found = |result: Result<tonic::Response<pb::Task>, tonic::Status>, rpc: &str| {
        let err = result.expect_err(rpc);
        assert_eq!(err.code(), Code::NotFound, "{rpc}: {err:?}");
    };
    not_found(c.get_task(as_user(BOB, pb::GetTaskRequest { name: name.clone() })).await, "GetTask");
    not_found(
        c.update_task(as_user(
            BOB,
            pb::UpdateTaskRequest {
                task: Some(pb::Task { name: name.clone(), title: "mine now".into(), ..Default::default() }),
                update_mask: mask(&["title"]),
                etag: String::new(),
            },
        ))
        .await,
        "UpdateTask",
    );
    not_found(
        c.complete_task(as_user(BOB, pb::CompleteTaskRequest { name: name.clone(), etag: String::new() })).await,
        "CompleteTask",
    );
    not_found(
        c.reopen_task(as_user(BOB, pb::ReopenTaskRequest { name: name.clone(), etag: String::new() })).await,
        "ReopenTask",
    );
    not_found(
        c.delete_task(as_user(BOB, pb::DeleteTaskRequest { name: name.clone(), etag: String::new() })).await,
        "DeleteTask",
    );
    not_found(
        c.undelete_task(as_user(BOB, pb::UndeleteTaskRequest { name: name.clone(), etag: String::new() })).await,
        "UndeleteTask",
    );

    let bobs_list = app.list(BOB, pb::ListTasksRequest { show_deleted: true, ..Default::default() }).await.unwrap();
    assert!(bobs_list.tasks.is_empty());

    // A page token of Alice's does not open her list to Bob.
    app.create_titled(ALICE, "second").await;
    let alices_page = app.list(ALICE, pb::ListTasksRequest { page_size: 1, ..Default::default() }).await.unwrap();
    assert!(!alices_page.next_page_token.is_empty());
    let err = app
        .list(BOB, pb::ListTasksRequest { page_size: 1, page_token: alices_page.next_page_token, ..Default::default() })
        .await
        .unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_PAGE_TOKEN", Some("page_token"));

    let unchanged = app.get(ALICE, &name).await.unwrap();
    assert_eq!(unchanged, task);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_tags_are_invisible_and_unusable(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let tag = app.create_tag(ALICE, "Secret project").await;
    let mut c = app.client();

    let err = c.get_tag(as_user(BOB, pb::GetTagRequest { name: tag.name.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .update_tag(as_user(
            BOB,
            pb::UpdateTagRequest {
                tag: Some(pb::Tag { name: tag.name.clone(), display_name: "mine".into(), ..Default::default() }),
                update_mask: mask(&["display_name"]),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .delete_tag(as_user(BOB, pb::DeleteTagRequest { name: tag.name.clone(), force: true, etag: String::new() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = c.list_tags(as_user(BOB, pb::ListTagsRequest::default())).await.unwrap().into_inner();
    assert!(listed.tags.is_empty());

    // Bob cannot put Alice's tag on his task: to him it does not exist.
    let err = c
        .create_task(as_user(BOB, create_request(pb::Task { tags: vec![tag.name.clone()], ..new_task("t") })))
        .await
        .unwrap_err();
    assert_error(&err, Code::InvalidArgument, "UNKNOWN_TAG", Some("task.tags[0]"));
    // Nor find her tasks by it.
    app.create(ALICE, pb::Task { tags: vec![tag.name.clone()], ..new_task("tagged") }).await;
    let filtered = app
        .list(BOB, pb::ListTasksRequest { filter: format!("tags:\"{}\"", tag.name), ..Default::default() })
        .await
        .unwrap();
    assert!(filtered.tasks.is_empty());

    let still = c.get_tag(as_user(ALICE, pb::GetTagRequest { name: tag.name.clone() })).await.unwrap().into_inner();
    assert_eq!(still, tag);
    app.stop().await;
}
