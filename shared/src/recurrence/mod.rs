//! A repeating task's rule, end to end, in one place: what the task service
//! validates and stores and the recurrence service evaluates.
//!
//! - [`wire`]: the API's `RecurrenceRule` and `Due` messages ↔ the types
//!   below, each error naming the offending field;
//! - [`spec`]: the validated rule ([`spec::RecurrenceSpec`]), which is also
//!   the form stored with a task (JSON);
//! - [`due`]: when a task is due — a whole day, or a wall-clock time in an
//!   IANA zone — which a rule counts from;
//! - the date math (this module's root, from `engine`): a [`Rule`] and the
//!   [`Occurrence`]s it yields, pure, local time first.

mod engine;

pub mod due;
pub mod spec;
pub mod wire;

pub use engine::*;
