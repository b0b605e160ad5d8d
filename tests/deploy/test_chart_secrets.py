"""No secret in clear text anywhere in the rendered manifests."""

from __future__ import annotations

import re

from manifests import RENDERS, helm_template, of_kind

SECRET_ENV = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)|^DATABASE_URL$")
SECRET_KEY_LINE = re.compile(
    r"^\s*-?\s*(password|passwd|token|secret|apiKey|api_key|connectionString|saslPassword|clientSecret)\s*:\s*(\S.*)$",
    re.IGNORECASE,
)
URL_WITH_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@")
SECRET_COMPONENT_ITEM = re.compile(r"(?i)(password|secret|token|connectionstring|privatekey|clientkey|cacert)")


def containers(doc):
    spec = doc["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_the_chart_creates_no_secret_and_no_configmap_with_secrets(rendered):
    assert not of_kind(rendered, "Secret"), "secrets are referenced, never created by the chart"
    for cm in of_kind(rendered, "ConfigMap"):
        for key in (cm.get("data") or {}):
            assert not SECRET_ENV.search(key.upper()), f"ConfigMap {cm['metadata']['name']} has {key}"


def test_secret_looking_env_vars_come_from_secrets(rendered):
    workloads = [d for d in rendered if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")]
    assert workloads
    for w in workloads:
        for c in containers(w):
            for e in c.get("env", []):
                if SECRET_ENV.search(e["name"]):
                    assert "value" not in e, f"{w['metadata']['name']}: {e['name']} has a literal value"
                    assert e["valueFrom"]["secretKeyRef"]["name"], e
                    assert e["valueFrom"]["secretKeyRef"]["key"], e
            assert "envFrom" not in c or all("configMapRef" not in s for s in c["envFrom"])


def test_no_literal_secret_keys_or_credential_urls_in_the_rendered_yaml():
    for name, (values_file, sets) in RENDERS.items():
        proc = helm_template(values_file, sets)
        assert proc.returncode == 0, proc.stderr
        for n, line in enumerate(proc.stdout.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            m = SECRET_KEY_LINE.match(line)
            assert not m, f"{name}: line {n} looks like a clear-text secret: {line.strip()}"
            assert not URL_WITH_CREDENTIALS.search(line), f"{name}: line {n} has a URL with credentials"


def test_dapr_component_secrets_are_references(rendered):
    for comp in of_kind(rendered, "Component"):
        for item in comp["spec"]["metadata"]:
            if SECRET_COMPONENT_ITEM.search(item["name"]) and not item["name"].endswith("Header"):
                assert "secretKeyRef" in item and "value" not in item, f"{comp['metadata']['name']}.{item['name']}"
