//! Runs the sync gateway with settings from the environment (see [`sync_gateway::config`]).

use anyhow::Context;
use sync_gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init("sync-gateway", &shared::config::TelemetrySettings::from_env());
    let settings = Settings::from_env().context("invalid configuration")?;
    let result = Application::build(settings).await?.run_until(shared::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
