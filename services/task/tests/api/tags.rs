#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tag CRUD, uniqueness, and tags on tasks.

use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_can_be_created_read_listed_renamed_and_deleted(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let work = app.create_tag(ALICE, "Work").await;
    assert!(work.name.starts_with("tags/"));
    assert_eq!(work.color, "#112233");
    let home = app.create_tag(ALICE, "Home").await;

    let got =
        app.client().get_tag(as_user(ALICE, pb::GetTagRequest { name: work.name.clone() })).await.unwrap().into_inner();
    assert_eq!(got, work);

    let page1 = app
        .client()
        .list_tags(as_user(ALICE, pb::ListTagsRequest { page_size: 1, page_token: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.tags, vec![work.clone()]);
    let page2 = app
        .client()
        .list_tags(as_user(ALICE, pb::ListTagsRequest { page_size: 1, page_token: page1.next_page_token }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.tags, vec![home.clone()]);
    assert!(page2.next_page_token.is_empty());

    let renamed = app
        .client()
        .update_tag(as_user(
            ALICE,
            pb::UpdateTagRequest {
                tag: Some(pb::Tag { name: work.name.clone(), display_name: "Office".into(), ..Default::default() }),
                update_mask: mask(&["display_name"]),
                etag: work.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((renamed.display_name.as_str(), renamed.color.as_str()), ("Office", "#112233"));
    let err = app
        .client()
        .update_tag(as_user(
            ALICE,
            pb::UpdateTagRequest {
                tag: Some(pb::Tag { name: work.name.clone(), color: "#000000".into(), ..Default::default() }),
                update_mask: mask(&["color"]),
                etag: work.etag.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH", None);

    app.client()
        .delete_tag(as_user(ALICE, pb::DeleteTagRequest { name: home.name.clone(), force: false, etag: String::new() }))
        .await
        .unwrap();
    let err = app.client().get_tag(as_user(ALICE, pb::GetTagRequest { name: home.name.clone() })).await.unwrap_err();
    assert_error(&err, Code::NotFound, "TAG_NOT_FOUND", None);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_names_are_unique_per_user_ignoring_case_and_bad_tags_are_rejected(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.create_tag(ALICE, "Work").await;
    let create = |name: &str, color: &str| pb::CreateTagRequest {
        tag: Some(pb::Tag { display_name: name.into(), color: color.into(), ..Default::default() }),
    };
    let err = app.client().create_tag(as_user(ALICE, create("WORK", ""))).await.unwrap_err();
    assert_error(&err, Code::AlreadyExists, "TAG_NAME_TAKEN", None);
    // Bob has his own namespace.
    app.client().create_tag(as_user(BOB, create("work", ""))).await.unwrap();

    let err = app.client().create_tag(as_user(ALICE, create(" ", ""))).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_TAG", Some("tag.display_name"));
    let err = app.client().create_tag(as_user(ALICE, create("Blue", "blue"))).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_TAG", Some("tag.color"));
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_in_use_is_deleted_only_with_force_which_detaches_it(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let work = app.create_tag(ALICE, "Work").await;
    let task = app.create(ALICE, pb::Task { tags: vec![work.name.clone()], ..new_task("report") }).await;
    assert_eq!(task.tags, vec![work.name.clone()]);

    let listed =
        app.list(ALICE, pb::ListTasksRequest { filter: "tags:\"work\"".into(), ..Default::default() }).await.unwrap();
    assert_eq!(listed.tasks.len(), 1);

    let delete = |force| pb::DeleteTagRequest { name: work.name.clone(), force, etag: String::new() };
    let err = app.client().delete_tag(as_user(ALICE, delete(false))).await.unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "TAG_IN_USE", None);
    app.client().delete_tag(as_user(ALICE, delete(true))).await.unwrap();

    let after = app.get(ALICE, &task.name).await.unwrap();
    assert!(after.tags.is_empty());
    assert!(after.revision > task.revision);
    let events = app.outbox_rows().await;
    assert_eq!(events.last().unwrap().event_type, "todo.task.updated.v1");
    app.stop().await;
}
