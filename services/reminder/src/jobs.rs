//! A reminder's Dapr job: its shape and its data.
//!
//! One-shot (`due_time` only, RFC 3339 — or `0s` to fire at once), named
//! [`domain::job_name`], with an explicit constant failure policy: a
//! transient failure of the callback (state not saved yet, broker down)
//! answers UNAVAILABLE and the scheduler tries again every
//! `retry_interval`, up to `max_retries` times.
//!
//! The data is [`pb::ReminderJob`] as proto3 JSON inside a
//! `google.protobuf.Value` — the form daprd itself gives a job scheduled
//! with JSON data over HTTP — so `ListJobs`/`GetJob` show readable JSON and
//! either way of scheduling decodes here.

use std::time::Duration;

use chrono::SecondsFormat;
use dapr::dapr::proto::{
    common::v1::{JobFailurePolicy, JobFailurePolicyConstant, job_failure_policy::Policy},
    runtime::v1::Job,
};
use prost::Message;
use prost_types::{Any, ListValue, Struct, Value, value::Kind};
use shared::{
    Error,
    proto::{json, time::timestamp, todo::reminder::v1 as pb},
};

use crate::domain::{self, Schedule, TaskReminders};

const VALUE_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Value";

/// How the scheduler retries a failed trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub interval: Duration,
    pub max_retries: u32,
}

/// The job of `schedule` for the task `state` describes.
pub fn build(state: &TaskReminders, schedule: &Schedule, retry: RetryPolicy) -> Result<Job, Error> {
    let data = pb::ReminderJob {
        user_id: state.user_id.clone(),
        task_id: state.task_id.clone(),
        reminder_id: schedule.reminder_id.clone(),
        fire_time: Some(timestamp(schedule.fire_time)),
        revision: state.revision,
    };
    let json = json::to_value(&data).map_err(Error::internal)?;
    let due_time = if schedule.at_once {
        "0s".to_owned()
    } else {
        schedule.fire_time.to_rfc3339_opts(SecondsFormat::Micros, true)
    };
    Ok(Job {
        name: domain::job_name(&state.task_id, &schedule.reminder_id),
        due_time: Some(due_time),
        data: Some(Any { type_url: VALUE_TYPE_URL.to_owned(), value: json_to_value(json).encode_to_vec() }),
        failure_policy: Some(JobFailurePolicy {
            policy: Some(Policy::Constant(JobFailurePolicyConstant {
                interval: prost_types::Duration::try_from(retry.interval).ok(),
                max_retries: Some(retry.max_retries),
            })),
        }),
        ..Job::default()
    })
}

/// The data of a fired job. Anything else is poison for this service.
pub fn decode(data: Option<&Any>) -> Result<pb::ReminderJob, Error> {
    let data = data.ok_or_else(|| Error::malformed("the job carries no data"))?;
    let json = if data.type_url.ends_with("google.protobuf.Value") {
        let value =
            Value::decode(data.value.as_slice()).map_err(|e| Error::malformed_by("the job data is not a Value", e))?;
        serde_json::to_vec(&value_to_json(value)).map_err(Error::internal)?
    } else if data.type_url.ends_with("todo.reminder.v1.ReminderJob") {
        return pb::ReminderJob::decode(data.value.as_slice())
            .map_err(|e| Error::malformed_by("the job data is not a ReminderJob", e));
    } else {
        data.value.clone()
    };
    let job: pb::ReminderJob =
        json::from_slice(&json).map_err(|e| Error::malformed_by("the job data is not a ReminderJob", e))?;
    if job.task_id.is_empty() || job.reminder_id.is_empty() || job.fire_time.is_none() {
        return Err(Error::malformed("the job data lacks the task, the reminder or the fire time"));
    }
    Ok(job)
}

fn json_to_value(json: serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.into_iter().map(json_to_value).collect() })
        }
        serde_json::Value::Object(map) => {
            Kind::StructValue(Struct { fields: map.into_iter().map(|(k, v)| (k, json_to_value(v))).collect() })
        }
    };
    Value { kind: Some(kind) }
}

fn value_to_json(value: Value) -> serde_json::Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => b.into(),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, Into::into),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::ListValue(list)) => list.values.into_iter().map(value_to_json).collect(),
        Some(Kind::StructValue(s)) => {
            serde_json::Value::Object(s.fields.into_iter().map(|(k, v)| (k, value_to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn job_data_round_trips_through_a_json_value() {
        let state = TaskReminders {
            user_id: "alice".into(),
            task_id: "t1".into(),
            revision: 7,
            active: true,
            title: "t".into(),
            due: None,
            reminders: Default::default(),
        };
        let at = chrono::DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        let retry = RetryPolicy { interval: Duration::from_secs(5), max_retries: 3 };
        let job = build(&state, &Schedule { reminder_id: "r1".into(), fire_time: at, at_once: false }, retry).unwrap();
        assert_eq!(job.name, "reminder-t1-r1");
        assert_eq!(job.due_time.as_deref(), Some("2027-01-15T08:00:00.123456Z"));
        let decoded = decode(job.data.as_ref()).unwrap();
        assert_eq!((decoded.task_id.as_str(), decoded.reminder_id.as_str(), decoded.revision), ("t1", "r1", 7));
        assert_eq!(shared::proto::time::date_time(&decoded.fire_time.unwrap()), Some(at));
        let at_once =
            build(&state, &Schedule { reminder_id: "r1".into(), fire_time: at, at_once: true }, retry).unwrap();
        assert_eq!(at_once.due_time.as_deref(), Some("0s"));
        assert!(decode(None).is_err());
        assert!(decode(Some(&Any { type_url: "x".into(), value: b"not json".to_vec() })).is_err());
    }
}
