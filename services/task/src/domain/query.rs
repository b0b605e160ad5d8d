//! Parsing of the `filter` ([AIP-160]) and `order_by` ([AIP-132]) request fields
//! of `ListTasks`.
//!
//! This module is pure: it turns untrusted text from the network into small typed
//! values ([`Filter`], [`OrderBy`]) or a [`QueryError`] that says what is wrong and
//! where. It does no I/O and never panics. Field names and values are validated
//! here, so a store only has to evaluate (or translate to SQL) a well-typed tree.
//!
//! [AIP-160]: https://google.aip.dev/160
//! [AIP-132]: https://google.aip.dev/132
//!
//! # Filter grammar
//!
//! The accepted language is a subset of AIP-160:
//!
//! ```text
//! filter      = [ expression ] ;                    (* empty: no restriction *)
//! expression  = sequence { "AND" sequence } ;
//! sequence    = factor { factor } ;                 (* juxtaposition = implicit AND *)
//! factor      = term { "OR" term } ;
//! term        = [ "NOT" | "-" ] simple ;            (* "-" must touch its operand *)
//! simple      = "(" expression ")" | restriction | search ;
//! restriction = field comparator value ;
//! comparator  = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":" ;   (* ":" is "has" *)
//! value       = quoted | bare ;
//! search      = quoted | word ;                     (* global text search *)
//! quoted      = '"' { any char except '"' and '\' | '\"' | '\\' } '"' ;
//! bare        = 1*( letter | digit | "_" | "-" | "." | ":" | "+" | "*" | "/" ) ;
//! word        = 1*( letter | digit | "_" | "-" | "." | "+" | "*" | "/" ) ;
//! ```
//!
//! Notes on the grammar:
//!
//! * **`OR` binds tighter than `AND`** (this is AIP-160, not SQL):
//!   `a AND b OR c` means `a AND (b OR c)`, and so does `a b OR c`.
//! * The keywords `AND`, `OR` and `NOT` are case-sensitive: `a and b` is three
//!   search words joined by implicit `AND`. Quote a keyword to search for it.
//! * A value after a comparator runs up to the next whitespace or `)`, so a bare
//!   timestamp such as `2026-12-01T09:00:00Z` is a single value. Quote values
//!   containing spaces, parentheses or other special characters.
//! * A `word` (outside a restriction) cannot contain `:` because `:` is the "has"
//!   comparator; quote it to search for text containing a colon.
//! * `*` is a wildcard only when bare: `tags:*` means "has any tag", while
//!   `tags:"*"` means "has a tag literally named `*`".
//! * Whitespace is insignificant, except that juxtaposed terms need something
//!   (whitespace or a parenthesis) between them.
//! * Limits: at most [`MAX_INPUT_CHARS`] characters and [`MAX_NESTING_DEPTH`]
//!   nested parentheses and negations.
//! * Positions in error messages are 0-based character (not byte) offsets.
//!
//! # Fields
//!
//! * `state` (alias `status`): `=`, `!=` with `OPEN` or `COMPLETED`
//!   (also `STATE_OPEN`, `STATE_COMPLETED`).
//! * `priority`: `=`, `!=`, `<`, `<=`, `>`, `>=` with
//!   `NONE` < `LOW` < `MEDIUM` < `HIGH` < `URGENT` (also `PRIORITY_HIGH`, ...).
//! * `tags`: only `:` (a repeated field): `tags:"work"` has that tag, `tags:*`
//!   has any tag.
//! * `title`, `description`: `:` contains (case-insensitive), `=` / `!=` exact.
//! * `due_time` (alias `due`), `create_time`, `update_time`, `complete_time`,
//!   `delete_time`: `=`, `!=`, `<`, `<=`, `>`, `>=` with an RFC 3339 timestamp
//!   (any offset, converted to UTC) or a date `YYYY-MM-DD` (midnight UTC);
//!   `due_time:*` means "is set".
//!
//! Enum values (`OPEN`, `HIGH`, ...) are matched ignoring ASCII case and may be
//! quoted. Field names are case-sensitive.
//!
//! # Filter examples
//!
//! ```text
//! state = OPEN
//! state = OPEN priority >= HIGH              (implicit AND)
//! tags:"deep work" OR tags:urgent
//! -tags:*                                     (tasks without any tag)
//! due < 2026-12-01T09:00:00+02:00 AND NOT state = COMPLETED
//! due_time:* due >= 2026-12-01                (has a due time, on or after Dec 1st UTC)
//! title:"buy milk"                            (title contains, case-insensitively)
//! milk                                        (title or description contains "milk")
//! state = OPEN AND (priority = URGENT OR due < 2026-12-01)
//! ```
//!
//! # `order_by`
//!
//! A comma-separated list of sort keys, each a field name optionally followed by
//! `asc` (default) or `desc` (ASCII case ignored), whitespace-insensitive:
//!
//! ```text
//! priority desc, due_time
//! due desc                                    (alias of due_time)
//! ```
//!
//! Sortable fields: `due_time` (alias `due`), `priority`, `create_time`,
//! `update_time`, `complete_time`, `title`. Each field may appear once. An empty
//! `order_by` means `create_time asc`. The store is expected to append its own
//! unique tie-breaker (e.g. the task id) to keep pagination stable.
//! [`OrderBy::canonical`] gives a normalised text form (`priority desc,due_time asc`)
//! suitable for fingerprinting page tokens.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// Longest accepted `filter` or `order_by`, in characters.
pub const MAX_INPUT_CHARS: usize = 2_000;

/// Deepest accepted nesting of parentheses and negations (`NOT`, `-`) combined.
pub const MAX_NESTING_DEPTH: usize = 32;

/// Listed in "unknown field" errors so the caller learns what is available.
const FILTERABLE_FIELDS: &str = "state, priority, tags, title, description, due_time, \
                                 create_time, update_time, complete_time, delete_time";

/// Listed in "unknown `order_by` field" errors.
const SORTABLE_FIELDS: &str = "due_time (alias due), priority, create_time, update_time, complete_time, title";

// ---------------------------------------------------------------------------
// Filter: public types
// ---------------------------------------------------------------------------

/// A task state that can be filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStateValue {
    Open,
    Completed,
}

/// A task priority, ordered from [`PriorityValue::None`] (lowest) to
/// [`PriorityValue::Urgent`] (highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriorityValue {
    None,
    Low,
    Medium,
    High,
    Urgent,
}

