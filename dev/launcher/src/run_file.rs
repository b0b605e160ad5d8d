//! The Multi-App Run file and what the Dapr CLI makes of it.
//!
//! The subset of `dapr run -f` keys this project uses, with the CLI's rules
//! (dapr/cli 1.18, `pkg/standalone/run.go` and `pkg/runfileconfig`):
//!
//! - an app's value wins over `common`'s unless it is the zero value;
//!   `env` merges key by key, the app's winning;
//! - `common` paths are relative to the run file, an app's paths to its
//!   `appDirPath`, which is relative to the run file;
//! - each key becomes one daprd flag (`appID` → `--app-id`, …); an absent
//!   HTTP, internal gRPC or metrics port gets a free one; an empty
//!   `placementHostAddress` means no placement;
//! - the app gets `APP_ID`, `APP_PORT`, `APP_PROTOCOL`, `DAPR_HTTP_PORT`,
//!   `DAPR_GRPC_PORT` and `DAPR_METRICS_PORT`, then the file's `env`;
//! - daprd and the app run in `appDirPath`; the command runs as
//!   `sh -c 'exec "$@"' sh COMMAND…` (no shell expansion of its words).
//!
//! Unlike the CLI, an unknown key is an error here, so a typo is not
//! silently ignored.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::Deserialize;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunFile {
    pub version: u32,
    #[serde(default)]
    pub common: Shared,
    pub apps: Vec<AppEntry>,
}

/// Keys allowed both in `common` and in an app.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shared {
    pub resources_path: Option<PathBuf>,
    pub config_file_path: Option<PathBuf>,
    pub app_protocol: Option<String>,
    pub log_level: Option<String>,
    pub placement_host_address: Option<String>,
    pub scheduler_host_address: Option<String>,
    pub enable_app_health_check: Option<bool>,
    pub app_health_probe_interval: Option<u32>,
    pub app_health_probe_timeout: Option<u32>,
    pub app_health_threshold: Option<u32>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The keys of [`Shared`] (serde cannot deny unknown fields of a
/// flattened struct, so [`check_keys`] does).
const SHARED_KEYS: &[&str] = &[
    "resourcesPath",
    "configFilePath",
    "appProtocol",
    "logLevel",
    "placementHostAddress",
    "schedulerHostAddress",
    "enableAppHealthCheck",
    "appHealthProbeInterval",
    "appHealthProbeTimeout",
    "appHealthThreshold",
    "env",
];
const APP_KEYS: &[&str] = &[
    "appID",
    "appDirPath",
    "appPort",
    "daprGRPCPort",
    "daprHTTPPort",
    "daprInternalGRPCPort",
    "metricsPort",
    "command",
];

/// One `apps:` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppEntry {
    #[serde(rename = "appID")]
    pub app_id: String,
    pub app_dir_path: PathBuf,
    pub app_port: Option<u16>,
    #[serde(rename = "daprGRPCPort")]
    pub dapr_grpc_port: Option<u16>,
    #[serde(rename = "daprHTTPPort")]
    pub dapr_http_port: Option<u16>,
    #[serde(rename = "daprInternalGRPCPort")]
    pub dapr_internal_grpc_port: Option<u16>,
    pub metrics_port: Option<u16>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(flatten)]
    pub shared: Shared,
}

/// One app, resolved: everything needed to start its daprd and itself.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub app_id: String,
    pub dir: PathBuf,
    pub app_port: Option<u16>,
    pub grpc_port: u16,
    pub http_port: u16,
    pub internal_grpc_port: u16,
    pub metrics_port: u16,
    pub command: Vec<String>,
    pub resources: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub app_protocol: String,
    pub log_level: Option<String>,
    pub placement: Option<String>,
    pub scheduler: Option<String>,
    pub health_check: bool,
    pub probe_interval: Option<u32>,
    pub probe_timeout: Option<u32>,
    pub threshold: Option<u32>,
    pub env: BTreeMap<String, String>,
}

/// Reads and resolves the run file at `path`; `free_port` picks the ports
/// the file leaves out.
///
/// # Errors
/// Unreadable or malformed file, a version other than 1, no apps.
pub fn load(path: &Path, mut free_port: impl FnMut() -> u16) -> anyhow::Result<Vec<App>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    check_keys(&value).with_context(|| format!("in {}", path.display()))?;
    let file: RunFile = serde_yaml::from_value(value).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(file.version == 1, "{}: version must be 1", path.display());
    anyhow::ensure!(!file.apps.is_empty(), "{} lists no apps", path.display());
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(file.apps.into_iter().map(|app| resolve(app, &file.common, &base, &mut free_port)).collect())
}

