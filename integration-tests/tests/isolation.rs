#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The isolation matrix over the whole system, every service behind its
//! own daprd: what Alice has (tasks, tags, changes, audit entries,
//! notification preferences and deliveries, live changes on Watch and the
//! WebSocket) never reaches Bob, through any RPC, and Alice's page tokens
//! are refused when Bob replays them. (Each service's own suite also checks
//! that Bob cannot change Alice's resources.)

use std::time::Duration;

use futures::StreamExt;
use integration_tests::{Target, eventually, fresh_user, target};
use shared::proto::todo::{
    audit::v1 as audit_pb,
    notification::v1 as notification_pb,
    sync::v1::{self as sync_pb, watch_response::Kind},
    task::v1 as pb,
};
use tonic::Code;

fn titled(title: &str) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task { title: title.into(), ..Default::default() }),
        request_id: String::new(),
    }
}

/// The next change on `stream`, skipping caught-up markers.
async fn next_change(stream: &mut tonic::Streaming<sync_pb::WatchResponse>) -> pb::TaskEvent {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.next()).await.unwrap().unwrap().unwrap();
        if let Some(Kind::Change(change)) = message.kind {
            return change;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_one_user_reaches_another_through_any_rpc_or_stream() {
    let target: Target = target().await;
    let (alice, bob) = (fresh_user("alice"), fresh_user("bob"));
    let (mut tasks, mut audit, mut notifications, mut sync) = (
        target.task_client().await,
        target.audit_client().await,
        target.notification_client().await,
        target.sync_client().await,
    );
    let mut bobs_watch =
        sync.watch(target.as_user(&bob, sync_pb::WatchRequest { after_revision: 0 })).await.unwrap().into_inner();

    // Alice's things: tasks, a tag, notification preferences.
    let tag = tasks
        .create_tag(target.as_user(
            &alice,
            pb::CreateTagRequest { tag: Some(pb::Tag { display_name: "Private".into(), ..Default::default() }) },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut alices = Vec::new();
    for i in 0..3 {
        alices.push(tasks.create_task(target.as_user(&alice, titled(&format!("a{i}")))).await.unwrap().into_inner());
    }
    let preferences = notification_pb::Preferences {
        email: Some(notification_pb::EmailChannel { address: "alice@example.com".into() }),
        event_types: vec!["todo.task.completed.v1".into()],
        ..Default::default()
    };
    notifications
        .set_preferences(
            target.as_user(&alice, notification_pb::SetPreferencesRequest { preferences: Some(preferences) }),
        )
        .await
        .unwrap();
    // Alice's events have gone through the system: her audit log has them.
    let alices_entries = eventually("Alice's audit entries", target.patience, || {
        let mut audit = audit.clone();
        let alice = alice.clone();
        let target = &target;
        async move {
            let request = audit_pb::ListAuditEntriesRequest { page_size: 1, ..Default::default() };
            let page = audit.list_audit_entries(target.as_user(&alice, request)).await.ok()?.into_inner();
            (!page.next_page_token.is_empty()).then_some(page)
        }
    })
    .await;

    // Bob's own change delimits his Watch: the first change he sees is his.
    let bobs = tasks.create_task(target.as_user(&bob, titled("b0"))).await.unwrap().into_inner();
    let seen = next_change(&mut bobs_watch).await;
    assert_eq!((seen.user_id.as_str(), seen.task_id.as_str()), (bob.as_str(), bobs.name.trim_start_matches("tasks/")));

    // Lists show Bob only his own.
    let listed =
        tasks.list_tasks(target.as_user(&bob, pb::ListTasksRequest { show_deleted: true, ..Default::default() }));
    assert_eq!(
        listed.await.unwrap().into_inner().tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        [bobs.name.as_str()]
    );
    let tags = tasks.list_tags(target.as_user(&bob, pb::ListTagsRequest::default())).await.unwrap().into_inner().tags;
    assert!(tags.is_empty(), "no tag of Alice's: {tags:?}");
    let changes = tasks
        .list_task_changes(target.as_user(&bob, pb::ListTaskChangesRequest { after_revision: 0, page_size: 100 }))
        .await
        .unwrap()
        .into_inner()
        .changes;
    assert!(changes.iter().all(|c| c.user_id == bob), "only Bob's changes");
    // Alice's resources by name: NOT_FOUND, not PERMISSION_DENIED (existence is not revealed).
    let err =
        tasks.get_task(target.as_user(&bob, pb::GetTaskRequest { name: alices[0].name.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = tasks.get_tag(target.as_user(&bob, pb::GetTagRequest { name: tag.name.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Audit: nothing of Alice's, even asked for her task by name.
    let request = audit_pb::ListAuditEntriesRequest { task: alices[0].name.clone(), ..Default::default() };
    let entries = audit.list_audit_entries(target.as_user(&bob, request)).await.unwrap().into_inner().entries;
    assert!(entries.is_empty(), "Alice's task's audit entries: {entries:?}");
    let verdict = audit.verify_audit_chain(target.as_user(&bob, audit_pb::VerifyAuditChainRequest {})).await.unwrap();
    let bobs_entries = eventually("Bob's own audit entry", target.patience, || {
        let mut audit = audit.clone();
        let (bob, target) = (bob.clone(), &target);
        async move {
            let listed = audit.list_audit_entries(target.as_user(&bob, audit_pb::ListAuditEntriesRequest::default()));
            let entries = listed.await.ok()?.into_inner().entries;
            (!entries.is_empty()).then_some(entries)
        }
    })
    .await;
    assert!(bobs_entries.iter().all(|e| e.task == bobs.name), "only Bob's task in Bob's log");
    assert!(verdict.into_inner().entries_checked <= 1, "Bob's chain is his alone");
    // Notifications: Bob's preferences are his own (empty), his deliveries too.
    let bobs_preferences = notifications
        .get_preferences(target.as_user(&bob, notification_pb::GetPreferencesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(bobs_preferences.email.is_none(), "not Alice's email channel");
    let deliveries = notifications
        .list_deliveries(target.as_user(&bob, notification_pb::ListDeliveriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert!(deliveries.is_empty(), "no delivery of Alice's");

    // Alice's page tokens, replayed by Bob: refused.
    let alices_task_page = tasks
        .list_tasks(target.as_user(&alice, pb::ListTasksRequest { page_size: 1, ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!alices_task_page.is_empty());
    let replay = pb::ListTasksRequest { page_size: 1, page_token: alices_task_page, ..Default::default() };
    let err = tasks.list_tasks(target.as_user(&bob, replay)).await.unwrap_err();
    assert_eq!(
        (err.code(), shared::status::violated_fields(&err)),
        (Code::InvalidArgument, vec!["page_token".to_owned()])
    );
    let replay = audit_pb::ListAuditEntriesRequest {
        page_size: 1,
        page_token: alices_entries.next_page_token.clone(),
        ..Default::default()
    };
    let err = audit.list_audit_entries(target.as_user(&bob, replay)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // Live: a later change of Alice's never reaches Bob's Watch or WebSocket;
    // his next change does, right after his own earlier one.
    tasks
        .complete_task(
            target.as_user(&alice, pb::CompleteTaskRequest { name: alices[1].name.clone(), etag: String::new() }),
        )
        .await
        .unwrap();
    let bobs_next = tasks.create_task(target.as_user(&bob, titled("b1"))).await.unwrap().into_inner();
    let seen = next_change(&mut bobs_watch).await;
    assert_eq!(seen.task_id, bobs_next.name.trim_start_matches("tasks/"), "Bob's next change, not Alice's completion");
    if let Some(ws) = target.websocket() {
        let url = format!("ws://{ws}/v1/watch?after_revision=0&access_token={}", target.token(&bob));
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut titles = Vec::new();
        while titles.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(20), socket.next()).await.unwrap().unwrap().unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if let Some(title) = value["change"]["task"]["title"].as_str() {
                    titles.push(title.to_owned());
                }
            }
        }
        assert_eq!(titles, ["b0", "b1"], "the WebSocket carries Bob's changes only");
    }
    target.shutdown().await;
}
