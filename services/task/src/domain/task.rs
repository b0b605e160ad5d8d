//! The task aggregate, its value types and the changes it goes through.

use chrono::{DateTime, Utc};
use shared::{auth::UserId, event_types};

use super::{Invalid, due::Due, recurrence::RecurrenceSpec, reminder::Reminder, tag::TagId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(uuid::Uuid);

impl TaskId {
    /// A new, time-ordered id (UUIDv7).
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    /// From a resource name `tasks/{uuid}`.
    pub fn from_name(name: &str) -> Result<Self, Invalid> {
        name.strip_prefix("tasks/")
            .and_then(|id| uuid::Uuid::try_parse(id).ok())
            .map(Self)
            .ok_or_else(|| Invalid::new("", format!("`{name}` is not a task name of the form tasks/{{uuid}}")))
    }
    pub fn from_stored(id: &str) -> Option<Self> {
        uuid::Uuid::try_parse(id).ok().map(Self)
    }
    pub fn name(&self) -> String {
        format!("tasks/{}", self.0)
    }
    pub fn as_stored(&self) -> String {
        self.0.to_string()
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

/// 1 to 500 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        match trimmed.chars().count() {
            0 => Err(Invalid::new("", "is required and must not be blank")),
            n if n > Self::MAX_CHARS => Err(Invalid::new("", format!("must be at most 500 characters (got {n})"))),
            _ => Ok(Self(trimmed.to_owned())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 20 000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 20_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n > Self::MAX_CHARS {
            return Err(Invalid::new("", format!("must be at most 20000 characters (got {n})")));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fixed priority ladder, lowest first. Stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    #[default]
    None = 1,
    Low = 2,
    Medium = 3,
    High = 4,
    Urgent = 5,
}

impl Priority {
    pub const ALL: [Priority; 5] = [Priority::None, Priority::Low, Priority::Medium, Priority::High, Priority::Urgent];

    pub fn from_number(n: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|p| *p as i32 == n)
    }
    pub fn rank(self) -> i32 {
        self as i32 - 1
    }
    pub fn display_name(self) -> &'static str {
        match self {
            Priority::None => "None",
            Priority::Low => "Low",
            Priority::Medium => "Medium",
            Priority::High => "High",
            Priority::Urgent => "Urgent",
        }
    }
    pub fn color(self) -> &'static str {
        match self {
            Priority::None => "#9e9e9e",
            Priority::Low => "#4caf50",
            Priority::Medium => "#2196f3",
            Priority::High => "#ff9800",
            Priority::Urgent => "#f44336",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Open = 1,
    Completed = 2,
}

impl TaskState {
    pub fn from_number(n: i32) -> Option<Self> {
        match n {
            1 => Some(TaskState::Open),
            2 => Some(TaskState::Completed),
            _ => None,
        }
    }
}

/// The user-editable content of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskContent {
    pub title: Title,
    pub description: Description,
    pub priority: Priority,
    pub tags: Vec<TagId>,
    pub due: Option<Due>,
    pub reminders: Vec<Reminder>,
    pub recurrence: Option<RecurrenceSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub user: UserId,
    pub content: TaskContent,
    pub state: TaskState,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub complete_time: Option<DateTime<Utc>>,
    pub delete_time: Option<DateTime<Utc>>,
    /// The user's change counter at this task's last change.
    pub revision: i64,
    /// Which series a repeating task belongs to, and where.
    pub series: Option<Series>,
}

/// A repeating task's place: the series (its first instance's id) and the
/// instance's index in it (0 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub id: TaskId,
    pub index: u32,
}

impl Task {
    /// A strong etag derived from the revision, which changes with every change.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.revision)
    }

    pub fn is_deleted(&self) -> bool {
        self.delete_time.is_some()
    }
}

/// The fields of a task an update can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Title,
    Description,
    Priority,
    Tags,
    Due,
    Reminders,
    Recurrence,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Title,
        Field::Description,
        Field::Priority,
        Field::Tags,
        Field::Due,
        Field::Reminders,
        Field::Recurrence,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Description => "description",
            Field::Priority => "priority",
            Field::Tags => "tags",
            Field::Due => "due",
            Field::Reminders => "reminders",
            Field::Recurrence => "recurrence",
        }
    }

    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.path() == path)
    }
}

