//! The subscriptions (`reminders` and `task-events`, both dead-lettering
//! to `notifications-dlq`) and delivering one event through the user's
//! channels.
//!
//! Per event: decode it (undecodable: DROP), read the user's preferences
//! (a task event the user did not opt into: done), then for each channel —
//! log always, webhook and email when configured — claim the delivery,
//! send, record the attempt ([`crate::store`]). The answer to the sidecar:
//! RETRY if any channel failed transiently (or another attempt holds a
//! channel, or the database is down); otherwise DROP if any failed
//! permanently (the event goes to the dead-letter topic); otherwise
//! SUCCESS. Channels already delivered (or failed for good) are skipped on
//! every redelivery, so a retry sends only what is still missing.

use chrono::{DateTime, SecondsFormat, Utc};
use shared::{
    Error,
    dapr::{Event, Subscription},
    proto::{
        json,
        time::date_time,
        todo::{reminder::v1 as reminder_pb, task::v1 as task_pb},
    },
};

use crate::{
    App,
    domain::{self, Channel, Outcome},
    store::{self, Claim, NewDelivery},
};

/// The two subscriptions.
pub fn subscriptions(app: &App) -> Vec<Subscription> {
    let s = &app.settings;
    let on_reminder = app.clone();
    let on_task = app.clone();
    vec![
        Subscription::new(&s.pubsub, &s.reminders_topic).dead_letter(&s.dead_letter_topic).default_route(
            "reminders",
            &[shared::event_types::REMINDER_DUE],
            move |event: Event| {
                let app = on_reminder.clone();
                async move { deliver(&app, &event, Notice::reminder(&event)?).await }
            },
        ),
        Subscription::new(&s.pubsub, &s.task_topic).dead_letter(&s.dead_letter_topic).default_route(
            "task-events",
            shared::event_types::TASK_EVENTS,
            move |event: Event| {
                let app = on_task.clone();
                async move { deliver(&app, &event, Notice::task(&event)?).await }
            },
        ),
    ]
}

