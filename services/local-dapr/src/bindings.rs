//! Bindings: `InvokeBinding` for output bindings and the cron input binding.
//!
//! Output (`InvokeBinding{name, data, metadata, operation}`):
//! - `bindings.http`: `url` from the component, request metadata `path`
//!   appended; operations `get`, `head`, `post`, `put`, `patch`, `delete`,
//!   `options`, `trace`, and `create` = POST. Other request metadata entries
//!   are sent as headers. The response body is `data`, `metadata.statusCode`
//!   the status; a non-2xx status is an error (`errorIfNot2XX`, default true).
//! - `bindings.smtp`: really sends, over plain SMTP (lettre) to `host:port`,
//!   with `user`/`password` when set; `emailFrom`, `emailTo`, `emailCC`,
//!   `emailBCC`, `subject` from the component, overridden by request
//!   metadata; `data` is the HTML body.
//!
//! Errors are `INTERNAL` "error invoking output binding …", like daprd's.
//!
//! Input: every `bindings.cron` component the app loads fires on its
//! `schedule` if the app listed it in `ListInputBindings` or its `direction`
//! contains `input`. Each firing calls `OnBindingEvent{name, data: empty,
//! metadata: {timeZone, readTimeUTC}}`; errors are ignored (cron does not
//! retry), and firings are skipped while the app is unhealthy.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::Utc;
use dapr::dapr::proto::runtime::v1::{self as rt, BindingEventRequest, app_callback_client::AppCallbackClient};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::header::ContentType};
use tonic::Status;

use crate::{
    api::Sidecar,
    app::{App, Status as AppStatus},
    resources::Component,
    runtime::Shared,
    schedule::Schedule,
    secrets,
};

fn failed(name: &str, why: impl std::fmt::Display) -> Status {
    Status::internal(format!("error invoking output binding {name}: {why}"))
}

pub async fn invoke_binding(
    sidecar: &Sidecar,
    request: tonic::Request<rt::InvokeBindingRequest>,
) -> Result<tonic::Response<rt::InvokeBindingResponse>, Status> {
    let req = request.into_inner();
    let component = sidecar
        .shared
        .component(&sidecar.app.id, "bindings", &req.name)
        .ok_or_else(|| failed(&req.name, format!("couldn't find output binding {}", req.name)))?;
    let setting = |key: &str| secrets::resolve(&sidecar.shared, &sidecar.app.id, component, key);
    let (data, metadata) = match component.kind.as_str() {
        "bindings.http" => http(component, &setting, &req).await?,
        "bindings.smtp" => smtp(component, &setting, &req).await?,
        other => return Err(failed(&req.name, format!("binding type {other} is not supported locally"))),
    };
    Ok(tonic::Response::new(rt::InvokeBindingResponse { data, metadata }))
}

type Output = (Vec<u8>, HashMap<String, String>);

async fn http(
    component: &Component,
    setting: &(dyn Fn(&str) -> Option<String> + Sync),
    req: &rt::InvokeBindingRequest,
) -> Result<Output, Status> {
    let name = &req.name;
    let base = setting("url").ok_or_else(|| failed(name, "url is not set"))?;
    let url = match req.metadata.get("path") {
        Some(path) if !path.is_empty() => format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/')),
        _ => base,
    };
    let method = match req.operation.to_ascii_lowercase().as_str() {
        "create" | "post" => reqwest::Method::POST,
        "get" => reqwest::Method::GET,
        "head" => reqwest::Method::HEAD,
        "put" => reqwest::Method::PUT,
        "patch" => reqwest::Method::PATCH,
        "delete" => reqwest::Method::DELETE,
        "options" => reqwest::Method::OPTIONS,
        "trace" => reqwest::Method::TRACE,
        other => return Err(failed(name, format!("operation {other:?} is not supported"))),
    };
    let mut call = reqwest::Client::new().request(method, &url).body(req.data.clone());
    for (key, value) in &req.metadata {
        if key != "path" {
            call = call.header(key.as_str(), value.as_str());
        }
    }
    if let Some(timeout) = setting("responseTimeout").and_then(|t| crate::schedule::go_duration(&t)) {
        call = call.timeout(timeout);
    }
    let response = call.send().await.map_err(|e| failed(name, e))?;
    let status = response.status();
    let mut metadata: HashMap<String, String> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    metadata.insert("statusCode".into(), status.as_u16().to_string());
    let body = response.bytes().await.map_err(|e| failed(name, e))?.to_vec();
    let error_if_not_2xx = component.meta("errorIfNot2XX").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    if error_if_not_2xx && !status.is_success() {
        return Err(failed(name, format!("received status code {}", status.as_u16())));
    }
    Ok((body, metadata))
}

