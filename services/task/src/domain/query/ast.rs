//! The typed values a parsed `filter` and `order_by` become: what a store
//! evaluates or translates to SQL.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

/// A filter compares with the domain's own state and priority values.
pub use crate::domain::task::{Priority, TaskState};

// ---------------------------------------------------------------------------
// Filter: public types
// ---------------------------------------------------------------------------

/// An ordering comparison between a task's field (left) and the filter's value
/// (right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The comparator as written in a filter, e.g. `"<="`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    /// Whether `field OP value` holds, given `field.cmp(&value)`.
    ///
    /// For example `Cmp::Le.holds(3.cmp(&4))` is `true`.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering == Ordering::Equal,
            Self::Ne => ordering != Ordering::Equal,
            Self::Lt => ordering == Ordering::Less,
            Self::Le => ordering != Ordering::Greater,
            Self::Gt => ordering == Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
        }
    }
}

/// A timestamp field of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeField {
    Due,
    Create,
    Update,
    Complete,
    Delete,
}

impl TimeField {
    /// The canonical (API) field name, e.g. `"due_time"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Due => "due_time",
            Self::Create => "create_time",
            Self::Update => "update_time",
            Self::Complete => "complete_time",
            Self::Delete => "delete_time",
        }
    }
}

/// A free-text field of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    Title,
    Description,
}

impl TextField {
    /// The canonical (API) field name, e.g. `"title"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Description => "description",
        }
    }
}

/// One restriction of a filter: a leaf of the [`Filter`] tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Predicate {
    /// `state = OPEN` (`negated: false`) or `state != OPEN` (`negated: true`).
    State { negated: bool, value: TaskState },
    /// `priority >= HIGH`: compare [`Priority::rank`]s.
    Priority { cmp: Cmp, value: Priority },
    /// `tags:"work"`: the task has a tag with this name. The name is given as
    /// written; case-insensitive comparison is the store's job.
    HasTag(String),
    /// `tags:*`: the task has at least one tag.
    HasAnyTag,
    /// `title:milk`: case-insensitive substring match.
    TextContains { field: TextField, needle: String },
    /// `title = "Buy milk"` / `title != "Buy milk"`: exact match.
    TextEquals { field: TextField, negated: bool, value: String },
    /// `due_time < 2026-12-01T09:00:00Z`. A task whose field is unset matches
    /// no comparison (SQL `NULL` semantics); combine with `NOT field:*` to find
    /// those.
    Time { field: TimeField, cmp: Cmp, value: DateTime<Utc> },
    /// `due_time:*`: the timestamp is set.
    TimeIsSet(TimeField),
    /// `milk` or `"buy milk"`: title or description contains the text,
    /// case-insensitively.
    Search(String),
}

/// A parsed filter: a tree of [`Predicate`]s.
///
/// The parser flattens nested `And`s into one `And` (and `Or`s into one `Or`),
/// never produces an `And`/`Or` with fewer than two children, and produces
/// [`Filter::All`] only for an empty filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// The empty filter: every task matches.
    All,
    Predicate(Predicate),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Joins `parts` with AND, splicing in the children of nested `And`s.
    pub(super) fn all_of(parts: Vec<Filter>) -> Filter {
        let mut flat = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                Filter::And(children) => flat.extend(children),
                other => flat.push(other),
            }
        }
        match <[Filter; 1]>::try_from(flat) {
            Ok([only]) => only,
            Err(flat) => Filter::And(flat),
        }
    }

    /// Joins `parts` with OR, splicing in the children of nested `Or`s.
    pub(super) fn any_of(parts: Vec<Filter>) -> Filter {
        let mut flat = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                Filter::Or(children) => flat.extend(children),
                other => flat.push(other),
            }
        }
        match <[Filter; 1]>::try_from(flat) {
            Ok([only]) => only,
            Err(flat) => Filter::Or(flat),
        }
    }
}

// ---------------------------------------------------------------------------
// order_by: public types
// ---------------------------------------------------------------------------

/// A field that tasks can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderField {
    DueTime,
    Priority,
    CreateTime,
    UpdateTime,
    CompleteTime,
    Title,
}

impl OrderField {
    /// The canonical (API) field name, e.g. `"due_time"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DueTime => "due_time",
            Self::Priority => "priority",
            Self::CreateTime => "create_time",
            Self::UpdateTime => "update_time",
            Self::CompleteTime => "complete_time",
            Self::Title => "title",
        }
    }
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    /// `"asc"` or `"desc"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// Sort keys, most significant first. [`parse_order_by`] always returns at
/// least one key and never the same field twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy(pub Vec<(OrderField, Direction)>);

impl Default for OrderBy {
    /// `create_time asc`: what an empty `order_by` means.
    fn default() -> Self {
        OrderBy(vec![(OrderField::CreateTime, Direction::Asc)])
    }
}

impl OrderBy {
    /// Normalised text form: canonical field names, explicit directions, no
    /// spaces around commas, e.g. `"priority desc,due_time asc"`.
    ///
    /// Two `order_by` strings that mean the same thing (`"due DESC"` and
    /// `"due_time desc"`) have the same canonical form, so it can be used to
    /// fingerprint page tokens.
    pub fn canonical(&self) -> String {
        self.0
            .iter()
            .map(|(field, direction)| format!("{} {}", field.name(), direction.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------
