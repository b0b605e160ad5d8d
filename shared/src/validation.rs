//! A value that failed validation, named by its field, for domain rules
//! that check input before the API turns it into `INVALID_ARGUMENT`.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_path_grows_from_the_inside_out() {
        assert_eq!(Invalid::new("", "x").under("due").field, "due");
        assert_eq!(Invalid::new("date", "x").under("due").field, "due.date");
        assert_eq!(Invalid::new("[2]", "x").under("reminders").field, "reminders[2]");
    }
}
