//! The rules of tasks and tags, free of I/O: value types that cannot hold an
//! invalid value, the task aggregate and its changes, list queries.

pub mod due;
pub mod query;
pub mod recurrence;
pub mod reminder;
pub mod tag;
pub mod task;

/// A value that failed validation, and which part of the input it was
/// (relative to the value, e.g. `date_time.time_zone`; the API layer
/// prefixes the request path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same violation seen from an enclosing field: `due` + `date` → `due.date`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = match self.field.chars().next() {
            None => parent.to_owned(),
            Some('[') => format!("{parent}{}", self.field),
            Some(_) => format!("{parent}.{}", self.field),
        };
        self
    }
}

/// Microseconds since the Unix epoch, the storage form of every instant.
pub fn to_micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant of a stored microsecond count (out-of-range values clamp to the epoch).
pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