async fn smtp(
    _component: &Component,
    setting: &(dyn Fn(&str) -> Option<String> + Sync),
    req: &rt::InvokeBindingRequest,
) -> Result<Output, Status> {
    let name = &req.name;
    let field = |key: &str| req.metadata.get(key).cloned().filter(|v| !v.is_empty()).or_else(|| setting(key));
    let host = setting("host").ok_or_else(|| failed(name, "host is not set"))?;
    let port: u16 = setting("port").and_then(|p| p.parse().ok()).unwrap_or(25);
    let from = field("emailFrom").ok_or_else(|| failed(name, "emailFrom is not set"))?;
    let to = field("emailTo").ok_or_else(|| failed(name, "emailTo is not set"))?;
    let mailbox = |addr: &str| {
        addr.trim().parse::<lettre::message::Mailbox>().map_err(|e| failed(name, format!("{addr:?}: {e}")))
    };
    let split =
        |list: &str| list.split([',', ';']).filter(|a| !a.trim().is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let mut builder = Message::builder()
        .from(mailbox(&from)?)
        .subject(field("subject").unwrap_or_default())
        .header(ContentType::TEXT_HTML);
    for addr in split(&to) {
        builder = builder.to(mailbox(&addr)?);
    }
    for addr in field("emailCC").map(|l| split(&l)).unwrap_or_default() {
        builder = builder.cc(mailbox(&addr)?);
    }
    for addr in field("emailBCC").map(|l| split(&l)).unwrap_or_default() {
        builder = builder.bcc(mailbox(&addr)?);
    }
    let email = builder.body(String::from_utf8_lossy(&req.data).into_owned()).map_err(|e| failed(name, e))?;
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).timeout(Some(Duration::from_secs(10)));
    if let (Some(user), Some(password)) = (setting("user"), setting("password"))
        && !user.is_empty()
    {
        transport = transport.credentials(lettre::transport::smtp::authentication::Credentials::new(user, password));
    }
    transport.build().send(email).await.map_err(|e| failed(name, e))?;
    Ok((Vec::new(), HashMap::new()))
}

/// Starts the app's cron input bindings.
pub fn start_input_bindings(shared: &Arc<Shared>, app: &Arc<App>, listed: &[String]) {
    for component in shared.components(&app.id).filter(|c| c.kind == "bindings.cron") {
        let direct = component.meta("direction").is_some_and(|d| d.to_ascii_lowercase().contains("input"));
        if !direct && !listed.contains(&component.name) {
            continue;
        }
        let Some(schedule) = component.meta("schedule") else {
            tracing::error!(binding = %component.name, "cron binding without schedule; not started");
            continue;
        };
        let schedule = match Schedule::parse(schedule) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(binding = %component.name, error = %e, "invalid cron schedule; not started");
                continue;
            }
        };
        tracing::info!(app = %app.id, binding = %component.name, "cron binding started");
        shared.tracker.spawn(cron(app.clone(), component.name.clone(), schedule));
    }
}

async fn cron(app: Arc<App>, name: String, schedule: Schedule) {
    let mut last = Utc::now();
    loop {
        let Some(next) = schedule.next_after(last) else { return };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if crate::app::sleep_or_cancel(&app.cancel, wait).await {
            return;
        }
        last = next;
        if app.status() != AppStatus::Healthy {
            continue;
        }
        let now = Utc::now();
        let request = BindingEventRequest {
            name: name.clone(),
            data: Vec::new(),
            metadata: HashMap::from([
                ("timeZone".to_owned(), chrono::Local::now().format("%Z").to_string()),
                ("readTimeUTC".to_owned(), now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            ]),
        };
        let mut client = AppCallbackClient::new(app.channel.clone());
        if let Err(status) = client.on_binding_event(app.request(request)).await {
            tracing::debug!(app = %app.id, binding = %name, %status, "cron handler failed; ignored");
        }
    }
}
