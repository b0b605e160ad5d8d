//! The rules of tasks and tags, free of I/O: value types that cannot hold an
//! invalid value, the task aggregate and its changes, list queries.

pub mod query;
pub mod reminder;
pub mod tag;
pub mod task;

/// When a task is due, and its recurrence rule, are the recurrence
/// contract's: `shared::recurrence` owns them for both services that use them.
pub use shared::recurrence::{due, spec as recurrence};
pub use shared::validation::Invalid;

/// `prefix` and then `id`, hyphenated and lower-case: an id's text written
/// without the formatting machinery, which cost a page of fifty tasks as
/// much as reading its rows' integers.
fn id_text(prefix: &str, id: uuid::Uuid) -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buffer);
    let mut text = String::with_capacity(prefix.len() + id.len());
    text.push_str(prefix);
    text.push_str(id);
    text
}

/// Microseconds since the Unix epoch, the storage form of every instant.
pub fn to_micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant of a stored microsecond count (out-of-range values clamp to the epoch).
pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
