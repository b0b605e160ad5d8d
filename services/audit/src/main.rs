//! Runs the audit service with settings from the environment (see [`audit::config`]).

use anyhow::Context;
use audit::{Application, Settings};

#[global_allocator]
/// mimalloc: glibc's malloc was ~10% of a request's CPU (make bench).
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init("audit", &shared::config::TelemetrySettings::from_env());
    let settings = Settings::from_env().context("invalid configuration")?;
    let result = Application::build(settings).await?.run_until(shared::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
