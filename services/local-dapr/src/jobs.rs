//! The Jobs API (Dapr's Scheduler), persisted in `ld_jobs` (contract §6).
//!
//! - `ScheduleJob` needs `schedule` (6-field cron with seconds, `@every
//!   <duration>`, `@daily`…) and/or `due_time` (RFC 3339 or a Go duration
//!   from now). `due_time` alone fires once; with `schedule` it is the first
//!   firing, then the schedule continues. `repeats` caps the number of
//!   firings, `ttl` (RFC 3339 or duration) ends the job. Scheduling an
//!   existing name without `overwrite` fails with `ALREADY_EXISTS`, the code
//!   the scheduler returns and daprd passes through.
//! - A job belongs to the app that scheduled it and only that app receives it.
//! - Firing calls `AppCallback/OnJobEvent` and, on `Unimplemented`,
//!   `AppCallbackAlpha/OnJobEventAlpha1` with `{name, data, method:
//!   "job/<name>", content_type: <Any type_url>, http_extension: POST}`. OK
//!   and `NOT_FOUND` count as delivered; other errors follow the failure
//!   policy (default: 3 retries, 1 s apart; `drop`; `constant` with its
//!   interval and optional max). An unreachable or unhealthy app does not use
//!   up attempts: the trigger waits.
//! - Never early, at least once: a trigger is removed or advanced only after
//!   it was handled, and jobs that came due while the runtime was down fire
//!   at start (one catch-up firing per job).
//! - `GetJob` of an unknown name is `INTERNAL` "failed to get job due to: job
//!   not found", as daprd wraps the scheduler's answer.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use dapr::dapr::proto::{
    common::v1::{HttpExtension, JobFailurePolicy, http_extension::Verb, job_failure_policy::Policy},
    runtime::v1::{
        self as rt, Job, JobEventRequest, app_callback_alpha_client::AppCallbackAlphaClient,
        app_callback_client::AppCallbackClient,
    },
};
use prost::Message as _;
use tonic::{Code, Status};

use crate::{
    api::Sidecar,
    app::{App, is_transport_error, sleep_or_cancel},
    db::now_ms,
    runtime::Shared,
    schedule::{Schedule, time_or_offset},
};

const IDLE_POLL: Duration = Duration::from_secs(1);

fn db_error(e: sea_orm::DbErr) -> Status {
    Status::internal(format!("scheduler error: {e}"))
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_else(Utc::now)
}

/// The first firing of `job` created at `created`, validating it on the way.
fn first_due(job: &Job, created: DateTime<Utc>) -> Result<DateTime<Utc>, Status> {
    let due = match job.due_time.as_deref().filter(|d| !d.is_empty()) {
        Some(due) => Some(
            time_or_offset(due, created)
                .ok_or_else(|| Status::invalid_argument(format!("invalid due_time {due:?}")))?,
        ),
        None => None,
    };
    let schedule = match job.schedule.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Schedule::parse(s).map_err(|e| Status::invalid_argument(e.to_string()))?),
        None => None,
    };
    match (due, schedule) {
        (Some(due), _) => Ok(due),
        (None, Some(schedule)) => {
            schedule.next_after(created).ok_or_else(|| Status::invalid_argument("schedule never fires"))
        }
        (None, None) => Err(Status::invalid_argument("Schedule is empty")),
    }
}

fn expiry(job: &Job, created: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, Status> {
    job.ttl
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| time_or_offset(t, created).ok_or_else(|| Status::invalid_argument(format!("invalid ttl {t:?}"))))
        .transpose()
}

