//! Runs the task service with settings from the environment (see [`task::config`]).

use anyhow::Context;
use task::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init("task", &shared::config::TelemetrySettings::from_env());
    let settings = Settings::from_env().context("invalid configuration")?;
    let app = Application::build(settings).await?;
    let result = app.run_until(shared::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