/// Fails on a key of `common` or of an app that this launcher does not know.
fn check_keys(file: &serde_yaml::Value) -> anyhow::Result<()> {
    let unknown = |map: &serde_yaml::Value, allowed: &[&[&str]], place: &str| -> anyhow::Result<()> {
        for key in map.as_mapping().into_iter().flat_map(|m| m.keys()) {
            let key = key.as_str().unwrap_or_default();
            anyhow::ensure!(allowed.iter().any(|keys| keys.contains(&key)), "unknown key {key:?} in {place}");
        }
        Ok(())
    };
    unknown(&file["common"], &[SHARED_KEYS], "common")?;
    for (i, app) in file["apps"].as_sequence().into_iter().flatten().enumerate() {
        unknown(app, &[SHARED_KEYS, APP_KEYS], &format!("apps[{i}]"))?;
    }
    Ok(())
}

fn resolve(entry: AppEntry, common: &Shared, base: &Path, free_port: &mut impl FnMut() -> u16) -> App {
    let dir = base.join(&entry.app_dir_path);
    let own = &entry.shared;
    // An app's own path is relative to its directory, a common one to the file.
    let path = |mine: &Option<PathBuf>, theirs: &Option<PathBuf>| match (mine, theirs) {
        (Some(p), _) => Some(dir.join(p)),
        (None, Some(p)) => Some(base.join(p)),
        (None, None) => None,
    };
    let pick = |mine: &Option<String>, theirs: &Option<String>| mine.clone().or_else(|| theirs.clone());
    let mut env = common.env.clone();
    env.extend(own.env.clone());
    App {
        app_id: entry.app_id,
        app_port: entry.app_port.filter(|p| *p > 0),
        grpc_port: entry.dapr_grpc_port.unwrap_or_else(&mut *free_port),
        http_port: entry.dapr_http_port.unwrap_or_else(&mut *free_port),
        internal_grpc_port: entry.dapr_internal_grpc_port.unwrap_or_else(&mut *free_port),
        metrics_port: entry.metrics_port.unwrap_or_else(&mut *free_port),
        command: entry.command,
        resources: path(&own.resources_path, &common.resources_path),
        config: path(&own.config_file_path, &common.config_file_path),
        app_protocol: pick(&own.app_protocol, &common.app_protocol).unwrap_or_else(|| "http".to_owned()),
        log_level: pick(&own.log_level, &common.log_level),
        placement: pick(&own.placement_host_address, &common.placement_host_address),
        scheduler: pick(&own.scheduler_host_address, &common.scheduler_host_address),
        health_check: own.enable_app_health_check.or(common.enable_app_health_check).unwrap_or(false),
        probe_interval: own.app_health_probe_interval.or(common.app_health_probe_interval),
        probe_timeout: own.app_health_probe_timeout.or(common.app_health_probe_timeout),
        threshold: own.app_health_threshold.or(common.app_health_threshold),
        env,
        dir,
    }
}

impl App {
    /// The daprd command line, flag for flag as the Dapr CLI builds it.
    pub fn daprd_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["--app-id".into(), self.app_id.clone()];
        let mut flag = |name: &str, value: String| args.extend([format!("--{name}"), value]);
        if let Some(port) = self.app_port {
            flag("app-port", port.to_string());
        }
        flag("app-protocol", self.app_protocol.clone());
        flag("dapr-grpc-port", self.grpc_port.to_string());
        flag("dapr-http-port", self.http_port.to_string());
        flag("dapr-internal-grpc-port", self.internal_grpc_port.to_string());
        flag("metrics-port", self.metrics_port.to_string());
        if let Some(resources) = &self.resources {
            flag("resources-path", resources.display().to_string());
        }
        if let Some(config) = &self.config {
            flag("config", config.display().to_string());
        }
        if let Some(level) = &self.log_level {
            flag("log-level", level.clone());
        }
        // Absent: the CLI's default; empty: no placement at all.
        match self.placement.as_deref() {
            None => flag("placement-host-address", "localhost:50005".into()),
            Some("") => {}
            Some(address) => flag("placement-host-address", with_port(address, 50005)),
        }
        flag("scheduler-host-address", with_port(self.scheduler.as_deref().unwrap_or("localhost"), 50006));
        if let Some(interval) = self.probe_interval.filter(|v| *v > 0) {
            flag("app-health-probe-interval", interval.to_string());
        }
        if let Some(timeout) = self.probe_timeout.filter(|v| *v > 0) {
            flag("app-health-probe-timeout", timeout.to_string());
        }
        if let Some(threshold) = self.threshold.filter(|v| *v > 0) {
            flag("app-health-threshold", threshold.to_string());
        }
        if self.health_check {
            args.push("--enable-app-health-check".into());
        }
        args
    }

    /// What the app's process gets on top of the launcher's environment.
    pub fn app_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("APP_ID".to_owned(), self.app_id.clone())];
        if let Some(port) = self.app_port {
            env.push(("APP_PORT".into(), port.to_string()));
        }
        env.push(("APP_PROTOCOL".into(), self.app_protocol.to_lowercase()));
        env.push(("DAPR_HTTP_PORT".into(), self.http_port.to_string()));
        env.push(("DAPR_GRPC_PORT".into(), self.grpc_port.to_string()));
        env.push(("DAPR_METRICS_PORT".into(), self.metrics_port.to_string()));
        env.extend(self.env.clone());
        env
    }

    /// The app's command as the CLI runs it: `sh -c 'exec "$@"' sh COMMAND…`.
    pub fn app_argv(&self) -> Option<Vec<String>> {
        if self.command.is_empty() {
            return None;
        }
        let mut argv = vec!["sh".to_owned(), "-c".to_owned(), "exec \"$@\"".to_owned(), "sh".to_owned()];
        argv.extend(self.command.iter().cloned());
        Some(argv)
    }
}