pub async fn schedule_job(
    sidecar: &Sidecar,
    request: tonic::Request<rt::ScheduleJobRequest>,
) -> Result<tonic::Response<rt::ScheduleJobResponse>, Status> {
    let req = request.into_inner();
    let job = req.job.ok_or_else(|| Status::invalid_argument("Job is empty"))?;
    if job.name.is_empty() || job.name.contains('|') {
        return Err(Status::invalid_argument("Name is empty"));
    }
    let created = Utc::now();
    let due = first_due(&job, created)?;
    let expires = expiry(&job, created)?;
    let app_id = sidecar.app.id.clone();
    let values = vec![
        app_id.clone().into(),
        job.name.clone().into(),
        job.encode_to_vec().into(),
        ms(due).into(),
        ms(created).into(),
        expires.map(ms).into(),
    ];
    let db = &sidecar.shared.db;
    let changed = if req.overwrite {
        db.exec(
            "INSERT INTO ld_jobs (app_id, name, job, next_due, fired, created_at, expires_at) VALUES ($1, $2, $3, $4, 0, $5, $6) \
             ON CONFLICT (app_id, name) DO UPDATE SET job = excluded.job, next_due = excluded.next_due, fired = 0, \
             created_at = excluded.created_at, expires_at = excluded.expires_at",
            values,
        )
        .await
    } else {
        db.exec(
            "INSERT INTO ld_jobs (app_id, name, job, next_due, fired, created_at, expires_at) VALUES ($1, $2, $3, $4, 0, $5, $6) \
             ON CONFLICT (app_id, name) DO NOTHING",
            values,
        )
        .await
    }
    .map_err(db_error)?;
    if changed == 0 {
        return Err(Status::already_exists(format!("failed to schedule job due to: job {} already exists", job.name)));
    }
    sidecar.app.jobs_changed.notify_one();
    Ok(tonic::Response::new(rt::ScheduleJobResponse {}))
}

async fn load(shared: &Shared, app_id: &str, name: &str) -> Result<Option<Job>, Status> {
    let row = shared
        .db
        .query_one("SELECT job FROM ld_jobs WHERE app_id = $1 AND name = $2", vec![app_id.into(), name.into()])
        .await
        .map_err(db_error)?;
    row.map(|r| {
        let bytes: Vec<u8> = r.try_get("", "job").map_err(db_error)?;
        Job::decode(bytes.as_slice()).map_err(|e| Status::internal(e.to_string()))
    })
    .transpose()
}

pub async fn get_job(
    sidecar: &Sidecar,
    request: tonic::Request<rt::GetJobRequest>,
) -> Result<tonic::Response<rt::GetJobResponse>, Status> {
    let name = request.into_inner().name;
    if name.is_empty() {
        return Err(Status::invalid_argument("Name is empty"));
    }
    match load(&sidecar.shared, &sidecar.app.id, &name).await? {
        Some(job) => Ok(tonic::Response::new(rt::GetJobResponse { job: Some(job) })),
        None => Err(Status::internal(format!("failed to get job due to: job {name} not found"))),
    }
}

pub async fn delete_job(
    sidecar: &Sidecar,
    request: tonic::Request<rt::DeleteJobRequest>,
) -> Result<tonic::Response<rt::DeleteJobResponse>, Status> {
    let name = request.into_inner().name;
    if name.is_empty() {
        return Err(Status::invalid_argument("Name is empty"));
    }
    sidecar
        .shared
        .db
        .exec("DELETE FROM ld_jobs WHERE app_id = $1 AND name = $2", vec![sidecar.app.id.clone().into(), name.into()])
        .await
        .map_err(db_error)?;
    sidecar.app.jobs_changed.notify_one();
    Ok(tonic::Response::new(rt::DeleteJobResponse {}))
}

pub async fn delete_jobs_by_prefix(
    sidecar: &Sidecar,
    request: tonic::Request<rt::DeleteJobsByPrefixRequest>,
) -> Result<tonic::Response<rt::DeleteJobsByPrefixResponse>, Status> {
    let prefix = request.into_inner().name_prefix.unwrap_or_default();
    let names = job_names(&sidecar.shared, &sidecar.app.id).await?;
    for name in names.into_iter().filter(|n| n.starts_with(&prefix)) {
        sidecar
            .shared
            .db
            .exec(
                "DELETE FROM ld_jobs WHERE app_id = $1 AND name = $2",
                vec![sidecar.app.id.clone().into(), name.into()],
            )
            .await
            .map_err(db_error)?;
    }
    sidecar.app.jobs_changed.notify_one();
    Ok(tonic::Response::new(rt::DeleteJobsByPrefixResponse {}))
}

