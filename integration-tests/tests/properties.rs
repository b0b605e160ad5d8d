#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property-based requests for every RPC of the public APIs (task, audit,
//! notification, sync), with generated input from plausible to absurd:
//!
//! - no call ends in UNKNOWN, INTERNAL or a dropped connection (a panic
//!   would be one of those);
//! - every error carries exactly one `ErrorInfo`; every INVALID_ARGUMENT a
//!   `BadRequest` naming at least one field;
//! - a rejected change changes nothing, checked by reading back.
//!
//! Each property prints how many cases were accepted and rejected, by code.
//! `PROPTEST_CASES` sets the cases per property (default 64).

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use futures::StreamExt;
use integration_tests::{
    SECRET, as_user, audit_service, notification_service, sync_gateway, task_client, task_service,
};
use proptest::{prelude::*, test_runner::TestRunner};
use prost::Message;
use shared::proto::todo::{
    audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
    notification::v1::{self as notification_pb, notification_service_client::NotificationServiceClient},
    sync::v1::{self as sync_pb, sync_service_client::SyncServiceClient},
    task::v1::{self as pb, task_service_client::TaskServiceClient},
};
use tonic::{Code, Status, transport::Channel};

const USER: &str = "prop-user";

fn cases() -> u32 {
    shared::config::parse("PROPTEST_CASES", 64).unwrap()
}

/// Tallies outcomes by code, printed at the end of each property.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, usize>>);

impl Tally {
    fn count(&self, outcome: &str) {
        *self.0.lock().unwrap().entry(outcome.to_owned()).or_default() += 1;
    }

    fn print(&self, property: &str) {
        let tally = self.0.lock().unwrap();
        let summary: Vec<String> = tally.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("PROPERTY {property} {}", summary.join(" "));
    }
}

/// How many `ErrorInfo`s the status carries.
fn error_infos(status: &Status) -> usize {
    let Ok(decoded) = tonic_types::pb::Status::decode(status.details()) else { return 0 };
    decoded.details.iter().filter(|any| any.type_url.ends_with("google.rpc.ErrorInfo")).count()
}

/// The outcome of one call checked against the properties.
fn check<T>(tally: &Tally, result: &Result<T, Status>) -> Result<(), TestCaseError> {
    let Err(status) = result else {
        tally.count("OK");
        return Ok(());
    };
    tally.count(&format!("{:?}", status.code()));
    prop_assert!(
        !matches!(status.code(), Code::Unknown | Code::Internal | Code::DataLoss | Code::Unimplemented),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    prop_assert_eq!(error_infos(status), 1, "exactly one ErrorInfo: {:?}", status);
    if status.code() == Code::InvalidArgument {
        let fields = shared::status::violated_fields(status);
        prop_assert!(!fields.is_empty() && fields.iter().all(|f| !f.is_empty()), "fields named: {:?}", status);
    }
    Ok(())
}

/// Runs `property` on `cases()` inputs from `strategy`, on this runtime.
fn run<S: Strategy>(name: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    let result = TestRunner::new(config).run(&strategy, property);
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

// ---- strategies -----------------------------------------------------------------

/// Strings from well-formed to hostile: empty, ordinary, long, control
/// characters, almost-valid identifiers.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 _.-]{1,40}",
        ".{0,64}",
        "[\\x00-\\x1f\\u{202e}\\u{fffd}]{1,8}",
        "x{300,700}",
        "tasks/[0-9a-f-]{0,40}",
        "tags/[0-9a-f-]{0,40}",
    ]
}

fn filter() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("state = OPEN".to_owned()),
        Just("priority >= HIGH".to_owned()),
        Just("tags:\"work\"".to_owned()),
        Just("title:\"milk\"".to_owned()),
        Just("due_time < \"2030-01-01T00:00:00Z\"".to_owned()),
        Just("NOT".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("AND".to_owned()),
        Just("OR".to_owned()),
        Just("unknown_field = 1".to_owned()),
        "[a-z_]{1,12} [=<>!:]{1,2} [A-Za-z0-9\"]{0,12}",
    ];
    prop_oneof![text(), proptest::collection::vec(atom, 0..6).prop_map(|parts| parts.join(" "))]
}

fn order_by() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("priority desc"),
        Just("due_time"),
        Just("create_time asc"),
        Just("title"),
        Just("nope"),
        Just("priority sideways"),
    ];
    prop_oneof![text(), proptest::collection::vec(key, 0..4).prop_map(|keys| keys.join(", "))]
}

fn page_size() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), 1..2000i32, any::<i32>()]
}

