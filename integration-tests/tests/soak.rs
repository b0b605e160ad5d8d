#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Soak: mixed traffic at a fixed rate through the whole system (every
//! service behind its own daprd, Kafka, the scheduler) for `SOAK_SECONDS`
//! (default 20; `make soak` runs ten minutes), with the memory of the
//! services (this process) and of every sidecar sampled each second.
//! Passes with no failed call, every change audited exactly once, and no
//! growth trend in memory after warm-up. Prints its figures.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use integration_tests::{eventually, fresh_user, target};
use shared::proto::todo::task::v1 as pb;

/// Resident memory of process `pid` ("self" for this one), in KiB.
fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mean(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_traffic_at_a_fixed_rate_keeps_memory_flat_and_every_change_audited_once() {
    let seconds: u64 = shared::config::parse("SOAK_SECONDS", 20).unwrap();
    let rate: u64 = shared::config::parse("SOAK_RATE", 25).unwrap();
    let target = target().await;
    let users: Vec<String> = (0..8).map(|i| fresh_user(&format!("soak{i}"))).collect();
    let mut tasks = target.task_client().await;
    let audit = target.audit_client().await;
    let sidecars = target.sidecar_pids();

    // Memory, each second: this process (the six services) and the sidecars.
    let samples: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let daprd: u64 = sidecars.iter().map(|pid| rss_kib(&pid.to_string())).sum();
                samples.lock().unwrap().push((rss_kib("self"), daprd));
            }
        })
    };

    // Changes expected in the audit log, per task.
    let mut expected: HashMap<String, Vec<&'static str>> = HashMap::new();
    let mut open: Vec<(String, String)> = Vec::new();
    let (mut calls, mut failures) = (0u64, Vec::new());
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        tick.tick().await;
        calls += 1;
        let user = users[(calls % users.len() as u64) as usize].clone();
        let result = match (calls % 20, open.iter().position(|(u, _)| *u == user)) {
            (0..=9, _) | (_, None) => {
                let request = pb::CreateTaskRequest {
                    task: Some(pb::Task { title: format!("soak {calls}"), ..Default::default() }),
                    request_id: String::new(),
                };
                tasks.create_task(target.as_user(&user, request)).await.map(|r| {
                    let name = r.into_inner().name;
                    expected.entry(name.clone()).or_default().push("todo.task.created.v1");
                    open.push((user.clone(), name));
                })
            }
            (10..=13, Some(i)) => {
                let name = open[i].1.clone();
                let request = pb::UpdateTaskRequest {
                    task: Some(pb::Task {
                        name: name.clone(),
                        title: format!("renamed {calls}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
                    etag: String::new(),
                };
                tasks.update_task(target.as_user(&user, request)).await.map(|_| {
                    expected.entry(name).or_default().push("todo.task.updated.v1");
                })
            }
            (14..=16, Some(i)) => {
                let (_, name) = open.remove(i);
                let request = pb::CompleteTaskRequest { name: name.clone(), etag: String::new() };
                tasks.complete_task(target.as_user(&user, request)).await.map(|_| {
                    expected.entry(name).or_default().push("todo.task.completed.v1");
                })
            }
            _ => {
                let request =
                    pb::ListTasksRequest { page_size: 50, filter: "state = OPEN".into(), ..Default::default() };
                tasks.list_tasks(target.as_user(&user, request)).await.map(|_| ())
            }
        };
        if let Err(status) = result {
            failures.push(format!("{:?}: {}", status.code(), status.message()));
        }
    }
    let changes: usize = expected.values().map(Vec::len).sum();

    // Every change reaches the audit log, exactly once.
    let audited = eventually(&format!("{changes} audit entries"), target.patience * 2, || {
        let (audit, users, target) = (audit.clone(), users.clone(), &target);
        async move {
            let mut seen: HashMap<String, Vec<String>> = HashMap::new();
            for user in &users {
                let entries =
                    integration_tests::all_audit_entries(&audit, |request| target.as_user(user, request)).await.ok()?;
                for entry in entries {
                    seen.entry(entry.task).or_default().push(entry.event_type);
                }
            }
            (seen.values().map(Vec::len).sum::<usize>() >= changes).then_some(seen)
        }
    })
    .await;
    sampler.abort();
    let samples = samples.lock().unwrap().clone();
    let quarter = samples.len() / 4;
    let (services, daprd): (Vec<u64>, Vec<u64>) = samples.iter().copied().unzip();
    let trend = |series: &[u64]| {
        let (early, late) = (mean(&series[quarter..2 * quarter]), mean(&series[3 * quarter..]));
        (early, late, (late - early) / early.max(1.0))
    };
    let (s_early, s_late, s_growth) = trend(&services);
    let (d_early, d_late, d_growth) = trend(&daprd);
    println!(
        "SOAK seconds={seconds} rate={rate}/s calls={calls} failures={} changes={changes} audited={} \
         services_rss_kib={s_early:.0}->{s_late:.0} ({:+.1}%) sidecars_rss_kib={d_early:.0}->{d_late:.0} ({:+.1}%)",
        failures.len(),
        audited.values().map(Vec::len).sum::<usize>(),
        s_growth * 100.0,
        d_growth * 100.0
    );
    assert!(failures.is_empty(), "failed calls: {:?}", &failures[..failures.len().min(10)]);
    for (task, changes) in &expected {
        let seen: Vec<&str> = audited.get(task).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(&seen, changes, "{task}: each change audited once, in order");
    }
    // After warm-up, memory holds level: the last quarter within 25 % (and
    // 20 MiB of slack) of the second.
    for (what, early, late) in [("services", s_early, s_late), ("sidecars", d_early, d_late)] {
        assert!(late <= early * 1.25 + 20_480.0, "{what}' memory grew from {early:.0} to {late:.0} KiB");
    }
    target.shutdown().await;
}
