#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ListTasks: pagination (AIP-158), filters (AIP-160), ordering.

use std::collections::HashSet;

use futures::{StreamExt, stream};
use shared::proto::todo::task::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn create_many(app: &TestApp, user: &str, n: usize, make: impl Fn(usize) -> pb::Task) -> Vec<pb::Task> {
    let tasks: Vec<pb::Task> = (0..n).map(make).collect();
    stream::iter(tasks)
        .map(|task| {
            let mut client = app.client();
            let user = user.to_owned();
            async move { client.create_task(as_user(&user, create_request(task))).await.unwrap().into_inner() }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

async fn walk(app: &TestApp, request: pb::ListTasksRequest) -> Vec<pb::Task> {
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app.list(ALICE, pb::ListTasksRequest { page_token: token, ..request.clone() }).await.unwrap();
        seen.extend(page.tasks);
        if page.next_page_token.is_empty() {
            return seen;
        }
        token = page.next_page_token;
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_100_return_2500_tasks_each_once_in_order_despite_concurrent_inserts(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let app = spawn_app(backend).await;
    let originals = create_many(&app, ALICE, 2500, |i| new_task(&format!("task {i}"))).await;

    // Insert more while walking: none of the originals may be lost or repeated.
    let inserter = {
        let mut client = app.client();
        tokio::spawn(async move {
            for i in 0..60 {
                client.create_task(as_user(ALICE, create_request(new_task(&format!("late {i}"))))).await.unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .list(ALICE, pb::ListTasksRequest { page_size: 100, page_token: token, ..Default::default() })
            .await
            .unwrap();
        assert!(page.tasks.len() <= 100);
        pages += 1;
        seen.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    inserter.await.unwrap();

    let names: Vec<&str> = seen.iter().map(|t| t.name.as_str()).collect();
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "no task twice");
    for task in &originals {
        assert!(unique.contains(task.name.as_str()), "{} missing", task.name);
    }
    assert!(pages >= 25);
    // In order: create_time ascending, ties by id.
    let keys: Vec<(i64, i32, &str)> = seen
        .iter()
        .map(|t| {
            let ts = t.create_time.unwrap();
            (ts.seconds, ts.nanos, t.name.as_str())
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "pages are in create_time order");

    // AIP-158: a page size above the maximum is lowered to it, not rejected.
    let big = app.list(ALICE, pb::ListTasksRequest { page_size: 5000, ..Default::default() }).await.unwrap();
    assert_eq!(big.tasks.len(), 1000);
    assert!(!big.next_page_token.is_empty());
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_key_ordering_pages_match_a_single_listing(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let priorities = [pb::Priority::Low, pb::Priority::High, pb::Priority::Urgent, pb::Priority::None];
    create_many(&app, ALICE, 90, |i| pb::Task {
        priority: priorities[i % 4] as i32,
        title: format!("t{:02}", i % 7),
        ..Default::default()
    })
    .await;
    for order_by in ["priority desc, title", "title desc, create_time", "due_time, priority"] {
        let request = pb::ListTasksRequest { order_by: order_by.into(), page_size: 7, ..Default::default() };
        let paged: Vec<String> = walk(&app, request.clone()).await.into_iter().map(|t| t.name).collect();
        let whole: Vec<String> = app
            .list(ALICE, pb::ListTasksRequest { page_size: 1000, ..request })
            .await
            .unwrap()
            .tasks
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(paged, whole, "{order_by}");
        assert_eq!(paged.len(), 90);
    }
    let by_priority =
        app.list(ALICE, pb::ListTasksRequest { order_by: "priority desc".into(), ..Default::default() }).await.unwrap();
    assert_eq!(by_priority.tasks[0].priority, pb::Priority::Urgent as i32);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_by_state_priority_tags_due_title_and_time(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    let urgent_tag = app.create_tag(ALICE, "Errands").await;
    let due = |date: &str| Some(pb::Due { value: Some(pb::due::Value::Date(date.into())) });
    let milk = app
        .create(
            ALICE,
            pb::Task {
                priority: pb::Priority::Urgent as i32,
                tags: vec![urgent_tag.name.clone()],
                due: due("2026-12-01"),
                ..new_task("Buy MILK")
            },
        )
        .await;
    let report = app
        .create(
            ALICE,
            pb::Task {
                priority: pb::Priority::Low as i32,
                due: due("2027-03-01"),
                description: "quarterly".into(),
                ..new_task("Report")
            },
        )
        .await;
    let idle = app.create_titled(ALICE, "Someday 100%_done").await;
    app.client()
        .complete_task(as_user(ALICE, pb::CompleteTaskRequest { name: report.name.clone(), etag: String::new() }))
        .await
        .unwrap();

    let names = |filter: &str| {
        let app = &app;
        let filter = filter.to_owned();
        async move {
            let mut names: Vec<String> = app
                .list(ALICE, pb::ListTasksRequest { filter, ..Default::default() })
                .await
                .unwrap()
                .tasks
                .into_iter()
                .map(|t| t.name)
                .collect();
            names.sort();
            names
        }
    };
    let sorted = |mut v: Vec<&pb::Task>| {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.into_iter().map(|t| t.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names("state = OPEN").await, sorted(vec![&milk, &idle]));
    assert_eq!(names("state = COMPLETED").await, sorted(vec![&report]));
    assert_eq!(names("priority >= HIGH").await, sorted(vec![&milk]));
    assert_eq!(names("priority < MEDIUM").await, sorted(vec![&report, &idle]));
    assert_eq!(names("tags:\"errands\"").await, sorted(vec![&milk]));
    assert_eq!(names("tags:*").await, sorted(vec![&milk]));
    assert_eq!(names("due_time < \"2027-01-01\"").await, sorted(vec![&milk]));
    assert_eq!(names("due_time > 2026-12-15T00:00:00Z").await, sorted(vec![&report]));
    assert_eq!(names("due:*").await, sorted(vec![&milk, &report]));
    assert_eq!(names("NOT due:*").await, sorted(vec![&idle]));
    assert_eq!(names("title:\"milk\"").await, sorted(vec![&milk]));
    assert_eq!(names("title:\"100%_\"").await, sorted(vec![&idle]), "LIKE wildcards are literal");
    assert_eq!(names("quarterly").await, sorted(vec![&report]), "bare words search title and description");
    assert_eq!(names("complete_time:*").await, sorted(vec![&report]));
    assert_eq!(names("state = OPEN AND priority = URGENT OR priority = NONE").await, sorted(vec![&milk, &idle]));
    assert_eq!(names("create_time > \"2000-01-01\"").await.len(), 3);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_parameters_are_invalid_arguments(#[values(Postgres, Sqlite)] backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_titled(ALICE, "one").await;
    app.create_titled(ALICE, "two").await;
    let cases = [
        (pb::ListTasksRequest { filter: "colour = RED".into(), ..Default::default() }, "filter"),
        (pb::ListTasksRequest { filter: "priority > ".into(), ..Default::default() }, "filter"),
        (pb::ListTasksRequest { filter: "(state = OPEN".into(), ..Default::default() }, "filter"),
        (pb::ListTasksRequest { order_by: "colour desc".into(), ..Default::default() }, "order_by"),
        (pb::ListTasksRequest { order_by: "priority sideways".into(), ..Default::default() }, "order_by"),
        (pb::ListTasksRequest { page_size: -1, ..Default::default() }, "page_size"),
        (pb::ListTasksRequest { page_token: "garbage".into(), ..Default::default() }, "page_token"),
    ];
    for (request, field) in cases {
        let err = app.list(ALICE, request.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(shared::status::violated_fields(&err), vec![field.to_owned()], "{request:?}");
    }
    // A token is bound to its query.
    let first = app.list(ALICE, pb::ListTasksRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let err = app
        .list(
            ALICE,
            pb::ListTasksRequest {
                page_size: 1,
                page_token: first.next_page_token,
                filter: "state = OPEN".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_PAGE_TOKEN", Some("page_token"));
    app.stop().await;
}
