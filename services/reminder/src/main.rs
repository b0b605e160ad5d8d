//! Runs the reminder service with settings from the environment (see [`reminder::config`]).

use anyhow::Context;
use reminder::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init("reminder", &shared::config::TelemetrySettings::from_env());
    let settings = Settings::from_env().context("invalid configuration")?;
    let result = Application::build(settings).await?.run_until(shared::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
