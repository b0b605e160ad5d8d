//! The `order_by` parser.

use super::{MAX_INPUT_CHARS, ast::*, error::QueryError};

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
