//! Tags: per-user labels, unique by case-folded name, with a colour.

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagId(uuid::Uuid);

impl TagId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    /// From a resource name `tags/{uuid}`.
    pub fn from_name(name: &str) -> Result<Self, Invalid> {
        name.strip_prefix("tags/")
            .and_then(|id| uuid::Uuid::try_parse(id).ok())
            .map(Self)
            .ok_or_else(|| Invalid::new("", format!("`{name}` is not a tag name of the form tags/{{uuid}}")))
    }
    pub fn from_stored(id: &str) -> Option<Self> {
        uuid::Uuid::try_parse(id).ok().map(Self)
    }
    pub fn name(&self) -> String {
        super::id_text("tags/", self.0)
    }
    pub fn as_stored(&self) -> String {
        super::id_text("", self.0)
    }
}

impl Default for TagId {
    fn default() -> Self {
        Self::new()
    }
}

/// 1 to 64 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagName(String);

impl TagName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > 64 {
            return Err(Invalid::new("", "must be 1 to 64 characters after trimming"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid::new("", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// What uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// `#rrggbb`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    pub const NEUTRAL: &'static str = "#9e9e9e";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self(Self::NEUTRAL.to_owned()));
        }
        let hex = raw.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Invalid::new("", format!("`{raw}` is not a colour of the form #rrggbb")));
        }
        Ok(Self(format!("#{}", hex.to_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub id: TagId,
    pub name: TagName,
    pub color: Color,
    pub create_time: chrono::DateTime<chrono::Utc>,
    pub update_time: chrono::DateTime<chrono::Utc>,
    /// Increases with every change; the etag is derived from it.
    pub version: i64,
}

impl Tag {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_compared_case_insensitively() {
        assert_eq!(TagName::parse("  Work ").unwrap().as_str(), "Work");
        assert_eq!(TagName::parse("Work").unwrap().key(), TagName::parse("WORK").unwrap().key());
        assert!(TagName::parse("   ").is_err());
        assert!(TagName::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn colours_are_hex_triplets() {
        assert_eq!(Color::parse("#FFAA00").unwrap().as_str(), "#ffaa00");
        assert_eq!(Color::parse("").unwrap().as_str(), Color::NEUTRAL);
        assert!(Color::parse("red").is_err());
        assert!(Color::parse("#12345").is_err());
    }

    #[test]
    fn tag_names_round_trip() {
        let id = TagId::new();
        assert_eq!(TagId::from_name(&id.name()).unwrap(), id);
        assert!(TagId::from_name("tasks/123").is_err());
    }
}
