//! Runs the recurrence service with settings from the environment (see [`recurrence::config`]).

use anyhow::Context;
use recurrence::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init("recurrence", &shared::config::TelemetrySettings::from_env());
    let settings = Settings::from_env().context("invalid configuration")?;
    let result = Application::build(settings).await?.run_until(shared::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