fn due() -> impl Strategy<Value = Option<pb::Due>> {
    let local = prop_oneof![Just("2030-06-01T09:00".to_owned()), text()];
    let zone = prop_oneof![Just("Europe/Berlin".to_owned()), Just("UTC".to_owned()), text()];
    prop_oneof![
        Just(None),
        prop_oneof![Just("2030-06-01".to_owned()), text()]
            .prop_map(|date| Some(pb::Due { value: Some(pb::due::Value::Date(date)) })),
        (local, zone).prop_map(|(local_time, time_zone)| Some(pb::Due {
            value: Some(pb::due::Value::DateTime(pb::ZonedDateTime { local_time, time_zone }))
        })),
    ]
}

fn recurrence() -> impl Strategy<Value = Option<pb::RecurrenceRule>> {
    let small = || prop_oneof![Just(None), (-3..40i32).prop_map(Some), any::<i32>().prop_map(Some)];
    let rule = (0..7i32, small(), proptest::collection::vec(-2..10i32, 0..4), small(), text(), text()).prop_flat_map(
        move |(frequency, interval, weekdays, day_of_month, cron, time_zone)| {
            (any::<Option<(i32, i32)>>(), small(), 0..3i32, 0..3i32, text()).prop_map(
                move |(nth, count, anchor, missing, until_date)| pb::RecurrenceRule {
                    frequency,
                    interval,
                    weekdays: weekdays.clone(),
                    day_of_month,
                    nth_weekday: nth.map(|(n, weekday)| pb::recurrence_rule::NthWeekday { n, weekday }),
                    cron: cron.clone(),
                    count,
                    anchor,
                    missing_date_policy: missing,
                    until_date,
                    time_zone: time_zone.clone(),
                    series_start: String::new(),
                },
            )
        },
    );
    prop_oneof![Just(None), rule.prop_map(Some)]
}

fn reminders() -> impl Strategy<Value = Vec<pb::Reminder>> {
    let reminder = prop_oneof![
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| pb::Reminder {
            id: String::new(),
            trigger: Some(pb::reminder::Trigger::AbsoluteTime(prost_types::Timestamp { seconds, nanos })),
        }),
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| pb::Reminder {
            id: String::new(),
            trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds, nanos })),
        }),
        Just(pb::Reminder::default()),
    ];
    proptest::collection::vec(reminder, 0..4)
}

fn task() -> impl Strategy<Value = pb::Task> {
    (text(), text(), any::<i32>(), proptest::collection::vec(text(), 0..3), due(), reminders(), recurrence()).prop_map(
        |(title, description, priority, tags, due, reminders, recurrence)| pb::Task {
            title,
            description,
            priority: if priority % 3 == 0 { priority } else { priority.rem_euclid(6) },
            tags,
            due,
            reminders,
            recurrence,
            ..Default::default()
        },
    )
}

fn mask() -> impl Strategy<Value = Option<prost_types::FieldMask>> {
    let path = prop_oneof![
        Just("title".to_owned()),
        Just("priority".to_owned()),
        Just("due".to_owned()),
        Just("recurrence".to_owned()),
        Just("tags".to_owned()),
        Just("*".to_owned()),
        Just("state".to_owned()),
        Just("name".to_owned()),
        text(),
    ];
    prop_oneof![
        Just(None),
        proptest::collection::vec(path, 0..4).prop_map(|paths| Some(prost_types::FieldMask { paths }))
    ]
}

// ---- the task API --------------------------------------------------------------

/// Everything the user has: tasks (deleted ones too) and tags.
async fn snapshot(client: &TaskServiceClient<Channel>) -> (Vec<pb::Task>, Vec<pb::Tag>) {
    let mut c = client.clone();
    let request = pb::ListTasksRequest { page_size: 1000, show_deleted: true, ..Default::default() };
    let tasks = c.list_tasks(as_user(USER, request)).await.unwrap().into_inner().tasks;
    let tags = c.list_tags(as_user(USER, pb::ListTagsRequest { page_size: 1000, ..Default::default() }));
    (tasks, tags.await.unwrap().into_inner().tags)
}

