//! The `filter` parser: recursive descent over characters, then type
//! checking of each restriction.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::{
    MAX_INPUT_CHARS, MAX_NESTING_DEPTH,
    ast::*,
    error::{QueryError, filter_syntax},
};

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
pub(super) struct FilterParser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl FilterParser {
    pub(super) fn new(input: &str) -> Self {
        FilterParser { chars: input.chars().collect(), pos: 0, depth: 0 }
    }

    // --- entry point -------------------------------------------------------

    pub(super) fn parse(mut self) -> Result<Filter, QueryError> {
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

fn parse_state(text: &str) -> Option<TaskState> {
    let upper = text.to_ascii_uppercase();
    match upper.strip_prefix("STATE_").unwrap_or(&upper) {
        "OPEN" => Some(TaskState::Open),
        "COMPLETED" => Some(TaskState::Completed),
        _ => None,
    }
}

fn parse_priority(text: &str) -> Option<Priority> {
    let upper = text.to_ascii_uppercase();
    match upper.strip_prefix("PRIORITY_").unwrap_or(&upper) {
        "NONE" => Some(Priority::None),
        "LOW" => Some(Priority::Low),
        "MEDIUM" => Some(Priority::Medium),
        "HIGH" => Some(Priority::High),
        "URGENT" => Some(Priority::Urgent),
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
