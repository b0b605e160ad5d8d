//! Why a `filter` or `order_by` was rejected, and where.

/// Listed in "unknown field" errors so the caller learns what is available.
const FILTERABLE_FIELDS: &str = "state, priority, tags, title, description, due_time, \
                                 create_time, update_time, complete_time, delete_time";

/// Listed in "unknown `order_by` field" errors.
const SORTABLE_FIELDS: &str = "due_time (alias due), priority, create_time, update_time, complete_time, title";

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

pub(super) fn filter_syntax(position: usize, message: impl Into<String>) -> QueryError {
    QueryError::FilterSyntax { position, message: message.into() }
}