impl TaskContent {
    /// Rules between fields, checked after every create or update: relative
    /// reminders and calendar recurrence both need a due date.
    pub fn check(&self) -> Result<(), Invalid> {
        super::reminder::check_against_due(&self.reminders, self.due.as_ref()).map_err(|e| e.under("reminders"))?;
        if let Some(rule) = &self.recurrence {
            rule.check_due(self.due.is_some()).map_err(|e| e.under("recurrence"))?;
        }
        Ok(())
    }

    /// Applies `patch`, returning the paths whose values changed.
    pub fn apply(&mut self, patch: TaskPatch) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut mark = |differs: bool, field: Field| {
            if differs {
                changed.push(field.path());
            }
        };
        mark(replace(&mut self.title, patch.title), Field::Title);
        mark(replace(&mut self.description, patch.description), Field::Description);
        mark(replace(&mut self.priority, patch.priority), Field::Priority);
        if let Some(mut tags) = patch.tags {
            // A tag set: order does not count as a change.
            tags.sort();
            let mut old = self.tags.clone();
            old.sort();
            mark(old != tags, Field::Tags);
            self.tags = tags;
        }
        mark(replace(&mut self.due, patch.due), Field::Due);
        if let Some(mut reminders) = patch.reminders {
            // Reminders that did not change keep their ids (jobs are named after them).
            for reminder in &mut reminders {
                if let Some(old) = self.reminders.iter().find(|old| old.trigger == reminder.trigger) {
                    reminder.id = old.id.clone();
                }
            }
            mark(replace(&mut self.reminders, Some(reminders)), Field::Reminders);
        }
        mark(replace(&mut self.recurrence, patch.recurrence), Field::Recurrence);
        changed
    }
}

/// New values for some fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<TagId>>,
    pub due: Option<Option<Due>>,
    pub reminders: Option<Vec<Reminder>>,
    pub recurrence: Option<Option<RecurrenceSpec>>,
}

fn replace<T: PartialEq>(slot: &mut T, value: Option<T>) -> bool {
    match value {
        Some(value) if *slot != value => {
            *slot = value;
            true
        }
        _ => false,
    }
}

/// What happened to a task; each becomes one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created { request_id: Option<String> },
    Updated { paths: Vec<String> },
    Completed,
    Reopened,
    Deleted,
    Restored,
}

impl Change {
    /// The CloudEvent type of the event this change publishes.
    pub fn event_type(&self) -> &'static str {
        match self {
            Change::Created { .. } => event_types::TASK_CREATED,
            Change::Updated { .. } => event_types::TASK_UPDATED,
            Change::Completed => event_types::TASK_COMPLETED,
            Change::Reopened => event_types::TASK_REOPENED,
            Change::Deleted => event_types::TASK_DELETED,
            Change::Restored => event_types::TASK_RESTORED,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn titles_are_trimmed_required_and_bounded() {
        assert_eq!(Title::parse("  buy milk \n").unwrap().as_str(), "buy milk");
        assert!(Title::parse(" \t ").is_err());
        assert!(Title::parse(&"é".repeat(500)).is_ok());
        assert!(Title::parse(&"é".repeat(501)).is_err());
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(Description::parse(&"x".repeat(20_000)).is_ok());
        assert!(Description::parse(&"x".repeat(20_001)).is_err());
    }

    #[test]
    fn priorities_form_a_ladder() {
        assert!(Priority::Urgent > Priority::High);
        assert_eq!(Priority::from_number(3), Some(Priority::Medium));
        assert_eq!(Priority::from_number(0), None);
        assert_eq!(Priority::from_number(9), None);
    }

    #[test]
    fn apply_reports_only_fields_whose_value_changed() {
        let base = TaskContent {
            title: Title::parse("a").unwrap(),
            description: Description::default(),
            priority: Priority::Low,
            tags: vec![],
            due: None,
            reminders: vec![],
            recurrence: None,
        };
        let mut content = base.clone();
        let patch = TaskPatch {
            title: Some(Title::parse("b").unwrap()),
            priority: Some(Priority::Low),
            ..TaskPatch::default()
        };
        let changed = content.apply(patch);
        assert_eq!(changed, vec!["title"]);
        assert_eq!(content.title.as_str(), "b");
    }
}
