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
        super::id_text("tasks/", self.0)
    }
    pub fn as_stored(&self) -> String {
        super::id_text("", self.0)
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

    /// Takes an owned text without copying it when it needs no trimming.
    pub fn parse(raw: impl AsRef<str> + Into<String>) -> Result<Self, Invalid> {
        let trimmed = raw.as_ref().trim();
        match trimmed.chars().count() {
            0 => Err(Invalid::new("", "is required and must not be blank")),
            n if n > Self::MAX_CHARS => Err(Invalid::new("", format!("must be at most 500 characters (got {n})"))),
            _ if trimmed.len() == raw.as_ref().len() => Ok(Self(raw.into())),
            _ => Ok(Self(trimmed.to_owned())),
        }
    }
    pub fn into_string(self) -> String {
        self.0
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

    pub fn parse(raw: impl AsRef<str> + Into<String>) -> Result<Self, Invalid> {
        let n = raw.as_ref().chars().count();
        if n > Self::MAX_CHARS {
            return Err(Invalid::new("", format!("must be at most 20000 characters (got {n})")));
        }
        Ok(Self(raw.into()))
    }
    pub fn into_string(self) -> String {
        self.0
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

/// The etag of a task at `revision` (its decimal text, or a stand-in for
/// it): the revision, quoted.
pub fn etag_of(revision: &str) -> String {
    ["\"", revision, "\""].concat()
}

/// The etag of a task at `revision` (`itoa`: a page of fifty tasks writes
/// fifty of them).
pub fn etag_at(revision: i64) -> String {
    etag_of(itoa::Buffer::new().format(revision))
}

impl Task {
    /// A strong etag derived from the revision, which changes with every change.
    pub fn etag(&self) -> String {
        etag_at(self.revision)
    }

    pub fn is_deleted(&self) -> bool {
        self.delete_time.is_some()
    }

    /// Marks the task done at `now`; a completed task stays as it is.
    pub fn complete(&mut self, now: DateTime<Utc>) -> Result<Applied, Refused> {
        self.refuse_if_deleted()?;
        if self.state == TaskState::Completed {
            return Ok(Applied::Unchanged);
        }
        self.state = TaskState::Completed;
        self.complete_time = Some(now);
        Ok(Applied::changed(Change::Completed))
    }

    /// Marks the task open again; an open task stays as it is.
    pub fn reopen(&mut self) -> Result<Applied, Refused> {
        self.refuse_if_deleted()?;
        if self.state == TaskState::Open {
            return Ok(Applied::Unchanged);
        }
        self.state = TaskState::Open;
        self.complete_time = None;
        Ok(Applied::changed(Change::Reopened))
    }

    /// Soft-deletes the task at `now` (AIP-164); a deleted task cannot be deleted again.
    pub fn delete(&mut self, now: DateTime<Utc>) -> Result<Applied, Refused> {
        self.refuse_if_deleted()?;
        self.delete_time = Some(now);
        Ok(Applied::changed(Change::Deleted))
    }

    /// Brings a deleted task back; a live one cannot be undeleted.
    pub fn undelete(&mut self) -> Result<Applied, Refused> {
        if !self.is_deleted() {
            return Err(Refused::NotDeleted);
        }
        self.delete_time = None;
        Ok(Applied::changed(Change::Restored))
    }

    /// Applies `patch`. A new rule or a moved due starts the series'
    /// counting afresh, and a task that gains a rule starts a series of its
    /// own; the fields are checked together before anything changes.
    pub fn update(&mut self, patch: TaskPatch) -> Result<Applied, Refused> {
        self.refuse_if_deleted()?;
        let mut content = self.content.clone();
        let changed = content.apply(patch);
        if changed.is_empty() {
            return Ok(Applied::Unchanged);
        }
        content.check().map_err(Refused::Invalid)?;
        if changed.iter().any(|p| *p == Field::Due.path() || *p == Field::Recurrence.path()) {
            if let Some(rule) = &mut content.recurrence {
                rule.series_start = None;
            }
            content.anchor_series();
        }
        if content.recurrence.is_some() && self.series.is_none() {
            self.series = Some(Series { id: self.id, index: 0 });
        }
        self.content = content;
        Ok(Applied::Changed {
            tags_changed: changed.contains(&Field::Tags.path()),
            change: Change::Updated { paths: changed.into_iter().map(str::to_owned).collect() },
        })
    }

    fn refuse_if_deleted(&self) -> Result<(), Refused> {
        if self.is_deleted() { Err(Refused::Deleted) } else { Ok(()) }
    }
}

/// What a change did to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Nothing changed: nothing is written and no event is published.
    Unchanged,
    /// `change` happened; `tags_changed` says whether the task's tag links
    /// must be rewritten.
    Changed { change: Change, tags_changed: bool },
}

impl Applied {
    fn changed(change: Change) -> Self {
        Self::Changed { change, tags_changed: false }
    }
}

/// Why a task refuses a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the task is deleted")]
    Deleted,
    #[error("the task is not deleted")]
    NotDeleted,
    #[error("{0}")]
    Invalid(Invalid),
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

    /// A repeating task's series counts from its due, unless it already
    /// has a start.
    pub fn anchor_series(&mut self) {
        if let (Some(rule), Some(due)) = (&mut self.recurrence, &self.due) {
            rule.series_start.get_or_insert(due.local());
        }
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
    fn a_task_id_is_written_as_its_hyphenated_uuid_and_read_back() {
        let id = TaskId::new();
        assert_eq!(id.name(), format!("tasks/{}", id.0));
        assert_eq!(id.as_stored(), id.0.to_string());
        assert_eq!(TaskId::from_name(&id.name()).unwrap(), id);
        assert_eq!(TaskId::from_stored(&id.as_stored()), Some(id));
    }

    #[test]
    fn titles_are_trimmed_required_and_bounded() {
        assert_eq!(Title::parse("  buy milk \n").unwrap().as_str(), "buy milk");
        assert_eq!(Title::parse(String::from(" owned ")).unwrap().as_str(), "owned");
        assert!(Title::parse(" \t ").is_err());
        assert!(Title::parse("é".repeat(500)).is_ok());
        assert!(Title::parse("é".repeat(501)).is_err());
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(Description::parse("x".repeat(20_000)).is_ok());
        assert!(Description::parse("x".repeat(20_001)).is_err());
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

    fn open_task() -> Task {
        let now = chrono::Utc::now();
        Task {
            id: TaskId::new(),
            user: UserId::parse("alice").unwrap(),
            content: TaskContent {
                title: Title::parse("a").unwrap(),
                description: Description::default(),
                priority: Priority::None,
                tags: vec![],
                due: None,
                reminders: vec![],
                recurrence: None,
            },
            state: TaskState::Open,
            create_time: now,
            update_time: now,
            complete_time: None,
            delete_time: None,
            revision: 1,
            series: None,
        }
    }

    #[test]
    fn completing_and_reopening_change_the_task_once() {
        let (mut task, now) = (open_task(), chrono::Utc::now());
        assert_eq!(task.complete(now), Ok(Applied::changed(Change::Completed)));
        assert_eq!((task.state, task.complete_time), (TaskState::Completed, Some(now)));
        assert_eq!(task.complete(now), Ok(Applied::Unchanged), "completing twice is not a second change");
        assert_eq!(task.reopen(), Ok(Applied::changed(Change::Reopened)));
        assert_eq!((task.state, task.complete_time), (TaskState::Open, None));
        assert_eq!(task.reopen(), Ok(Applied::Unchanged));
    }

    #[test]
    fn a_deleted_task_refuses_every_change_but_undelete() {
        let (mut task, now) = (open_task(), chrono::Utc::now());
        assert_eq!(task.undelete(), Err(Refused::NotDeleted));
        assert_eq!(task.delete(now), Ok(Applied::changed(Change::Deleted)));
        let before = task.clone();
        assert_eq!(task.delete(now), Err(Refused::Deleted));
        assert_eq!(task.complete(now), Err(Refused::Deleted));
        assert_eq!(task.reopen(), Err(Refused::Deleted));
        let retitle = TaskPatch { title: Some(Title::parse("b").unwrap()), ..TaskPatch::default() };
        assert_eq!(task.update(retitle), Err(Refused::Deleted));
        assert_eq!(task, before, "a refused change changes nothing");
        assert_eq!(task.undelete(), Ok(Applied::changed(Change::Restored)));
        assert!(!task.is_deleted());
    }

    #[test]
    fn an_update_reports_its_paths_and_an_empty_one_changes_nothing() {
        let mut task = open_task();
        assert_eq!(task.update(TaskPatch::default()), Ok(Applied::Unchanged));
        let patch = TaskPatch { priority: Some(Priority::High), ..TaskPatch::default() };
        let applied = task.update(patch).unwrap();
        assert_eq!(
            applied,
            Applied::Changed { change: Change::Updated { paths: vec!["priority".into()] }, tags_changed: false }
        );
        assert_eq!(task.content.priority, Priority::High);
    }
}