fn with_port(address: &str, default: u16) -> String {
    if address.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
        address.to_owned()
    } else {
        format!("{address}:{default}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
version: 1
common:
  resourcesPath: ../components/selfhosted/resources
  configFilePath: ../components/selfhosted/configuration.yaml
  appProtocol: grpc
  placementHostAddress: ""
  schedulerHostAddress: 127.0.0.1:50006
  env: { RUST_LOG: info, PUBSUB_NAME: pubsub }
apps:
  - appID: task
    appDirPath: ../
    appPort: 50051
    daprGRPCPort: 50101
    daprHTTPPort: 3501
    metricsPort: 9101
    command: ["sh", "-c", "exec ${X:-target}/task"]
    env: { PUBSUB_NAME: other }
  - appID: audit
    appDirPath: ../
    logLevel: debug
"#;

    fn load_text(text: &str) -> anyhow::Result<Vec<App>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("dev/dapr.yaml");
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, text)?;
        let mut next = 40000;
        load(&path, || {
            next += 1;
            next
        })
    }

    #[test]
    fn flags_follow_the_dapr_cli() {
        let apps = load_text(FILE).unwrap();
        let args = apps[0].daprd_args().join(" ");
        assert!(
            args.starts_with("--app-id task --app-port 50051 --app-protocol grpc --dapr-grpc-port 50101"),
            "{args}"
        );
        assert!(args.contains("--dapr-http-port 3501 --dapr-internal-grpc-port 40001 --metrics-port 9101"), "{args}");
        assert!(args.contains("/dev/../components/selfhosted/resources"), "common paths are relative to the file");
        assert!(!args.contains("placement"), "an empty placement address means none: {args}");
        assert!(args.ends_with("--scheduler-host-address 127.0.0.1:50006"), "{args}");
        let audit = apps[1].daprd_args().join(" ");
        assert!(audit.contains("--log-level debug") && !audit.contains("--app-port"), "{audit}");
        assert!(audit.contains("--dapr-grpc-port 40002"), "absent ports are free ones: {audit}");
    }

    #[test]
    fn the_app_gets_the_cli_variables_then_its_env_merged_over_common() {
        let apps = load_text(FILE).unwrap();
        let env: BTreeMap<_, _> = apps[0].app_env().into_iter().collect();
        assert_eq!(env["DAPR_GRPC_PORT"], "50101");
        assert_eq!(env["APP_PROTOCOL"], "grpc");
        assert_eq!(env["PUBSUB_NAME"], "other", "the app's env wins");
        assert_eq!(env["RUST_LOG"], "info");
        let argv = apps[0].app_argv().unwrap();
        assert_eq!(argv[..4], ["sh", "-c", "exec \"$@\"", "sh"]);
        assert_eq!(argv[4..], ["sh", "-c", "exec ${X:-target}/task"], "no expansion by the launcher");
        assert_eq!(apps[1].app_argv(), None, "no command: daprd only");
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let typo = FILE.replace("logLevel: debug", "logLevle: debug");
        let err = load_text(&typo).unwrap_err();
        assert!(format!("{err:#}").contains("logLevle"), "{err:#}");
    }
}