/// One event, ready to be told to its user.
#[derive(Debug, Clone)]
pub struct Notice {
    pub event_id: String,
    pub event_type: String,
    pub user_id: String,
    pub task_id: String,
    pub subject: String,
    pub text: String,
    /// The event as proto3 JSON.
    pub data: serde_json::Value,
    /// Reminders go to everyone; task events only to users who opted in.
    pub always: bool,
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(date_time).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl Notice {
    pub fn reminder(event: &Event) -> Result<Self, Error> {
        let due: reminder_pb::ReminderDue = event.decode()?;
        let at = time(due.due_time.as_ref()).map(|t| format!(" (due {t})")).unwrap_or_default();
        Self::checked(Self {
            event_id: if due.event_id.is_empty() { event.id.clone() } else { due.event_id.clone() },
            event_type: event.event_type.clone(),
            user_id: due.user_id.clone(),
            task_id: due.task_id.clone(),
            subject: format!("Reminder: {}", due.task_title),
            text: format!("Reminder: {}{at}", due.task_title),
            data: json::to_value(&due).map_err(|e| Error::malformed_by("the reminder cannot be re-encoded", e))?,
            always: true,
        })
    }

    pub fn task(event: &Event) -> Result<Self, Error> {
        let change: task_pb::TaskEvent = event.decode()?;
        let title = change.task.as_ref().map(|t| t.title.clone()).unwrap_or_default();
        let verb = event.event_type.strip_prefix("todo.task.").and_then(|t| t.strip_suffix(".v1")).unwrap_or("changed");
        Self::checked(Self {
            event_id: if change.event_id.is_empty() { event.id.clone() } else { change.event_id.clone() },
            event_type: event.event_type.clone(),
            user_id: change.user_id.clone(),
            task_id: change.task_id.clone(),
            subject: format!("Task {verb}: {title}"),
            text: format!("Task {verb}: {title}"),
            data: json::to_value(&change).map_err(|e| Error::malformed_by("the change cannot be re-encoded", e))?,
            always: false,
        })
    }

    fn checked(self) -> Result<Self, Error> {
        if self.event_id.is_empty() || self.user_id.is_empty() {
            return Err(Error::malformed("the event has no id or no user"));
        }
        Ok(self)
    }

    /// The webhook's JSON body.
    fn webhook_body(&self, delivery_id: &str) -> Vec<u8> {
        serde_json::json!({
            "deliveryId": delivery_id,
            "eventId": self.event_id,
            "type": self.event_type,
            "task": format!("tasks/{}", self.task_id),
            "subject": self.subject,
            "text": self.text,
            "data": self.data,
        })
        .to_string()
        .into_bytes()
    }

    fn email_html(&self) -> String {
        format!("<p>{}</p>", domain::html_escape(&self.text))
    }
}

/// Delivers `notice` through every channel of its user.
pub async fn deliver(app: &App, event: &Event, notice: Notice) -> Result<(), Error> {
    let db_down = |e: sea_orm::DbErr| Error::unavailable("the notification store", e);
    let preferences = store::preferences(&app.db, &notice.user_id).await.map_err(db_down)?;
    if !notice.always && !preferences.wants(&notice.event_type) {
        tracing::debug!(event_id = %event.id, user = %notice.user_id, "event type not opted into: not delivered");
        return Ok(());
    }
    let mut channels = vec![(Channel::Log, String::new())];
    if let Some(webhook) = &preferences.webhook {
        channels.push((Channel::Webhook, webhook.url.clone()));
    }
    if let Some(address) = &preferences.email {
        channels.push((Channel::Email, address.clone()));
    }
    let (mut transient, mut permanent) = (Vec::new(), Vec::new());
    for (channel, destination) in channels {
        let delivery = NewDelivery {
            delivery_id: domain::delivery_id(&notice.event_id, channel),
            user_id: notice.user_id.clone(),
            event_id: notice.event_id.clone(),
            event_type: notice.event_type.clone(),
            channel,
            destination,
            task_id: notice.task_id.clone(),
        };
        let now = Utc::now();
        let lease = now + app.settings.lease;
        match store::claim(&app.db, &delivery, now.timestamp_micros(), lease.timestamp_micros())
            .await
            .map_err(db_down)?
        {
            Claim::Final(state) => {
                tracing::debug!(event_id = %notice.event_id, channel = channel.as_str(), ?state, "already handled");
            }
            Claim::Busy => transient.push(format!("{}: another attempt is in flight", channel.as_str())),
            Claim::Send { pk, attempt } => {
                let sent = send(app, &notice, &delivery, &preferences, now).await;
                store::record_attempt(
                    &app.db,
                    pk,
                    attempt,
                    Utc::now().timestamp_micros(),
                    &sent.outcome,
                    sent.http_status,
                )
                .await
                .map_err(db_down)?;
                tracing::info!(event_id = %notice.event_id, user = %notice.user_id, channel = channel.as_str(),
                    attempt, outcome = sent.outcome.as_str(), error = sent.outcome.error(), "delivery attempt");
                metrics::counter!("tasks_notification_attempts_total", "channel" => channel.as_str()).increment(1);
                let outcome = match sent.outcome {
                    Outcome::Succeeded => "succeeded",
                    Outcome::Transient(_) => "transient_failure",
                    Outcome::Permanent(_) => "permanent_failure",
                };
                metrics::counter!("tasks_notification_deliveries_total", "channel" => channel.as_str(), "outcome" => outcome)
                    .increment(1);
                match sent.outcome {
                    Outcome::Succeeded => {}
                    Outcome::Transient(e) => transient.push(format!("{}: {e}", channel.as_str())),
                    Outcome::Permanent(e) => permanent.push(format!("{}: {e}", channel.as_str())),
                }
            }
        }
    }
    if !transient.is_empty() {
        return Err(Error::unavailable("a channel", transient.join("; ")));
    }
    if !permanent.is_empty() {
        return Err(Error::malformed(format!("undeliverable: {}", permanent.join("; "))));
    }
    Ok(())
}

async fn send(
    app: &App,
    notice: &Notice,
    delivery: &NewDelivery,
    preferences: &store::Preferences,
    now: DateTime<Utc>,
) -> crate::channels::Sent {
    use crate::channels::Sent;
    match delivery.channel {
        Channel::Log => {
            tracing::info!(target: "notification", user = %notice.user_id, event_id = %notice.event_id,
                event_type = %notice.event_type, task = %notice.task_id, "{}", notice.text);
            Sent { outcome: Outcome::Succeeded, http_status: 0 }
        }
        Channel::Webhook => match &preferences.webhook {
            Some(webhook) => {
                let body = notice.webhook_body(&delivery.delivery_id);
                app.webhooks.send(&webhook.url, &webhook.secret, &delivery.delivery_id, now.timestamp(), body).await
            }
            None => Sent { outcome: Outcome::Permanent("no webhook configured".into()), http_status: 0 },
        },
        Channel::Email => match &preferences.email {
            Some(address) => app.email.send(address, &notice.subject, notice.email_html()).await,
            None => Sent { outcome: Outcome::Permanent("no email address configured".into()), http_status: 0 },
        },
    }
}
