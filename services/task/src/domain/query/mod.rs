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

mod ast;
mod error;
mod filter;
mod order_by;
#[cfg(test)]
mod tests;

pub use ast::{Cmp, Direction, Filter, OrderBy, OrderField, Predicate, Priority, TaskState, TextField, TimeField};
pub use error::QueryError;
pub use filter::parse_filter;
pub use order_by::parse_order_by;

/// Longest accepted `filter` or `order_by`, in characters.
pub const MAX_INPUT_CHARS: usize = 2_000;

/// Deepest accepted nesting of parentheses and negations (`NOT`, `-`) combined.
pub const MAX_NESTING_DEPTH: usize = 32;