impl PriorityValue {
    /// Position on the priority ladder: `None` is 0, `Urgent` is 4.
    /// `priority > LOW` means "rank greater than `Low.rank()`".
    pub fn rank(self) -> i32 {
        match self {
            Self::None => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Urgent => 4,
        }
    }
}

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
    State { negated: bool, value: TaskStateValue },
    /// `priority >= HIGH`: compare [`PriorityValue::rank`]s.
    Priority { cmp: Cmp, value: PriorityValue },
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
    fn all_of(parts: Vec<Filter>) -> Filter {
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
    fn any_of(parts: Vec<Filter>) -> Filter {
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

/// Why a `filter` or `order_by` was rejected.
///
/// `Display` gives a message meant for the API caller; [`QueryError::field`] and
/// [`QueryError::reason`] give what a `google.rpc.BadRequest` field violation and
/// a `google.rpc.ErrorInfo` need. Positions are 0-based character offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("filter is too long: {len} characters, at most {max} are allowed")]
    FilterTooLong { len: usize, max: usize },

    #[error(
        "filter is nested too deeply at position {position}: at most {max} levels of \
         parentheses and negation are allowed"
    )]
    FilterTooDeep { position: usize, max: usize },

    /// Malformed filter text: unbalanced parentheses, a comparator without a
    /// value, an unexpected character, an unterminated string, ...
    #[error("invalid filter syntax at position {position}: {message}")]
    FilterSyntax { position: usize, message: String },

    #[error("unknown field `{name}` at position {position}; filterable fields: {fields}", fields = FILTERABLE_FIELDS)]
    UnknownFilterField { position: usize, name: String },

    /// A known field used with a comparator it does not support, e.g. `tags = x`.
    /// `field` is the name as written in the filter.
    #[error("operator `{operator}` is not supported for field `{field}` at position {position}; {hint}")]
    UnsupportedOperator { position: usize, field: String, operator: &'static str, hint: &'static str },

    /// A known field compared with a value of the wrong shape, e.g.
    /// `priority = CRITICAL`. `field` is the name as written in the filter.
    #[error("invalid value `{value}` for field `{field}` at position {position}; expected {expected}")]
    InvalidFilterValue { position: usize, field: String, value: String, expected: &'static str },

    #[error("order_by is too long: {len} characters, at most {max} are allowed")]
    OrderByTooLong { len: usize, max: usize },

    /// Malformed `order_by` text: an empty key, too many words in a key, ...
    #[error("invalid order_by syntax at position {position}: {message}")]
    OrderBySyntax { position: usize, message: String },

    #[error("unknown order_by field `{name}` at position {position}; sortable fields: {fields}", fields = SORTABLE_FIELDS)]
    UnknownOrderField { position: usize, name: String },

    #[error("invalid sort direction `{value}` at position {position}; expected `asc` or `desc`")]
    InvalidDirection { position: usize, value: String },

    /// `name` is the canonical field name, so `due, due_time` reports `due_time`.
    #[error("duplicate order_by field `{name}` at position {position}; each field may be used only once")]
    DuplicateOrderField { position: usize, name: &'static str },
}

impl QueryError {
    /// The request field that is wrong: `"filter"` or `"order_by"`.
    pub fn field(&self) -> &'static str {
        if self.is_filter_error() { "filter" } else { "order_by" }
    }

    /// A stable machine-readable reason: `"INVALID_FILTER"` or `"INVALID_ORDER_BY"`.
    pub fn reason(&self) -> &'static str {
        if self.is_filter_error() { "INVALID_FILTER" } else { "INVALID_ORDER_BY" }
    }

    /// Where in the input the problem is (0-based character offset), if it is
    /// at one place.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::FilterTooLong { .. } | Self::OrderByTooLong { .. } => None,
            Self::FilterTooDeep { position, .. }
            | Self::FilterSyntax { position, .. }
            | Self::UnknownFilterField { position, .. }
            | Self::UnsupportedOperator { position, .. }
            | Self::InvalidFilterValue { position, .. }
            | Self::OrderBySyntax { position, .. }
            | Self::UnknownOrderField { position, .. }
            | Self::InvalidDirection { position, .. }
            | Self::DuplicateOrderField { position, .. } => Some(*position),
        }
    }

    fn is_filter_error(&self) -> bool {
        match self {
            Self::FilterTooLong { .. }
            | Self::FilterTooDeep { .. }
            | Self::FilterSyntax { .. }
            | Self::UnknownFilterField { .. }
            | Self::UnsupportedOperator { .. }
            | Self::InvalidFilterValue { .. } => true,
            Self::OrderByTooLong { .. }
            | Self::OrderBySyntax { .. }
            | Self::UnknownOrderField { .. }
            | Self::InvalidDirection { .. }
            | Self::DuplicateOrderField { .. } => false,
        }
    }
}

fn filter_syntax(position: usize, message: impl Into<String>) -> QueryError {
    QueryError::FilterSyntax { position, message: message.into() }
}

// ---------------------------------------------------------------------------
// Filter parsing
// ---------------------------------------------------------------------------

/// Parses an AIP-160 `filter` (see the module documentation for the grammar).
///
/// An empty or all-whitespace filter gives [`Filter::All`].
///
/// # Errors
///
/// A filter-side [`QueryError`] (`field()` is `"filter"`) when the input is
/// longer than [`MAX_INPUT_CHARS`], nests deeper than [`MAX_NESTING_DEPTH`], is
/// malformed, names an unknown field, uses a comparator the field does not
/// support, or gives a value of the wrong shape.
pub fn parse_filter(input: &str) -> Result<Filter, QueryError> {
    let len = input.chars().count();
    if len > MAX_INPUT_CHARS {
        return Err(QueryError::FilterTooLong { len, max: MAX_INPUT_CHARS });
    }
    FilterParser::new(input).parse()
}

/// What a field name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    State,
    Priority,
    Tags,
    Text(TextField),
    Time(TimeField),
}

fn lookup_field(name: &str) -> Option<FieldKind> {
    Some(match name {
        "state" | "status" => FieldKind::State,
        "priority" => FieldKind::Priority,
        "tags" => FieldKind::Tags,
        "title" => FieldKind::Text(TextField::Title),
        "description" => FieldKind::Text(TextField::Description),
        "due_time" | "due" => FieldKind::Time(TimeField::Due),
        "create_time" => FieldKind::Time(TimeField::Create),
        "update_time" => FieldKind::Time(TimeField::Update),
        "complete_time" => FieldKind::Time(TimeField::Complete),
        "delete_time" => FieldKind::Time(TimeField::Delete),
        _ => return None,
    })
}

/// A comparator in a restriction: an ordering comparison or `:` ("has").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Cmp(Cmp),
    Has,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Cmp(cmp) => cmp.symbol(),
            Op::Has => ":",
        }
    }
}

/// The right-hand side of a restriction, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Value {
    text: String,
    /// Quoted values are literal text: `"*"` is not a wildcard.
    quoted: bool,
    position: usize,
}

impl Value {
    fn is_wildcard(&self) -> bool {
        !self.quoted && self.text == "*"
    }
}

/// Characters of a search word or field name (outside a restriction's value).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '*' | '/')
}

/// Characters of a bare value after a comparator: word characters and `:`.
fn is_value_char(c: char) -> bool {
    is_word_char(c) || c == ':'
}

/// Whether `c` may directly follow a keyword (`AND`, `OR`, `NOT`).
fn ends_keyword(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "AND" | "OR" | "NOT")
}

/// A recursive-descent parser over the characters of the filter.
///
/// Every method that recurses goes through [`FilterParser::descend`], which
/// bounds the recursion at [`MAX_NESTING_DEPTH`] levels, so hostile input cannot
/// overflow the stack even without the length limit.
struct FilterParser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl FilterParser {
    fn new(input: &str) -> Self {
        FilterParser { chars: input.chars().collect(), pos: 0, depth: 0 }
    }

    // --- entry point -------------------------------------------------------

    fn parse(mut self) -> Result<Filter, QueryError> {
        self.skip_ws();
        if self.at_end() {
            return Ok(Filter::All);
        }
        let filter = self.parse_expression()?;
        self.skip_ws();
        match self.peek() {
            None => Ok(filter),
            // An expression only stops early at a `)` that closes nothing.
            Some(')') => Err(filter_syntax(self.pos, "unbalanced parentheses: `)` has no matching `(`")),
            Some(c) => Err(filter_syntax(self.pos, format!("unexpected `{c}`"))),
        }
    }

    // --- grammar rules, loosest binding first ------------------------------

