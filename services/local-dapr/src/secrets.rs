//! Secret stores: `GetSecret`, `GetBulkSecret`, and `secretKeyRef`s in
//! component metadata.
//!
//! - `secretstores.local.env`: environment variables; the secret `X` is
//!   `{X: $X}`.
//! - `secretstores.local.file`: the JSON file in `secretsFile`; nested
//!   objects are flattened with `nestedSeparator` (default `:`), so
//!   `{"db": {"password": "p"}}` holds the secret `db:password`.
//! - `secretstores.kubernetes` (there is no cluster here): a secret `name`
//!   with key `key` is read from the environment variable `NAME_KEY`, upper
//!   case, with `-` and `.` turned into `_` (so `smtp-creds`/`password` is
//!   `SMTP_CREDS_PASSWORD`). `GetSecret(name)` returns every such variable,
//!   keys lower-cased.
//!
//! A `secretKeyRef` uses the component's `auth.secretStore`, else the only
//! (first) secret store the app loads, else the environment as above.

use std::collections::HashMap;

use dapr::dapr::proto::runtime::v1 as rt;
use tonic::Status;

use crate::{
    api::Sidecar,
    resources::{Component, SecretKeyRef},
    runtime::Shared,
};

/// `NAME_KEY`, the variable standing in for a Kubernetes secret key.
pub fn env_name(name: &str, key: &str) -> String {
    format!("{name}_{key}").to_ascii_uppercase().replace(['-', '.'], "_")
}

fn flatten(prefix: &str, value: &serde_json::Value, separator: &str, out: &mut HashMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}{separator}{k}") };
                flatten(&key, v, separator, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Every secret of a store as `secret name → {key → value}`.
fn all_secrets(store: &Component) -> Result<HashMap<String, HashMap<String, String>>, Status> {
    match store.kind.as_str() {
        "secretstores.local.env" => Ok(std::env::vars().map(|(k, v)| (k.clone(), HashMap::from([(k, v)]))).collect()),
        "secretstores.local.file" => {
            let path = store.meta("secretsFile").ok_or_else(|| Status::internal("secretsFile is not set"))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| Status::internal(format!("reading secrets file {path}: {e}")))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Status::internal(format!("parsing {path}: {e}")))?;
            let mut flat = HashMap::new();
            flatten("", &json, store.meta("nestedSeparator").unwrap_or(":"), &mut flat);
            Ok(flat.into_iter().map(|(k, v)| (k.clone(), HashMap::from([(k, v)]))).collect())
        }
        "secretstores.kubernetes" => Ok(HashMap::new()),
        other => Err(Status::unimplemented(format!("secret store type {other} is not supported locally"))),
    }
}

/// One secret of a store.
fn secret(store: &Component, name: &str) -> Result<HashMap<String, String>, Status> {
    if store.kind == "secretstores.kubernetes" {
        let prefix = env_name(name, "");
        let found: HashMap<String, String> = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|key| (key.to_ascii_lowercase(), v)))
            .collect();
        return if found.is_empty() { Err(not_found(name, &store.name)) } else { Ok(found) };
    }
    all_secrets(store)?.remove(name).ok_or_else(|| not_found(name, &store.name))
}

fn not_found(name: &str, store: &str) -> Status {
    Status::internal(format!("failed getting secret with key {name} from secret store {store}: secret not found"))
}

fn store<'a>(sidecar: &'a Sidecar, name: &str) -> Result<&'a Component, Status> {
    let app_id = &sidecar.app.id;
    if !sidecar.shared.components(app_id).any(|c| c.category() == "secretstores") {
        return Err(Status::failed_precondition("secret store is not configured"));
    }
    sidecar
        .shared
        .component(app_id, "secretstores", name)
        .ok_or_else(|| Status::invalid_argument(format!("failed finding secret store with key {name}")))
}

pub async fn get_secret(
    sidecar: &Sidecar,
    request: tonic::Request<rt::GetSecretRequest>,
) -> Result<tonic::Response<rt::GetSecretResponse>, Status> {
    let req = request.into_inner();
    let data = secret(store(sidecar, &req.store_name)?, &req.key)?;
    Ok(tonic::Response::new(rt::GetSecretResponse { data }))
}

pub async fn get_bulk_secret(
    sidecar: &Sidecar,
    request: tonic::Request<rt::GetBulkSecretRequest>,
) -> Result<tonic::Response<rt::GetBulkSecretResponse>, Status> {
    let req = request.into_inner();
    let data = all_secrets(store(sidecar, &req.store_name)?)?
        .into_iter()
        .map(|(k, secrets)| (k, rt::SecretResponse { secrets }))
        .collect();
    Ok(tonic::Response::new(rt::GetBulkSecretResponse { data }))
}

/// A component's metadata value for `app_id`, resolving `secretKeyRef`s.
pub fn resolve(shared: &Shared, app_id: &str, component: &Component, name: &str) -> Option<String> {
    let item = component.metadata.iter().find(|m| m.name.eq_ignore_ascii_case(name))?;
    if let Some(value) = &item.value {
        return Some(value.clone());
    }
    let SecretKeyRef { name: secret_name, key } = item.secret_key_ref.as_ref()?;
    let key = key.as_deref().unwrap_or(secret_name);
    let store = match &component.secret_store {
        Some(store) => shared.component(app_id, "secretstores", store),
        None => shared.components(app_id).find(|c| c.category() == "secretstores"),
    };
    match store {
        Some(store) if store.kind != "secretstores.kubernetes" => secret(store, secret_name).ok()?.remove(key),
        _ => std::env::var(env_name(secret_name, key)).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_secrets_map_to_env_names() {
        assert_eq!(env_name("smtp-creds", "password"), "SMTP_CREDS_PASSWORD");
        assert_eq!(env_name("db", "ca.crt"), "DB_CA_CRT");
    }

    #[test]
    fn nested_file_secrets_are_flattened() {
        let mut out = HashMap::new();
        flatten("", &serde_json::json!({"db": {"password": "p", "port": 5}}), ":", &mut out);
        assert_eq!(out["db:password"], "p");
        assert_eq!(out["db:port"], "5");
    }
}
