//! The rules of notifications, pure: channels and outcomes, what counts as
//! a transient or a permanent failure, webhook signatures, what a
//! notification says, and what valid preferences look like.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::{proto::todo::notification::v1 as pb, status::Violation};

/// The CloudEvent type of a reminder, always delivered.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Log,
    Webhook,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Log => "log",
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Channel::Log, Channel::Webhook, Channel::Email].into_iter().find(|c| c.as_str() == raw)
    }

    pub fn to_proto(self) -> pb::Channel {
        match self {
            Channel::Log => pb::Channel::Log,
            Channel::Webhook => pb::Channel::Webhook,
            Channel::Email => pb::Channel::Email,
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Might work later (network, 5xx, 429, SMTP 4xx, sidecar down): retry.
    Transient(String),
    /// Will never work (4xx, invalid address, SMTP 5xx): dead-letter.
    Permanent(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::Transient(_) => "TRANSIENT_FAILURE",
            Outcome::Permanent(_) => "PERMANENT_FAILURE",
        }
    }

    pub fn error(&self) -> &str {
        match self {
            Outcome::Succeeded => "",
            Outcome::Transient(e) | Outcome::Permanent(e) => e,
        }
    }

    /// The delivery's state after an attempt with this outcome.
    pub fn state(&self) -> DeliveryState {
        match self {
            Outcome::Succeeded => DeliveryState::Delivered,
            Outcome::Transient(_) => DeliveryState::Retrying,
            Outcome::Permanent(_) => DeliveryState::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Retrying,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "PENDING",
            DeliveryState::Retrying => "RETRYING",
            DeliveryState::Delivered => "DELIVERED",
            DeliveryState::Failed => "FAILED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [DeliveryState::Pending, DeliveryState::Retrying, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Nothing more will be attempted.
    pub fn is_final(self) -> bool {
        matches!(self, DeliveryState::Delivered | DeliveryState::Failed)
    }
}

/// The webhook's answer: 2xx delivered; 408, 429 and 5xx transient; any
/// other status (4xx, and 3xx: redirects are not followed) permanent.
pub fn classify_http(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Succeeded,
        408 | 429 | 500..=599 => Outcome::Transient(format!("the webhook answered HTTP {status}")),
        _ => Outcome::Permanent(format!("the webhook answered HTTP {status}")),
    }
}

/// An SMTP binding failure, from the error text the sidecar returns (the
/// binding's gRPC code is always INTERNAL): an SMTP reply code 5xx or an
/// address the binding cannot parse is permanent; 4xx, connection trouble
/// and anything unknown are transient (retrying is the safe side).
pub fn classify_smtp_error(message: &str) -> Outcome {
    let lower = message.to_ascii_lowercase();
    let permanent_words =
        ["permanent error", "invalid email address", "missing domain", "missing user", "invalid input", "not set"];
    let code = smtp_reply_code(&lower);
    if permanent_words.iter().any(|w| lower.contains(w)) || code.is_some_and(|c| (500..600).contains(&c)) {
        Outcome::Permanent(message.to_owned())
    } else {
        Outcome::Transient(message.to_owned())
    }
}

/// The first three-digit SMTP reply code (4xx or 5xx) standing alone in `text`.
fn smtp_reply_code(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        let digits = &bytes[i..i + 3];
        let alone_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let alone_after = bytes.get(i + 3).is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'.');
        (digits.iter().all(u8::is_ascii_digit) && matches!(digits[0], b'4' | b'5') && alone_before && alone_after)
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
            .flatten()
    })
}

/// `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("v1={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The delivery of one event through one channel: stable, so a retried
/// webhook carries the same `X-Todo-Delivery-Id` and receivers can dedupe.
pub fn delivery_id(event_id: &str, channel: Channel) -> String {
    let key = format!("todo.notification.delivery/{event_id}/{}", channel.as_str());
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string()
}

/// Escapes text for the HTML body of an email.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A one-line subject without control characters (no header injection).
pub fn clean_subject(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect()
}

pub const MIN_SECRET_LEN: usize = 16;
pub const MAX_SECRET_LEN: usize = 256;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_ADDRESS_LEN: usize = 254;

/// Checks a webhook URL: absolute http(s) with a host, no credentials.
pub fn check_webhook_url(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the signature authenticates the request".into());
    }
    Ok(())
}

/// Checks an email address: one `local@domain`, nothing that would make it
/// several addresses or a header (the binding splits on `,` and `;`).
pub fn check_email_address(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_ADDRESS_LEN {
        return Err(format!("must be at most {MAX_ADDRESS_LEN} characters"));
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || ",;<>()[]\\\"".contains(c);
    match raw.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !raw.chars().any(bad) =>
        {
            Ok(())
        }
        _ => Err("must be one address of the form local@domain".into()),
    }
}

/// Validated preferences (the secret as given: empty = keep the stored one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewPreferences {
    pub webhook: Option<(String, String)>,
    pub email: Option<String>,
    pub event_types: Vec<String>,
}