    /// `expression = sequence { "AND" sequence }`
    fn parse_expression(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.parse_sequence()?];
        loop {
            self.skip_ws();
            let keyword_pos = self.pos;
            if !self.eat_keyword("AND") {
                break;
            }
            self.expect_operand("AND", keyword_pos)?;
            parts.push(self.parse_sequence()?);
        }
        Ok(Filter::all_of(parts))
    }

    /// `sequence = factor { factor }`: juxtaposed factors are joined with AND.
    fn parse_sequence(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.parse_factor()?];
        loop {
            self.skip_ws();
            if matches!(self.peek(), None | Some(')')) || self.keyword_at("AND") {
                break;
            }
            parts.push(self.parse_factor()?);
        }
        Ok(Filter::all_of(parts))
    }

    /// `factor = term { "OR" term }`
    fn parse_factor(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.parse_term()?];
        loop {
            self.skip_ws();
            let keyword_pos = self.pos;
            if !self.eat_keyword("OR") {
                break;
            }
            self.expect_operand("OR", keyword_pos)?;
            parts.push(self.parse_term()?);
        }
        Ok(Filter::any_of(parts))
    }

    /// `term = [ "NOT" | "-" ] simple`
    fn parse_term(&mut self) -> Result<Filter, QueryError> {
        self.skip_ws();
        let start = self.pos;
        let negated = if self.eat_keyword("NOT") {
            self.expect_operand("NOT", start)?;
            true
        } else if self.peek() == Some('-') {
            match self.peek_at(1) {
                Some(c) if !c.is_whitespace() && c != ')' => {
                    self.pos += 1;
                    true
                }
                _ => {
                    return Err(filter_syntax(
                        start,
                        "`-` must be immediately followed by an expression, as in `-tags:*`",
                    ));
                }
            }
        } else {
            false
        };

        if !negated {
            return self.parse_simple();
        }
        self.descend(start)?;
        let operand = self.parse_term()?;
        self.ascend();
        Ok(Filter::Not(Box::new(operand)))
    }

    /// `simple = "(" expression ")" | restriction | search`
    fn parse_simple(&mut self) -> Result<Filter, QueryError> {
        let start = self.pos;
        match self.peek() {
            None => Err(filter_syntax(start, "expected an expression")),
            Some('(') => self.parse_parenthesized(),
            Some(')') => Err(filter_syntax(start, "unbalanced parentheses: `)` has no matching `(`")),
            Some('"') => {
                let text = self.parse_quoted()?;
                if self.comparator_follows() {
                    return Err(filter_syntax(start, "a quoted string cannot be used as a field name"));
                }
                Ok(Filter::Predicate(Predicate::Search(text)))
            }
            Some(c) if is_word_char(c) => {
                let word = self.take_while(is_word_char);
                if self.comparator_follows() {
                    return self.parse_restriction(&word, start);
                }
                if word == "AND" || word == "OR" {
                    return Err(filter_syntax(
                        start,
                        format!("unexpected keyword `{word}`; expected an expression before it"),
                    ));
                }
                Ok(Filter::Predicate(Predicate::Search(word)))
            }
            Some(c) => Err(filter_syntax(start, format!("unexpected character `{c}`"))),
        }
    }

    /// `"(" expression ")"`
    fn parse_parenthesized(&mut self) -> Result<Filter, QueryError> {
        let open = self.pos;
        self.descend(open)?;
        self.pos += 1;
        self.skip_ws();
        match self.peek() {
            Some(')') => return Err(filter_syntax(open, "empty parentheses")),
            None => return Err(unclosed(open)),
            Some(_) => {}
        }
        let inner = self.parse_expression()?;
        self.skip_ws();
        // An expression stops only at the end of input or at a `)`.
        if self.peek() != Some(')') {
            return Err(unclosed(open));
        }
        self.pos += 1;
        self.ascend();
        Ok(inner)
    }

    /// `restriction = field comparator value`, with `name` (at `name_pos`)
    /// already consumed.
    fn parse_restriction(&mut self, name: &str, name_pos: usize) -> Result<Filter, QueryError> {
        let field = lookup_field(name)
            .ok_or_else(|| QueryError::UnknownFilterField { position: name_pos, name: name.to_owned() })?;
        self.skip_ws();
        let op_pos = self.pos;
        let op = self.parse_operator()?;
        let value = self.parse_value(op, op_pos)?;
        build_predicate(field, name, op, op_pos, value).map(Filter::Predicate)
    }

    fn parse_operator(&mut self) -> Result<Op, QueryError> {
        let (op, width) = match (self.peek(), self.peek_at(1)) {
            (Some('<'), Some('=')) => (Op::Cmp(Cmp::Le), 2),
            (Some('>'), Some('=')) => (Op::Cmp(Cmp::Ge), 2),
            (Some('!'), Some('=')) => (Op::Cmp(Cmp::Ne), 2),
            (Some('<'), _) => (Op::Cmp(Cmp::Lt), 1),
            (Some('>'), _) => (Op::Cmp(Cmp::Gt), 1),
            (Some('='), _) => (Op::Cmp(Cmp::Eq), 1),
            (Some(':'), _) => (Op::Has, 1),
            (Some('!'), _) => return Err(filter_syntax(self.pos, "expected `!=` after `!`")),
            _ => return Err(filter_syntax(self.pos, "expected a comparison operator")),
        };
        self.pos += width;
        Ok(op)
    }

    /// The value after a comparator: a quoted string, or everything up to the
    /// next whitespace or `)`.
    fn parse_value(&mut self, op: Op, op_pos: usize) -> Result<Value, QueryError> {
        self.skip_ws();
        let start = self.pos;
        let missing = || filter_syntax(op_pos, format!("operator `{}` is missing a value", op.symbol()));
        match self.peek() {
            None | Some(')') => Err(missing()),
            Some('"') => Ok(Value { text: self.parse_quoted()?, quoted: true, position: start }),
            Some(_) => {
                let text = self.take_while(|c| !c.is_whitespace() && c != ')');
                if is_keyword(&text) {
                    return Err(missing());
                }
                if let Some((offset, c)) = text.chars().enumerate().find(|&(_, c)| !is_value_char(c)) {
                    return Err(filter_syntax(
                        start + offset,
                        format!(
                            "unexpected character `{c}` in a value; quote values that contain \
                             special characters"
                        ),
                    ));
                }
                Ok(Value { text, quoted: false, position: start })
            }
        }
    }

    /// A `"`-delimited string starting at the current position; `\"` and `\\`
    /// are the only escapes.
    fn parse_quoted(&mut self) -> Result<String, QueryError> {
        let open = self.pos;
        let unterminated = || filter_syntax(open, "unterminated string: missing closing `\"`");
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(unterminated());
            };
            let char_pos = self.pos;
            self.pos += 1;
            match c {
                '"' => return Ok(text),
                '\\' => match self.peek() {
                    Some(escaped @ ('"' | '\\')) => {
                        text.push(escaped);
                        self.pos += 1;
                    }
                    Some(other) => {
                        return Err(filter_syntax(
                            char_pos,
                            format!("unsupported escape `\\{other}`; only `\\\"` and `\\\\` are allowed"),
                        ));
                    }
                    None => return Err(unterminated()),
                },
                other => text.push(other),
            }
        }
    }

    // --- low-level scanning ------------------------------------------------

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos.saturating_add(offset)).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, accept: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while let Some(c) = self.peek().filter(|&c| accept(c)) {
            taken.push(c);
            self.pos += 1;
        }
        taken
    }

    /// Whether `keyword` starts at the current position as a whole word.
    fn keyword_at(&self, keyword: &str) -> bool {
        let mut at = self.pos;
        for expected in keyword.chars() {
            if self.chars.get(at) != Some(&expected) {
                return false;
            }
            at += 1;
        }
        self.chars.get(at).is_none_or(|&c| ends_keyword(c))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.keyword_at(keyword);
        if found {
            self.pos += keyword.chars().count();
        }
        found
    }

    /// After a keyword at `keyword_pos`: skips whitespace and checks that an
    /// operand follows.
    fn expect_operand(&mut self, keyword: &str, keyword_pos: usize) -> Result<(), QueryError> {
        self.skip_ws();
        match self.peek() {
            None | Some(')') => {
                Err(filter_syntax(keyword_pos, format!("`{keyword}` must be followed by an expression")))
            }
            Some(_) => Ok(()),
        }
    }

    /// Whether the next non-whitespace character starts a comparator. Does not
    /// consume anything.
    fn comparator_follows(&self) -> bool {
        let mut at = self.pos;
        while self.chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        matches!(self.chars.get(at), Some('=' | '!' | '<' | '>' | ':'))
    }

    fn descend(&mut self, position: usize) -> Result<(), QueryError> {
        if self.depth >= MAX_NESTING_DEPTH {
            return Err(QueryError::FilterTooDeep { position, max: MAX_NESTING_DEPTH });
        }
        self.depth += 1;
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

fn unclosed(open: usize) -> QueryError {
    filter_syntax(open, "unbalanced parentheses: `(` is never closed")
}

/// Type-checks a restriction and turns it into a [`Predicate`].
fn build_predicate(field: FieldKind, name: &str, op: Op, op_pos: usize, value: Value) -> Result<Predicate, QueryError> {
    let unsupported = |hint: &'static str| QueryError::UnsupportedOperator {
        position: op_pos,
        field: name.to_owned(),
        operator: op.symbol(),
        hint,
    };
    let invalid = |value: &Value, expected: &'static str| QueryError::InvalidFilterValue {
        position: value.position,
        field: name.to_owned(),
        value: value.text.clone(),
        expected,
    };

    match field {
        FieldKind::State => {
            let negated = match op {
                Op::Cmp(Cmp::Eq) => false,
                Op::Cmp(Cmp::Ne) => true,
                _ => return Err(unsupported("supported operators: =, !=")),
            };
            let state = parse_state(&value.text)
                .ok_or_else(|| invalid(&value, "one of OPEN, COMPLETED (or STATE_OPEN, STATE_COMPLETED)"))?;
            Ok(Predicate::State { negated, value: state })
        }
        FieldKind::Priority => {
            let Op::Cmp(cmp) = op else {
                return Err(unsupported("supported operators: =, !=, <, <=, >, >="));
            };
            let priority = parse_priority(&value.text).ok_or_else(|| {
                invalid(&value, "one of NONE, LOW, MEDIUM, HIGH, URGENT (optionally prefixed with PRIORITY_)")
            })?;
            Ok(Predicate::Priority { cmp, value: priority })
        }
        FieldKind::Tags => {
            if op != Op::Has {
                return Err(unsupported(
                    "tags is a repeated field and only supports `:`, as in `tags:\"work\"` \
                     (has that tag) or `tags:*` (has any tag)",
                ));
            }
            if value.is_wildcard() {
                Ok(Predicate::HasAnyTag)
            } else if value.text.is_empty() {
                Err(invalid(&value, "a non-empty tag name, or `*` for any tag"))
            } else {
                Ok(Predicate::HasTag(value.text))
            }
        }
        FieldKind::Text(field) => match op {
            Op::Has if value.is_wildcard() => Err(invalid(
                &value,
                "text to search for; `:*` (is set) is only supported for tags and timestamp \
                 fields (quote the value to search for a literal `*`)",
            )),
            Op::Has => Ok(Predicate::TextContains { field, needle: value.text }),
            Op::Cmp(Cmp::Eq | Cmp::Ne) => {
                Ok(Predicate::TextEquals { field, negated: op == Op::Cmp(Cmp::Ne), value: value.text })
            }
            Op::Cmp(_) => Err(unsupported("supported operators: `:` (contains), `=` and `!=` (exact match)")),
        },
        FieldKind::Time(field) => match op {
            Op::Has if value.is_wildcard() => Ok(Predicate::TimeIsSet(field)),
            Op::Has => Err(invalid(
                &value,
                "`*`: `field:*` tests whether the timestamp is set; compare timestamps with \
                 =, !=, <, <=, >, >=",
            )),
            Op::Cmp(cmp) => {
                let time = parse_time(&value.text).ok_or_else(|| {
                    invalid(
                        &value,
                        "an RFC 3339 timestamp such as 2026-12-01T09:00:00Z (any UTC offset) \
                         or a date such as 2026-12-01 (midnight UTC)",
                    )
                })?;
                Ok(Predicate::Time { field, cmp, value: time })
            }
        },
    }
}