async fn job_names(shared: &Shared, app_id: &str) -> Result<Vec<String>, Status> {
    let rows = shared
        .db
        .query("SELECT name FROM ld_jobs WHERE app_id = $1 ORDER BY name", vec![app_id.into()])
        .await
        .map_err(db_error)?;
    rows.iter().map(|r| r.try_get::<String>("", "name").map_err(db_error)).collect()
}

pub async fn list_jobs(
    sidecar: &Sidecar,
    _: tonic::Request<rt::ListJobsRequest>,
) -> Result<tonic::Response<rt::ListJobsResponse>, Status> {
    let mut jobs = Vec::new();
    for name in job_names(&sidecar.shared, &sidecar.app.id).await? {
        if let Some(job) = load(&sidecar.shared, &sidecar.app.id, &name).await? {
            jobs.push(job);
        }
    }
    Ok(tonic::Response::new(rt::ListJobsResponse { jobs }))
}

/// A due job as read from the table.
struct Due {
    name: String,
    job: Job,
    next_due: i64,
    fired: i64,
    expires_at: Option<i64>,
}

/// Fires the app's jobs at their due time until the sidecar stops. Each due
/// job runs in its own task, so one failing job does not delay the others.
pub async fn run(shared: Arc<Shared>, app: Arc<App>) {
    let in_flight = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    loop {
        if !app.wait_ready().await {
            return;
        }
        let now = now_ms();
        match due_jobs(&shared, &app.id, now).await {
            Ok(due) => {
                for job in due {
                    let fresh = in_flight.lock().map(|mut set| set.insert(job.name.clone())).unwrap_or(false);
                    if fresh {
                        let (shared, app, in_flight) = (shared.clone(), app.clone(), in_flight.clone());
                        shared.clone().tracker.spawn(async move {
                            let name = job.name.clone();
                            trigger(&shared, &app, job).await;
                            if let Ok(mut set) = in_flight.lock() {
                                set.remove(&name);
                            }
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(app = %app.id, error = %e, "reading due jobs failed"),
        }
        let wait = next_wake(&shared, &app.id).await.map_or(IDLE_POLL, |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).clamp(Duration::from_millis(10), IDLE_POLL)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = app.jobs_changed.notified() => {}
            () = app.cancel.cancelled() => return,
        }
    }
}

async fn due_jobs(shared: &Shared, app_id: &str, now: i64) -> Result<Vec<Due>, sea_orm::DbErr> {
    let rows = shared
        .db
        .query(
            "SELECT name, job, next_due, fired, expires_at FROM ld_jobs WHERE app_id = $1 AND next_due <= $2 ORDER BY next_due LIMIT 100",
            vec![app_id.into(), now.into()],
        )
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let bytes: Vec<u8> = row.try_get("", "job")?;
        let Ok(job) = Job::decode(bytes.as_slice()) else { continue };
        out.push(Due {
            name: row.try_get("", "name")?,
            job,
            next_due: row.try_get("", "next_due")?,
            fired: row.try_get("", "fired")?,
            expires_at: row.try_get("", "expires_at")?,
        });
    }
    Ok(out)
}

async fn next_wake(shared: &Shared, app_id: &str) -> Option<i64> {
    let row = shared
        .db
        .query_one("SELECT MIN(next_due) AS next FROM ld_jobs WHERE app_id = $1", vec![app_id.into()])
        .await
        .ok()??;
    row.try_get::<Option<i64>>("", "next").ok().flatten()
}

/// (retries after the first attempt, `None` = forever; interval)
fn failure_policy(policy: Option<&JobFailurePolicy>) -> (Option<u32>, Duration) {
    match policy.and_then(|p| p.policy.as_ref()) {
        Some(Policy::Drop(_)) => (Some(0), Duration::ZERO),
        Some(Policy::Constant(c)) => {
            let interval =
                c.interval.as_ref().and_then(|d| Duration::try_from(*d).ok()).unwrap_or(Duration::from_secs(1));
            (c.max_retries, interval)
        }
        None => (Some(3), Duration::from_secs(1)),
    }
}

/// Delivers one due trigger, then advances or removes the job.
async fn trigger(shared: &Shared, app: &App, due: Due) {
    let now = now_ms();
    let expired = due.expires_at.is_some_and(|e| e < due.next_due.min(now));
    if !expired && !deliver(app, &due).await {
        return; // stopping: the trigger stays due and fires after the next start
    }
    let fired = due.fired + 1;
    let repeats_left = due.job.repeats.is_none_or(|r| fired < i64::from(r));
    let one_shot = due.job.schedule.as_deref().is_none_or(str::is_empty);
    let next = if expired || !repeats_left || one_shot {
        None
    } else {
        due.job.schedule.as_deref().and_then(|s| Schedule::parse(s).ok()).and_then(|s| {
            // Never fire missed occurrences in a burst: continue from now.
            s.next_after(from_ms(due.next_due.max(now)))
        })
    };
    let next = next.filter(|n| due.expires_at.is_none_or(|e| ms(*n) <= e));
    // Only touch the row if it is still the trigger we fired (not rescheduled meanwhile).
    let result =
        match next {
            Some(next) => shared
                .db
                .exec(
                    "UPDATE ld_jobs SET next_due = $3, fired = $4 WHERE app_id = $1 AND name = $2 AND next_due = $5",
                    vec![
                        app.id.clone().into(),
                        due.name.clone().into(),
                        ms(next).into(),
                        fired.into(),
                        due.next_due.into(),
                    ],
                )
                .await,
            None => {
                shared
                    .db
                    .exec(
                        "DELETE FROM ld_jobs WHERE app_id = $1 AND name = $2 AND next_due = $3",
                        vec![app.id.clone().into(), due.name.clone().into(), due.next_due.into()],
                    )
                    .await
            }
        };
    if let Err(e) = result {
        tracing::warn!(job = %due.name, error = %e, "recording the job firing failed; it may fire again");
    }
}

/// Calls the app under the failure policy; `false` when stopping.
async fn deliver(app: &App, due: &Due) -> bool {
    let data = due.job.data.clone();
    let request = JobEventRequest {
        name: due.name.clone(),
        content_type: data.as_ref().map(|d| d.type_url.clone()).unwrap_or_default(),
        data,
        method: format!("job/{}", due.name),
        http_extension: Some(HttpExtension { verb: Verb::Post as i32, querystring: String::new() }),
    };
    let (max_retries, interval) = failure_policy(due.job.failure_policy.as_ref());
    let mut failures = 0u32;
    loop {
        if !app.wait_ready().await {
            return false;
        }
        let mut stable = AppCallbackClient::new(app.channel.clone());
        let result = match stable.on_job_event(app.request(request.clone())).await {
            Err(status) if status.code() == Code::Unimplemented => {
                let mut alpha = AppCallbackAlphaClient::new(app.channel.clone());
                #[allow(deprecated)] // the Alpha1 name is what daprd falls back to
                alpha.on_job_event_alpha1(app.request(request.clone())).await
            }
            other => other,
        };
        match result {
            Ok(_) => return true,
            Err(status) if status.code() == Code::NotFound => {
                tracing::info!(app = %app.id, job = %due.name, "app answered NotFound for job; counted as delivered");
                return true;
            }
            Err(status) if is_transport_error(&status) && !app.reachable().await => {
                if !app.wait_reachable().await {
                    return false;
                }
            }
            Err(status) => {
                tracing::warn!(app = %app.id, job = %due.name, %status, "job trigger failed");
                if max_retries.is_some_and(|max| failures >= max) {
                    tracing::warn!(app = %app.id, job = %due.name, "job failure policy exhausted; trigger dropped");
                    return true;
                }
                failures += 1;
                if sleep_or_cancel(&app.cancel, interval).await {
                    return false;
                }
            }
        }
    }
}