/// One of the user's task names, or a generated one.
fn name(existing: &[String]) -> impl Strategy<Value = String> + use<> {
    let known = existing.to_vec();
    prop_oneof![text(), (0..known.len().max(1)).prop_map(move |i| known.get(i).cloned().unwrap_or_default()),]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_rpc_answers_bad_input_with_a_clean_error_and_changes_nothing() {
    let (service, _db) = task_service(None).await;
    let client = task_client(service.addr).await;
    // Something to act on.
    let mut existing = Vec::new();
    for title in ["one", "two", "three"] {
        let request = pb::CreateTaskRequest {
            task: Some(pb::Task { title: title.into(), ..Default::default() }),
            request_id: String::new(),
        };
        existing.push(client.clone().create_task(as_user(USER, request)).await.unwrap().into_inner().name);
    }
    let tally = Tally::default();

    // A rejected mutation leaves everything as it was.
    let unchanged_on_error = |result: Result<(), Status>, before| -> Result<(), TestCaseError> {
        check(&tally, &result)?;
        if result.is_err() {
            prop_assert_eq!(block_on(snapshot(&client)), before, "a rejected call changed something");
        }
        Ok(())
    };

    run("CreateTask", (task(), text()), |(task, request_id)| {
        let before = block_on(snapshot(&client));
        let request = pb::CreateTaskRequest { task: Some(task), request_id };
        let result = block_on(client.clone().create_task(as_user(USER, request))).map(|_| ());
        unchanged_on_error(result, before)
    });
    run("UpdateTask", (name(&existing), task(), mask(), text()), |(name, mut task, update_mask, etag)| {
        let before = block_on(snapshot(&client));
        task.name = name;
        let request = pb::UpdateTaskRequest { task: Some(task), update_mask, etag };
        let result = block_on(client.clone().update_task(as_user(USER, request))).map(|_| ());
        unchanged_on_error(result, before)
    });
    run("state changes", (0..4u8, name(&existing), text()), |(rpc, name, etag)| {
        let before = block_on(snapshot(&client));
        let mut c = client.clone();
        let result = block_on(async {
            match rpc {
                0 => c.complete_task(as_user(USER, pb::CompleteTaskRequest { name, etag })).await.map(|_| ()),
                1 => c.reopen_task(as_user(USER, pb::ReopenTaskRequest { name, etag })).await.map(|_| ()),
                2 => c.delete_task(as_user(USER, pb::DeleteTaskRequest { name, etag })).await.map(|_| ()),
                _ => c.undelete_task(as_user(USER, pb::UndeleteTaskRequest { name, etag })).await.map(|_| ()),
            }
        });
        unchanged_on_error(result, before)
    });
    run("GetTask", name(&existing), |name| {
        check(&tally, &block_on(client.clone().get_task(as_user(USER, pb::GetTaskRequest { name }))))
    });
    run(
        "ListTasks",
        (page_size(), text(), filter(), order_by(), any::<bool>()),
        |(page_size, page_token, filter, order_by, show_deleted)| {
            let request = pb::ListTasksRequest { page_size, page_token, filter, order_by, show_deleted };
            check(&tally, &block_on(client.clone().list_tasks(as_user(USER, request))))
        },
    );
    run(
        "tags",
        (0..5u8, text(), text(), text(), mask(), any::<bool>(), page_size()),
        |(rpc, name, display_name, color, update_mask, force, page_size)| {
            let before = block_on(snapshot(&client));
            let mut c = client.clone();
            let tag = pb::Tag { name: name.clone(), display_name, color, ..Default::default() };
            let result = block_on(async {
                match rpc {
                    0 => c.create_tag(as_user(USER, pb::CreateTagRequest { tag: Some(tag) })).await.map(|_| ()),
                    1 => c
                        .update_tag(as_user(
                            USER,
                            pb::UpdateTagRequest { tag: Some(tag), update_mask, etag: String::new() },
                        ))
                        .await
                        .map(|_| ()),
                    2 => c
                        .delete_tag(as_user(USER, pb::DeleteTagRequest { name, force, etag: String::new() }))
                        .await
                        .map(|_| ()),
                    3 => c.get_tag(as_user(USER, pb::GetTagRequest { name })).await.map(|_| ()),
                    _ => c
                        .list_tags(as_user(USER, pb::ListTagsRequest { page_size, page_token: name }))
                        .await
                        .map(|_| ()),
                }
            });
            unchanged_on_error(result, before)
        },
    );
    run("PreviewOccurrences", (recurrence(), text(), any::<i32>()), |(rule, start, count)| {
        let request = pb::PreviewOccurrencesRequest { rule, start, count };
        check(&tally, &block_on(client.clone().preview_occurrences(as_user(USER, request))))
    });
    run("ListTaskChanges", (any::<i64>(), page_size()), |(after_revision, page_size)| {
        let request = pb::ListTaskChangesRequest { after_revision, page_size };
        check(&tally, &block_on(client.clone().list_task_changes(as_user(USER, request))))
    });
    check(&tally, &client.clone().list_priorities(as_user(USER, pb::ListPrioritiesRequest {})).await).unwrap();
    tally.print("task");
    service.stop().await;
}

// ---- audit, notification, sync ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_notification_and_sync_rpcs_answer_bad_input_with_clean_errors() {
    let audit = audit_service().await;
    let audit_client = AuditServiceClient::connect(format!("http://{}", audit.addr)).await.unwrap();
    let notification = notification_service("http://127.0.0.1:9").await;
    let notifications = NotificationServiceClient::connect(format!("http://{}", notification.addr)).await.unwrap();
    // The gateway catches up from the task service through its sidecar.
    let mesh = integration_tests::mesh().await;
    let (mut task_sidecar, mut gateway_sidecar) = (mesh.sidecar("task"), mesh.sidecar("sync-gateway"));
    let (task, _db) = task_service(Some(task_sidecar.endpoint())).await;
    let (gateway, _ws) = sync_gateway(&gateway_sidecar.endpoint(), 16).await;
    task_sidecar.start(Some(task.addr)).await;
    gateway_sidecar.start(Some(gateway.addr)).await;
    let sync = SyncServiceClient::connect(format!("http://{}", gateway.addr)).await.unwrap();
    let tally = Tally::default();

    run(
        "ListAuditEntries",
        (text(), page_size(), text(), any::<bool>()),
        |(task, page_size, page_token, oldest_first)| {
            let request = audit_pb::ListAuditEntriesRequest { task, page_size, page_token, oldest_first };
            check(&tally, &block_on(audit_client.clone().list_audit_entries(as_user(USER, request))))
        },
    );
    check(&tally, &audit_client.clone().verify_audit_chain(as_user(USER, audit_pb::VerifyAuditChainRequest {})).await)
        .unwrap();

    let preferences = (
        any::<Option<(String, String)>>(),
        any::<Option<String>>(),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(webhook, email, event_types)| notification_pb::Preferences {
            webhook: webhook.map(|(url, secret)| notification_pb::WebhookChannel { url, secret, has_secret: false }),
            email: email.map(|address| notification_pb::EmailChannel { address }),
            event_types,
            update_time: None,
        });
    run("SetPreferences", (preferences, text(), text()), |(mut preferences, url, address)| {
        // Mostly plausible channels, sometimes the generated junk above.
        if let Some(hook) = preferences.webhook.as_mut().filter(|_| url.len() % 2 == 0) {
            hook.url = format!("https://{url}.example/hook");
        }
        if let Some(email) = preferences.email.as_mut().filter(|_| address.len() % 2 == 0) {
            email.address = format!("{address}@example.com");
        }
        let mut c = notifications.clone();
        let before =
            block_on(c.get_preferences(as_user(USER, notification_pb::GetPreferencesRequest {}))).unwrap().into_inner();
        let result = block_on(
            c.set_preferences(as_user(USER, notification_pb::SetPreferencesRequest { preferences: Some(preferences) })),
        );
        check(&tally, &result)?;
        if result.is_err() {
            let after = block_on(c.get_preferences(as_user(USER, notification_pb::GetPreferencesRequest {})))
                .unwrap()
                .into_inner();
            prop_assert_eq!(after, before, "a rejected SetPreferences changed them");
        }
        Ok(())
    });
    run("ListDeliveries", (page_size(), text(), text()), |(page_size, page_token, event_id)| {
        let request = notification_pb::ListDeliveriesRequest { page_size, page_token, event_id };
        check(&tally, &block_on(notifications.clone().list_deliveries(as_user(USER, request))))
    });
    run("Watch", any::<i64>(), |after_revision| {
        let result = block_on(async {
            let mut stream =
                sync.clone().watch(as_user(USER, sync_pb::WatchRequest { after_revision })).await?.into_inner();
            // The first message (caught up, or a change) or error.
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(message)) => message.map(|_| ()),
                _ => Ok(()),
            }
        });
        check(&tally, &result)
    });
    tally.print("audit+notification+sync");
    gateway_sidecar.stop().await;
    task_sidecar.stop().await;
    audit.stop().await;
    notification.stop().await;
    gateway.stop().await;
    task.stop().await;
}

// Unauthenticated calls: the same rules hold for a missing or broken token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_token_are_unauthenticated_with_one_error_info() {
    let (service, _db) = task_service(None).await;
    let tally = Tally::default();
    run("tokens", text(), |token| {
        let mut request = tonic::Request::new(pb::ListTasksRequest::default());
        if let Ok(value) = format!("Bearer {token}").parse() {
            request.metadata_mut().insert("authorization", value);
        }
        let result = block_on(async { task_client(service.addr).await.list_tasks(request).await });
        check(&tally, &result)?;
        prop_assert_eq!(result.map(|_| ()).unwrap_err().code(), Code::Unauthenticated);
        Ok(())
    });
    tally.print("tokens");
    let _ = SECRET;
    service.stop().await;
}