fn parse_state(text: &str) -> Option<TaskStateValue> {
    let upper = text.to_ascii_uppercase();
    match upper.strip_prefix("STATE_").unwrap_or(&upper) {
        "OPEN" => Some(TaskStateValue::Open),
        "COMPLETED" => Some(TaskStateValue::Completed),
        _ => None,
    }
}

fn parse_priority(text: &str) -> Option<PriorityValue> {
    let upper = text.to_ascii_uppercase();
    match upper.strip_prefix("PRIORITY_").unwrap_or(&upper) {
        "NONE" => Some(PriorityValue::None),
        "LOW" => Some(PriorityValue::Low),
        "MEDIUM" => Some(PriorityValue::Medium),
        "HIGH" => Some(PriorityValue::High),
        "URGENT" => Some(PriorityValue::Urgent),
        _ => None,
    }
}

/// An RFC 3339 timestamp (converted to UTC) or a plain `YYYY-MM-DD` date
/// (midnight UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|date| date.and_time(NaiveTime::MIN).and_utc())
}

// ---------------------------------------------------------------------------
// order_by parsing
// ---------------------------------------------------------------------------

/// Parses an AIP-132 `order_by` such as `"priority desc, due_time"`.
///
/// An empty or all-whitespace input gives [`OrderBy::default`] (`create_time asc`).
///
/// # Errors
///
/// An `order_by`-side [`QueryError`] (`field()` is `"order_by"`) when the input
/// is longer than [`MAX_INPUT_CHARS`], has an empty or over-long key, names an
/// unknown field or direction, or uses a field twice.
pub fn parse_order_by(input: &str) -> Result<OrderBy, QueryError> {
    let len = input.chars().count();
    if len > MAX_INPUT_CHARS {
        return Err(QueryError::OrderByTooLong { len, max: MAX_INPUT_CHARS });
    }
    if input.trim().is_empty() {
        return Ok(OrderBy::default());
    }

    let chars: Vec<char> = input.chars().collect();
    let mut keys: Vec<(OrderField, Direction)> = Vec::new();
    for (segment_start, segment) in split_with_positions(&chars, ',') {
        let words = words_with_positions(segment, segment_start);
        let (field, field_pos, direction) = match words.as_slice() {
            [] => {
                return Err(QueryError::OrderBySyntax {
                    position: segment_start,
                    message: "empty sort key; check for a doubled, leading or trailing comma".to_owned(),
                });
            }
            [(pos, name)] => (order_field(name, *pos)?, *pos, Direction::Asc),
            [(pos, name), (dir_pos, dir)] => (order_field(name, *pos)?, *pos, direction(dir, *dir_pos)?),
            [_, _, (pos, extra), ..] => {
                return Err(QueryError::OrderBySyntax {
                    position: *pos,
                    message: format!(
                        "unexpected `{extra}`; a sort key is a field name optionally followed \
                         by `asc` or `desc`, and keys are separated by commas"
                    ),
                });
            }
        };
        if keys.iter().any(|(seen, _)| *seen == field) {
            return Err(QueryError::DuplicateOrderField { position: field_pos, name: field.name() });
        }
        keys.push((field, direction));
    }
    Ok(OrderBy(keys))
}

