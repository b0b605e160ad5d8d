//! The channels: how one notification is sent, and what the attempt's
//! outcome was ([`Sent`]). No retries here — a transient outcome makes the
//! handler answer RETRY and the sidecar redeliver with backoff.
//!
//! - **log**: one structured `tracing` line (target `notification`).
//! - **webhook**: an HTTP POST sent **directly with `reqwest`**, not
//!   through the Dapr `http` output binding: the binding's URL is fixed in
//!   its component (only a `path` can be appended), while each user has
//!   their own URL; and the binding turns a non-2xx answer into an opaque
//!   INTERNAL error, hiding the status this service needs to tell 429/5xx
//!   (retry) from 4xx (dead-letter). Redirects are not followed, and each
//!   request has a timeout.
//! - **email**: the Dapr `smtp` output binding named `email`
//!   (`InvokeBinding{operation: "create", data: <html>, metadata:
//!   {emailTo, subject}}`); the sender address and SMTP server are the
//!   component's.

use std::{collections::HashMap, time::Duration};

use shared::dapr::LazySidecar;

use crate::domain::{self, Outcome};

/// The outcome of one attempt and, for a webhook, the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub outcome: Outcome,
    pub http_status: i32,
}

impl Sent {
    fn of(outcome: Outcome) -> Self {
        Self { outcome, http_status: 0 }
    }
}

/// Signed HTTP POSTs.
#[derive(Clone)]
pub struct Webhooks {
    client: reqwest::Client,
}

impl Webhooks {
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("todo-notification/1")
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `body` to `url`, signed with `secret` at `timestamp` (unix seconds).
    pub async fn send(&self, url: &str, secret: &str, delivery_id: &str, timestamp: i64, body: Vec<u8>) -> Sent {
        let signature = domain::signature(secret.as_bytes(), timestamp, &body);
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Todo-Delivery-Id", delivery_id)
            .header("X-Todo-Timestamp", timestamp.to_string())
            .header("X-Todo-Signature", signature)
            .body(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                Sent { outcome: domain::classify_http(status), http_status: i32::from(status) }
            }
            Err(err) if err.is_builder() => Sent::of(Outcome::Permanent(format!("cannot build the request: {err}"))),
            Err(err) => Sent::of(Outcome::Transient(format!("the webhook is unreachable: {err}"))),
        }
    }
}

/// Email through the sidecar's `smtp` output binding.
#[derive(Clone)]
pub struct Email {
    binding: String,
    sidecar: LazySidecar,
}

impl Email {
    /// `sidecar`: connected on first use; `binding`: the output binding's
    /// name (`email`).
    pub fn new(sidecar: LazySidecar, binding: &str) -> Self {
        Self { binding: binding.to_owned(), sidecar }
    }

    pub async fn send(&self, to: &str, subject: &str, html: String) -> Sent {
        let sidecar = match self.sidecar.get().await {
            Ok(sidecar) => sidecar,
            Err(err) => return Sent::of(Outcome::Transient(format!("the sidecar is unreachable: {err}"))),
        };
        let metadata = HashMap::from([
            ("emailTo".to_owned(), to.to_owned()),
            ("subject".to_owned(), domain::clean_subject(subject)),
        ]);
        let result = sidecar
            .client()
            .invoke_binding(self.binding.clone(), html.into_bytes(), "create".to_owned(), Some(metadata))
            .await;
        match result {
            Ok(_) => Sent::of(Outcome::Succeeded),
            Err(err) => Sent::of(domain::classify_smtp_error(&err.to_string())),
        }
    }
}