/// Checks what a user asks for; every problem is reported, by field.
pub fn validate(preferences: &pb::Preferences) -> Result<NewPreferences, Vec<Violation>> {
    let mut violations = Vec::new();
    let webhook = preferences.webhook.as_ref().map(|w| {
        let url = w.url.trim().to_owned();
        if let Err(e) = check_webhook_url(&url) {
            violations.push(Violation::new("preferences.webhook.url", e));
        }
        if !w.secret.is_empty() && !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&w.secret.chars().count()) {
            violations.push(Violation::new(
                "preferences.webhook.secret",
                format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters"),
            ));
        }
        (url, w.secret.clone())
    });
    let email = preferences.email.as_ref().map(|e| {
        let address = e.address.trim().to_owned();
        if let Err(e) = check_email_address(&address) {
            violations.push(Violation::new("preferences.email.address", e));
        }
        address
    });
    let mut event_types: Vec<String> = Vec::new();
    for (i, t) in preferences.event_types.iter().enumerate() {
        let t = t.trim();
        if !shared::event_types::TASK_EVENTS.contains(&t) {
            violations.push(Violation::new(
                format!("preferences.event_types[{i}]"),
                format!("`{t}` is not one of {}", shared::event_types::TASK_EVENTS.join(", ")),
            ));
        } else if !event_types.iter().any(|e| e == t) {
            event_types.push(t.to_owned());
        }
    }
    if violations.is_empty() { Ok(NewPreferences { webhook, email, event_types }) } else { Err(violations) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn http_statuses_are_classified() {
        assert_eq!(classify_http(204), Outcome::Succeeded);
        for transient in [408, 429, 500, 503] {
            assert!(matches!(classify_http(transient), Outcome::Transient(_)), "{transient}");
        }
        for permanent in [301, 400, 401, 404, 410] {
            assert!(matches!(classify_http(permanent), Outcome::Permanent(_)), "{permanent}");
        }
    }

    #[test]
    fn smtp_errors_are_classified() {
        let transient = [
            "error invoking output binding email: Connection error: Connection refused (os error 111)",
            "error invoking output binding email: transient error (451): 4.3.0 try again later",
            "error invoking output binding email: 421 Service not available",
            "timed out",
        ];
        for t in transient {
            assert!(matches!(classify_smtp_error(t), Outcome::Transient(_)), "{t}");
        }
        let permanent = [
            "error invoking output binding email: permanent error (550): 5.1.1 user unknown",
            "error invoking output binding email: 553 mailbox name not allowed",
            "error invoking output binding email: \"x\": Invalid email address",
        ];
        for p in permanent {
            assert!(matches!(classify_smtp_error(p), Outcome::Permanent(_)), "{p}");
        }
        assert_eq!(smtp_reply_code("port 5500 and 4.3.0"), None);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 style check against an independently computed value.
        let sig = signature(b"key", 1_700_000_000, b"{}");
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert_eq!(sig, signature(b"key", 1_700_000_000, b"{}"));
        assert_ne!(sig, signature(b"key", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature(b"other", 1_700_000_000, b"{}"));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, format!("v1={expected}"));
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_channel() {
        assert_eq!(delivery_id("e1", Channel::Webhook), delivery_id("e1", Channel::Webhook));
        assert_ne!(delivery_id("e1", Channel::Webhook), delivery_id("e1", Channel::Email));
        assert_ne!(delivery_id("e1", Channel::Webhook), delivery_id("e2", Channel::Webhook));
    }

    #[test]
    fn preferences_are_validated_field_by_field() {
        let ok = pb::Preferences {
            webhook: Some(pb::WebhookChannel {
                url: "https://hooks.example.com/x".into(),
                secret: "0123456789abcdef".into(),
                has_secret: false,
            }),
            email: Some(pb::EmailChannel { address: "alice@example.com".into() }),
            event_types: vec!["todo.task.completed.v1".into(), "todo.task.completed.v1".into()],
            update_time: None,
        };
        let valid = validate(&ok).unwrap();
        assert_eq!(valid.event_types, ["todo.task.completed.v1"]);
        let bad = pb::Preferences {
            webhook: Some(pb::WebhookChannel { url: "ftp://x".into(), secret: "short".into(), has_secret: false }),
            email: Some(pb::EmailChannel { address: "a@b.com, c@d.com".into() }),
            event_types: vec!["todo.reminder.due.v1".into()],
            update_time: None,
        };
        let fields: Vec<String> = validate(&bad).unwrap_err().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "preferences.webhook.url",
                "preferences.webhook.secret",
                "preferences.email.address",
                "preferences.event_types[0]"
            ]
        );
        assert!(check_webhook_url("https://user:pw@example.com").is_err());
        assert!(check_email_address("alice@localhost").is_err());
        assert!(check_email_address("x\r\nBcc: y@z.com").is_err());
    }

    #[test]
    fn html_and_subjects_are_made_safe() {
        assert_eq!(html_escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(clean_subject("a\r\nBcc: x"), "a  Bcc: x");
    }
}