fn order_field(name: &str, position: usize) -> Result<OrderField, QueryError> {
    match name {
        "due_time" | "due" => Ok(OrderField::DueTime),
        "priority" => Ok(OrderField::Priority),
        "create_time" => Ok(OrderField::CreateTime),
        "update_time" => Ok(OrderField::UpdateTime),
        "complete_time" => Ok(OrderField::CompleteTime),
        "title" => Ok(OrderField::Title),
        _ => Err(QueryError::UnknownOrderField { position, name: name.to_owned() }),
    }
}

fn direction(word: &str, position: usize) -> Result<Direction, QueryError> {
    if word.eq_ignore_ascii_case("asc") {
        Ok(Direction::Asc)
    } else if word.eq_ignore_ascii_case("desc") {
        Ok(Direction::Desc)
    } else {
        Err(QueryError::InvalidDirection { position, value: word.to_owned() })
    }
}

/// Splits `chars` at every `separator`, pairing each piece with the offset of
/// its first character.
fn split_with_positions(chars: &[char], separator: char) -> Vec<(usize, &[char])> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for piece in chars.split(|&c| c == separator) {
        pieces.push((start, piece));
        // The next piece starts after this one and its separator.
        start += piece.len() + 1;
    }
    pieces
}

/// The whitespace-separated words of `chars`, each with its offset in the
/// whole input (`chars` itself starts at `offset`).
fn words_with_positions(chars: &[char], offset: usize) -> Vec<(usize, String)> {
    let mut words = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, &c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            words.extend(current.take());
        } else {
            current.get_or_insert_with(|| (offset + index, String::new())).1.push(c);
        }
    }
    words.extend(current);
    words
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // --- helpers -----------------------------------------------------------

    fn ok(input: &str) -> Filter {
        parse_filter(input).unwrap_or_else(|e| panic!("{input:?} should parse, got error: {e}"))
    }

    fn err(input: &str) -> QueryError {
        match parse_filter(input) {
            Ok(filter) => panic!("{input:?} should fail, parsed as {filter:?}"),
            Err(e) => e,
        }
    }

    fn pred(predicate: Predicate) -> Filter {
        Filter::Predicate(predicate)
    }

    fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn search(text: &str) -> Filter {
        pred(Predicate::Search(text.to_owned()))
    }

    fn state(negated: bool, value: TaskStateValue) -> Filter {
        pred(Predicate::State { negated, value })
    }

    fn priority(cmp: Cmp, value: PriorityValue) -> Filter {
        pred(Predicate::Priority { cmp, value })
    }

    fn tag(name: &str) -> Filter {
        pred(Predicate::HasTag(name.to_owned()))
    }

    fn syntax_error_at(e: &QueryError) -> (usize, &str) {
        match e {
            QueryError::FilterSyntax { position, message } => (*position, message.as_str()),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    // --- fields and operators ----------------------------------------------

    #[test]
    fn state_restrictions() {
        use TaskStateValue::*;
        let cases = [
            ("state = OPEN", state(false, Open)),
            ("state=OPEN", state(false, Open)),
            ("state = COMPLETED", state(false, Completed)),
            ("state != OPEN", state(true, Open)),
            ("state!=COMPLETED", state(true, Completed)),
            ("state = STATE_OPEN", state(false, Open)),
            ("state = STATE_COMPLETED", state(false, Completed)),
            ("status = OPEN", state(false, Open)),
            ("status != STATE_COMPLETED", state(true, Completed)),
            ("state = open", state(false, Open)),
            ("state = \"OPEN\"", state(false, Open)),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn priority_restrictions() {
        use PriorityValue as P;
        let cmps = [("=", Cmp::Eq), ("!=", Cmp::Ne), ("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge)];
        let values = [
            ("NONE", P::None),
            ("LOW", P::Low),
            ("MEDIUM", P::Medium),
            ("HIGH", P::High),
            ("URGENT", P::Urgent),
            ("PRIORITY_NONE", P::None),
            ("PRIORITY_LOW", P::Low),
            ("PRIORITY_MEDIUM", P::Medium),
            ("PRIORITY_HIGH", P::High),
            ("PRIORITY_URGENT", P::Urgent),
            ("high", P::High),
        ];
        for (symbol, cmp) in cmps {
            for (text, value) in values {
                for input in [format!("priority {symbol} {text}"), format!("priority{symbol}{text}")] {
                    assert_eq!(ok(&input), priority(cmp, value), "{input}");
                }
            }
        }
    }

    #[test]
    fn priority_rank_follows_the_ladder() {
        use PriorityValue as P;
        let ladder = [P::None, P::Low, P::Medium, P::High, P::Urgent];
        let ranks: Vec<i32> = ladder.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn cmp_holds() {
        use Ordering::*;
        let cases = [
            (Cmp::Eq, [false, true, false]),
            (Cmp::Ne, [true, false, true]),
            (Cmp::Lt, [true, false, false]),
            (Cmp::Le, [true, true, false]),
            (Cmp::Gt, [false, false, true]),
            (Cmp::Ge, [false, true, true]),
        ];
        for (cmp, expected) in cases {
            let got = [Less, Equal, Greater].map(|o| cmp.holds(o));
            assert_eq!(got, expected, "{cmp:?}");
        }
    }

    #[test]
    fn tag_restrictions() {
        let cases = [
            ("tags:work", tag("work")),
            ("tags:\"work\"", tag("work")),
            ("tags : \"deep work\"", tag("deep work")),
            ("tags:Work", tag("Work")),
            ("tags:*", pred(Predicate::HasAnyTag)),
            ("tags : *", pred(Predicate::HasAnyTag)),
            ("tags:\"*\"", tag("*")),
            ("tags:c++/rust", tag("c++/rust")),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn text_restrictions() {
        use TextField::*;
        let contains = |field, needle: &str| pred(Predicate::TextContains { field, needle: needle.to_owned() });
        let equals =
            |field, negated, value: &str| pred(Predicate::TextEquals { field, negated, value: value.to_owned() });
        let cases = [
            ("title:milk", contains(Title, "milk")),
            ("title : \"buy milk\"", contains(Title, "buy milk")),
            ("description:milk", contains(Description, "milk")),
            ("title:\"*\"", contains(Title, "*")),
            ("title = \"Buy milk\"", equals(Title, false, "Buy milk")),
            ("title=milk", equals(Title, false, "milk")),
            ("title != milk", equals(Title, true, "milk")),
            ("description = \"\"", equals(Description, false, "")),
            ("description != \"x y\"", equals(Description, true, "x y")),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn time_restrictions_every_field_and_operator() {
        let fields = [
            ("due_time", TimeField::Due),
            ("due", TimeField::Due),
            ("create_time", TimeField::Create),
            ("update_time", TimeField::Update),
            ("complete_time", TimeField::Complete),
            ("delete_time", TimeField::Delete),
        ];
        let cmps = [("=", Cmp::Eq), ("!=", Cmp::Ne), ("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge)];
        let value = utc(2026, 12, 1, 9, 0, 0);
        for (name, field) in fields {
            for (symbol, cmp) in cmps {
                for input in [
                    format!("{name} {symbol} 2026-12-01T09:00:00Z"),
                    format!("{name}{symbol}2026-12-01T09:00:00Z"),
                    format!("{name} {symbol} \"2026-12-01T09:00:00Z\""),
                ] {
                    assert_eq!(ok(&input), pred(Predicate::Time { field, cmp, value }), "{input}");
                }
            }
            let is_set = format!("{name}:*");
            assert_eq!(ok(&is_set), pred(Predicate::TimeIsSet(field)), "{is_set}");
        }
    }

    #[test]
    fn time_values_are_normalised_to_utc() {
        let nanos = |t: DateTime<Utc>, ns: u32| t + chrono::Duration::nanoseconds(i64::from(ns));
        let cases = [
            ("2026-12-01T09:00:00Z", utc(2026, 12, 1, 9, 0, 0)),
            ("2026-12-01T09:00:00+02:00", utc(2026, 12, 1, 7, 0, 0)),
            ("2026-12-01T00:30:00-05:30", utc(2026, 12, 1, 6, 0, 0)),
            ("2026-12-01T23:00:00-02:00", utc(2026, 12, 2, 1, 0, 0)),
            ("2026-12-01T09:00:00.25Z", nanos(utc(2026, 12, 1, 9, 0, 0), 250_000_000)),
            ("2026-12-01", utc(2026, 12, 1, 0, 0, 0)),
            ("2024-02-29", utc(2024, 2, 29, 0, 0, 0)),
        ];
        for (text, expected) in cases {
            let input = format!("due < {text}");
            let got = ok(&input);
            let want = pred(Predicate::Time { field: TimeField::Due, cmp: Cmp::Lt, value: expected });
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn bare_values_end_at_whitespace_or_closing_paren() {
        let due_before =
            pred(Predicate::Time { field: TimeField::Due, cmp: Cmp::Lt, value: utc(2026, 12, 1, 7, 0, 0) });
        let cases = [
            ("(due<2026-12-01T09:00:00+02:00)", due_before.clone()),
            ("(tags:work OR due < 2026-12-01T09:00:00+02:00)", Filter::Or(vec![tag("work"), due_before.clone()])),
            ("due < 2026-12-01T09:00:00+02:00 tags:a:b", Filter::And(vec![due_before, tag("a:b")])),
            ("(tags:x)(tags:y)", Filter::And(vec![tag("x"), tag("y")])),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn global_search() {
        let cases = [
            ("milk", search("milk")),
            ("\"buy milk\"", search("buy milk")),
            ("  milk  ", search("milk")),
            ("Müller", search("Müller")),
            ("e-mail", search("e-mail")),
            ("milk eggs", Filter::And(vec![search("milk"), search("eggs")])),
            ("-milk", not(search("milk"))),
            ("\"AND\"", search("AND")),
            ("\"\"", search("")),
            ("milk state = OPEN", Filter::And(vec![search("milk"), state(false, TaskStateValue::Open)])),
            ("milk OR eggs", Filter::Or(vec![search("milk"), search("eggs")])),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let title = |needle: &str| pred(Predicate::TextContains { field: TextField::Title, needle: needle.to_owned() });
        let cases = [
            (r#"title:"say \"hi\"""#, title("say \"hi\"")),
            (r#"title:"back\\slash""#, title("back\\slash")),
            (r#"title:"\\\"""#, title("\\\"")),
            (r#"title:"a)b(c""#, title("a)b(c")),
            (r#"title:"x AND y""#, title("x AND y")),
            (r#"title:"colon: here""#, title("colon: here")),
            (r#"title:"  spaced  ""#, title("  spaced  ")),
            (r#""a \"quoted\" search""#, search("a \"quoted\" search")),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    #[test]
    fn empty_filter_means_all() {
        for input in ["", " ", "\n\t  "] {
            assert_eq!(ok(input), Filter::All, "{input:?}");
        }
    }

    #[test]
    fn whitespace_is_insignificant() {
        let expected = Filter::And(vec![state(false, TaskStateValue::Open), priority(Cmp::Ge, PriorityValue::High)]);
        for input in [
            "state=OPEN AND priority>=HIGH",
            "  state   =   OPEN   AND   priority   >=   HIGH  ",
            "\tstate\n=\nOPEN\r\nAND\tpriority >=HIGH",
            "(state = OPEN)AND(priority >= HIGH)",
            "( state = OPEN ) ( priority >= HIGH )",
        ] {
            assert_eq!(ok(input), expected, "{input:?}");
        }
    }

    // --- precedence ----------------------------------------------------------

    #[test]
    fn precedence_and_grouping() {
        let a = || state(false, TaskStateValue::Open);
        let b = || priority(Cmp::Gt, PriorityValue::Low);
        let c = || tag("work");
        let d = || search("milk");
        let and = Filter::And;
        let or = Filter::Or;
        // a = `state = OPEN`, b = `priority > LOW`, c = `tags:work`, d = `milk`
        let cases = [
            // OR binds tighter than AND (AIP-160).
            ("state = OPEN AND priority > LOW OR tags:work", and(vec![a(), or(vec![b(), c()])])),
            ("state = OPEN OR priority > LOW AND tags:work", and(vec![or(vec![a(), b()]), c()])),
            // Implicit AND behaves like AND.
            ("state = OPEN priority > LOW OR tags:work", and(vec![a(), or(vec![b(), c()])])),
            ("state = OPEN OR priority > LOW tags:work", and(vec![or(vec![a(), b()]), c()])),
            ("state = OPEN priority > LOW tags:work", and(vec![a(), b(), c()])),
            // Chains flatten.
            ("state = OPEN AND priority > LOW AND tags:work", and(vec![a(), b(), c()])),
            ("state = OPEN OR priority > LOW OR tags:work", or(vec![a(), b(), c()])),
            ("state = OPEN AND (priority > LOW AND tags:work)", and(vec![a(), b(), c()])),
            // Parentheses override.
            ("(state = OPEN AND priority > LOW) OR tags:work", or(vec![and(vec![a(), b()]), c()])),
            ("state = OPEN AND (priority > LOW OR tags:work) milk", and(vec![a(), or(vec![b(), c()]), d()])),
            ("((state = OPEN))", a()),
            // Negation applies to one term.
            ("NOT state = OPEN", not(a())),
            ("-state = OPEN", not(a())),
            ("-tags:work", not(c())),
            ("NOT state = OPEN OR priority > LOW", or(vec![not(a()), b()])),
            ("-state=OPEN priority > LOW", and(vec![not(a()), b()])),
            ("NOT (state = OPEN OR priority > LOW)", not(or(vec![a(), b()]))),
            ("NOT(state = OPEN)", not(a())),
            ("-(state = OPEN tags:work)", not(and(vec![a(), c()]))),
            ("NOT NOT state = OPEN", not(not(a()))),
            ("--state = OPEN", not(not(a()))),
            ("milk -tags:work", and(vec![d(), not(c())])),
            // Keywords are case-sensitive: lowercase ones are search words.
            ("state = OPEN and milk", and(vec![a(), search("and"), d()])),
            ("milk or tags:work", and(vec![d(), search("or"), c()])),
            ("not milk", and(vec![search("not"), d()])),
            // Words that merely start with a keyword are words.
            ("ANDROID", search("ANDROID")),
            ("NOTE OR ORDER", or(vec![search("NOTE"), search("ORDER")])),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    // --- errors --------------------------------------------------------------

    #[test]
    fn unknown_field_message_names_field_position_and_alternatives() {
        let e = err("colour = red");
        assert_eq!(e, QueryError::UnknownFilterField { position: 0, name: "colour".to_owned() });
        assert_eq!(
            e.to_string(),
            "unknown field `colour` at position 0; filterable fields: state, priority, tags, \
             title, description, due_time, create_time, update_time, complete_time, delete_time"
        );
        assert_eq!(e.field(), "filter");
        assert_eq!(e.reason(), "INVALID_FILTER");
        assert_eq!(e.position(), Some(0));
    }

    #[test]
    fn unknown_fields() {
        let cases = [
            ("colour = red", 0, "colour"),
            ("state = OPEN AND colour:red", 17, "colour"),
            ("Status = OPEN", 0, "Status"),
            ("foo:bar", 0, "foo"),
            ("(milk OR due_date < 2026-01-01)", 9, "due_date"),
            ("AND:x", 0, "AND"),
        ];
        for (input, position, name) in cases {
            assert_eq!(err(input), QueryError::UnknownFilterField { position, name: name.to_owned() }, "{input}");
        }
    }

    #[test]
    fn invalid_values() {
        // (input, position of the value, field as written, value)
        let cases = [
            ("state = DONE", 8, "state", "DONE"),
            ("status != 1", 10, "status", "1"),
            ("state = STATE_", 8, "state", "STATE_"),
            ("priority = CRITICAL", 11, "priority", "CRITICAL"),
            ("priority > PRIORITY_", 11, "priority", "PRIORITY_"),
            ("priority >= \"\"", 12, "priority", ""),
            ("due < tomorrow", 6, "due", "tomorrow"),
            ("due < 2026-13-01", 6, "due", "2026-13-01"),
            ("due_time = 2026-12-01T25:00:00Z", 11, "due_time", "2026-12-01T25:00:00Z"),
            ("create_time > 2026-12-01T09:00:00", 14, "create_time", "2026-12-01T09:00:00"),
            ("update_time = *", 14, "update_time", "*"),
            ("due:2026-12-01", 4, "due", "2026-12-01"),
            ("due_time:\"*\"", 9, "due_time", "*"),
            ("tags:\"\"", 5, "tags", ""),
            ("title:*", 6, "title", "*"),
            ("description : *", 14, "description", "*"),
        ];
        for (input, position, field, value) in cases {
            match err(input) {
                QueryError::InvalidFilterValue { position: p, field: f, value: v, .. } => {
                    assert_eq!((p, f.as_str(), v.as_str()), (position, field, value), "{input}")
                }
                other => panic!("{input}: expected InvalidFilterValue, got {other:?}"),
            }
        }
        let message = err("priority = CRITICAL").to_string();
        assert!(message.contains("`CRITICAL`"), "{message}");
        assert!(message.contains("NONE, LOW, MEDIUM, HIGH, URGENT"), "{message}");
    }

    #[test]
    fn unsupported_operators() {
        // (input, position of the operator, field as written, operator)
        let cases = [
            ("tags = \"x\"", 5, "tags", "="),
            ("tags != x", 5, "tags", "!="),
            ("tags < x", 5, "tags", "<"),
            ("tags>=x", 4, "tags", ">="),
            ("state < OPEN", 6, "state", "<"),
            ("state >= OPEN", 6, "state", ">="),
            ("state:OPEN", 5, "state", ":"),
            ("status > OPEN", 7, "status", ">"),
            ("priority:HIGH", 8, "priority", ":"),
            ("title < b", 6, "title", "<"),
            ("description >= x", 12, "description", ">="),
        ];
        for (input, position, field, operator) in cases {
            match err(input) {
                QueryError::UnsupportedOperator { position: p, field: f, operator: o, .. } => {
                    assert_eq!((p, f.as_str(), o), (position, field, operator), "{input}")
                }
                other => panic!("{input}: expected UnsupportedOperator, got {other:?}"),
            }
        }
        let message = err("tags = \"x\"").to_string();
        assert!(message.contains("only supports `:`"), "{message}");
    }

    #[test]
    fn syntax_errors() {
        // (input, position, part of the message)
        let cases = [
            // unbalanced parentheses
            ("(state = OPEN", 0, "`(` is never closed"),
            ("((state = OPEN)", 0, "`(` is never closed"),
            ("(milk (eggs)", 0, "`(` is never closed"),
            ("(", 0, "`(` is never closed"),
            ("state = OPEN)", 12, "`)` has no matching `(`"),
            ("(milk))", 6, "`)` has no matching `(`"),
            (")", 0, "`)` has no matching `(`"),
            ("()", 0, "empty parentheses"),
            ("milk ( )", 5, "empty parentheses"),
            // dangling operators and keywords
            ("priority >", 9, "operator `>` is missing a value"),
            ("priority >   ", 9, "operator `>` is missing a value"),
            ("(priority >)", 10, "operator `>` is missing a value"),
            ("title:", 5, "operator `:` is missing a value"),
            ("priority > AND state = OPEN", 9, "operator `>` is missing a value"),
            ("state = OPEN AND", 13, "`AND` must be followed by an expression"),
            ("state = OPEN OR", 13, "`OR` must be followed by an expression"),
            ("(milk OR)", 6, "`OR` must be followed by an expression"),
            ("NOT", 0, "`NOT` must be followed by an expression"),
            ("milk NOT ", 5, "`NOT` must be followed by an expression"),
            ("-", 0, "`-` must be immediately followed"),
            ("- milk", 0, "`-` must be immediately followed"),
            ("AND milk", 0, "unexpected keyword `AND`"),
            ("milk OR AND eggs", 8, "unexpected keyword `AND`"),
            ("milk AND OR eggs", 9, "unexpected keyword `OR`"),
            // trailing garbage and stray characters
            ("state = OPEN #", 13, "unexpected character `#`"),
            ("state = OPEN, priority = HIGH", 12, "unexpected character `,` in a value"),
            ("state = OP#EN", 10, "unexpected character `#` in a value"),
            ("state = (OPEN)", 8, "unexpected character `(` in a value"),
            ("= OPEN", 0, "unexpected character `=`"),
            ("'milk'", 0, "unexpected character `'`"),
            ("state ! OPEN", 6, "expected `!=`"),
            // strings
            ("\"buy milk", 0, "unterminated string"),
            ("title:\"abc\\", 6, "unterminated string"),
            ("title:\"a\\nb\"", 8, "unsupported escape `\\n`"),
            ("\"milk\" = x", 0, "quoted string cannot be used as a field name"),
        ];
        for (input, position, fragment) in cases {
            let e = err(input);
            let (p, message) = syntax_error_at(&e);
            assert_eq!(p, position, "{input}: {e}");
            assert!(message.contains(fragment), "{input}: {e}");
            assert_eq!(e.field(), "filter");
            assert_eq!(e.reason(), "INVALID_FILTER");
        }
    }

    #[test]
    fn input_length_is_bounded() {
        let at_limit = "x".repeat(MAX_INPUT_CHARS);
        assert_eq!(ok(&at_limit), search(&at_limit));
        // The limit counts characters, not bytes.
        let multibyte = "é".repeat(MAX_INPUT_CHARS);
        assert_eq!(ok(&multibyte), search(&multibyte));

        let too_long = "milk ".repeat(MAX_INPUT_CHARS);
        let e = err(&too_long);
        assert_eq!(e, QueryError::FilterTooLong { len: MAX_INPUT_CHARS * 5, max: MAX_INPUT_CHARS });
        assert_eq!(e.reason(), "INVALID_FILTER");
        assert_eq!(e.position(), None);
    }

    fn nested_parens(levels: usize, inner: &str) -> String {
        format!("{}{inner}{}", "(".repeat(levels), ")".repeat(levels))
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // 1 000 levels: rejected (here by the length limit, which comes first).
        assert!(parse_filter(&nested_parens(1_000, "state = OPEN")).is_err());

        let too_deep = QueryError::FilterTooDeep { position: MAX_NESTING_DEPTH, max: MAX_NESTING_DEPTH };
        let cases = [
            nested_parens(600, "milk"),
            nested_parens(MAX_NESTING_DEPTH + 1, "milk"),
            format!("{}milk", "-".repeat(1_000)),
            format!("{}milk", "-".repeat(MAX_NESTING_DEPTH + 1)),
            format!("{}milk", "(-".repeat(300)),
        ];
        for input in &cases {
            assert_eq!(err(input), too_deep, "{input}");
        }
        assert_eq!(
            err(&format!("{}milk", "NOT ".repeat(100))),
            QueryError::FilterTooDeep { position: 4 * MAX_NESTING_DEPTH, max: MAX_NESTING_DEPTH }
        );

        // Exactly at the limit is fine.
        assert_eq!(ok(&nested_parens(MAX_NESTING_DEPTH, "milk")), search("milk"));
        let mut expected = search("milk");
        for _ in 0..MAX_NESTING_DEPTH {
            expected = not(expected);
        }
        assert_eq!(ok(&format!("{}milk", "-".repeat(MAX_NESTING_DEPTH))), expected);
    }

    #[test]
    fn depth_guard_alone_prevents_stack_overflow() {
        // Bypass the length limit to show the depth guard does not rely on it.
        let huge = nested_parens(100_000, "milk");
        assert!(matches!(FilterParser::new(&huge).parse(), Err(QueryError::FilterTooDeep { .. })));
        let huge = format!("{}milk", "NOT ".repeat(100_000));
        assert!(matches!(FilterParser::new(&huge).parse(), Err(QueryError::FilterTooDeep { .. })));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A cheap deterministic fuzz: every string over a small alphabet of
        // grammar-relevant characters, up to length 4.
        let alphabet: Vec<char> = "ab(-)\" :=<!\\*ANDOR".chars().collect();
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for prefix in &inputs {
                for &c in &alphabet {
                    let mut s = prefix.clone();
                    s.push(c);
                    next.push(s);
                }
            }
            for s in &next {
                let _ = parse_filter(s);
                let _ = parse_order_by(s);
            }
            inputs = next;
        }
    }

    // --- order_by ------------------------------------------------------------

    #[test]
    fn order_by_happy_paths() {
        use Direction::*;
        use OrderField::*;
        let cases: [(&str, Vec<(OrderField, Direction)>); 12] = [
            ("", vec![(CreateTime, Asc)]),
            ("   ", vec![(CreateTime, Asc)]),
            ("priority", vec![(Priority, Asc)]),
            ("priority desc", vec![(Priority, Desc)]),
            ("priority asc", vec![(Priority, Asc)]),
            ("priority DESC", vec![(Priority, Desc)]),
            ("priority desc, due_time", vec![(Priority, Desc), (DueTime, Asc)]),
            ("  priority   desc ,due_time\tasc  ", vec![(Priority, Desc), (DueTime, Asc)]),
            ("due desc", vec![(DueTime, Desc)]),
            ("due", vec![(DueTime, Asc)]),
            (
                "title,create_time desc,update_time,complete_time Asc",
                vec![(Title, Asc), (CreateTime, Desc), (UpdateTime, Asc), (CompleteTime, Asc)],
            ),
            (
                "due_time, priority desc, create_time, update_time, complete_time, title",
                vec![
                    (DueTime, Asc),
                    (Priority, Desc),
                    (CreateTime, Asc),
                    (UpdateTime, Asc),
                    (CompleteTime, Asc),
                    (Title, Asc),
                ],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_order_by(input), Ok(OrderBy(expected)), "{input:?}");
        }
        assert_eq!(parse_order_by(""), Ok(OrderBy::default()));
    }

    #[test]
    fn order_by_canonical_form() {
        let cases = [
            ("", "create_time asc"),
            ("priority desc, due", "priority desc,due_time asc"),
            ("  title  ", "title asc"),
            ("due DESC", "due_time desc"),
            ("due_time desc", "due_time desc"),
            ("complete_time,update_time desc", "complete_time asc,update_time desc"),
        ];
        for (input, expected) in cases {
            let order = parse_order_by(input).unwrap();
            assert_eq!(order.canonical(), expected, "{input:?}");
            // The canonical form parses back to the same keys.
            assert_eq!(parse_order_by(&order.canonical()), Ok(order), "{input:?}");
        }
    }

    #[test]
    fn order_by_errors() {
        /// What a bad `order_by` must produce.
        enum Expect {
            Exactly(QueryError),
            SyntaxErrorAt(usize),
        }
        use Expect::*;
        let unknown = |position, name: &str| Exactly(QueryError::UnknownOrderField { position, name: name.to_owned() });
        let cases = [
            ("colour", unknown(0, "colour")),
            ("priority, colour desc", unknown(10, "colour")),
            ("PRIORITY", unknown(0, "PRIORITY")),
            ("state", unknown(0, "state")),
            ("delete_time", unknown(0, "delete_time")),
            ("priority sideways", Exactly(QueryError::InvalidDirection { position: 9, value: "sideways".to_owned() })),
            ("priority, priority desc", Exactly(QueryError::DuplicateOrderField { position: 10, name: "priority" })),
            ("due, due_time", Exactly(QueryError::DuplicateOrderField { position: 5, name: "due_time" })),
            ("priority,,due_time", SyntaxErrorAt(9)),
            ("priority, ,due_time", SyntaxErrorAt(9)),
            ("priority,", SyntaxErrorAt(9)),
            (",priority", SyntaxErrorAt(0)),
            (" , ", SyntaxErrorAt(0)),
            ("priority desc asc", SyntaxErrorAt(14)),
            ("priority desc due_time", SyntaxErrorAt(14)),
        ];
        for (input, expected) in cases {
            let e = parse_order_by(input).unwrap_err();
            match expected {
                Exactly(want) => assert_eq!(e, want, "{input:?}"),
                SyntaxErrorAt(position) => assert!(
                    matches!(e, QueryError::OrderBySyntax { position: p, .. } if p == position),
                    "{input:?}: expected a syntax error at {position}, got {e:?}"
                ),
            }
            assert_eq!(e.field(), "order_by", "{input:?}");
            assert_eq!(e.reason(), "INVALID_ORDER_BY", "{input:?}");
        }
    }

    #[test]
    fn order_by_error_messages() {
        let cases = [
            (
                "colour",
                "unknown order_by field `colour` at position 0; sortable fields: due_time \
                 (alias due), priority, create_time, update_time, complete_time, title",
            ),
            ("priority sideways", "invalid sort direction `sideways` at position 9; expected `asc` or `desc`"),
            ("due, due_time", "duplicate order_by field `due_time` at position 5; each field may be used only once"),
            (
                "priority,,due_time",
                "invalid order_by syntax at position 9: empty sort key; check for a doubled, \
                 leading or trailing comma",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(parse_order_by(input).unwrap_err().to_string(), message, "{input:?}");
        }
    }

    #[test]
    fn order_by_length_is_bounded() {
        let too_long = "priority ".repeat(MAX_INPUT_CHARS);
        let e = parse_order_by(&too_long).unwrap_err();
        assert_eq!(e, QueryError::OrderByTooLong { len: MAX_INPUT_CHARS * 9, max: MAX_INPUT_CHARS });
        assert_eq!(e.field(), "order_by");
        assert_eq!(e.position(), None);
    }
}
