"""Metrics ports, and the optional PodMonitor, PrometheusRule and dashboards."""

from __future__ import annotations

import json

import yaml

from manifests import CHART, RELEASE, by_name, of_kind

METRICS_PORT = 9464


def test_every_app_serves_metrics_on_a_named_port(rendered):
    for dep in of_kind(rendered, "Deployment"):
        container = dep["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == METRICS_PORT, dep["metadata"]["name"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["METRICS_ADDR"] == f"0.0.0.0:{METRICS_PORT}", dep["metadata"]["name"]
        assert dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/enable-metrics"] == "true"


def test_metrics_namespaces_may_scrape_app_and_sidecar(renders):
    # values-production.yaml lets the `monitoring` namespace scrape.
    for dep in of_kind(renders["production"], "Deployment"):
        np = by_name(renders["production"], "NetworkPolicy", dep["metadata"]["name"])
        rules = [r for r in np["spec"]["ingress"]
                 if any(f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
                        for f in r.get("from", []))]
        assert rules, np["metadata"]["name"]
        assert {p["port"] for r in rules for p in r["ports"]} == {9090, METRICS_PORT}


def test_monitoring_objects_are_off_by_default(renders):
    for name in ("default", "kind", "production"):
        docs = renders[name]
        assert not of_kind(docs, "PodMonitor") and not of_kind(docs, "PrometheusRule"), name
        assert not [c for c in of_kind(docs, "ConfigMap") if "dashboard" in c["metadata"]["name"]], name


def test_pod_monitor_selects_every_app_pod_and_its_sidecar_port(renders):
    docs = renders["monitoring"]
    monitor = by_name(docs, "PodMonitor", RELEASE)
    selector = monitor["spec"]["selector"]["matchLabels"]
    deployments = of_kind(docs, "Deployment")
    assert deployments
    for dep in deployments:
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), dep["metadata"]["name"]
    # The migration Job's pods are not scraped.
    for job in of_kind(docs, "Job"):
        assert not selector.items() <= job["spec"]["template"]["metadata"].get("labels", {}).items()
    endpoints = {e["port"]: e["path"] for e in monitor["spec"]["podMetricsEndpoints"]}
    # `dapr-metrics` is the port name the Dapr injector gives daprd's metrics.
    assert endpoints == {"metrics": "/metrics", "dapr-metrics": "/"}
    # The alerts read app_kubernetes_io_part_of / _name from these.
    assert set(monitor["spec"]["podTargetLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/part-of"}


def test_prometheus_rule_carries_the_shipped_alerts_verbatim(renders):
    rule = by_name(renders["monitoring"], "PrometheusRule", RELEASE)
    shipped = yaml.safe_load((CHART / "monitoring" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == shipped["groups"]
    # Prometheus's own templates survive Helm untouched.
    summaries = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels." in s for s in summaries)


def test_one_dashboard_config_map_per_shipped_dashboard(renders):
    maps = [c for c in of_kind(renders["monitoring"], "ConfigMap") if "dashboard" in c["metadata"]["name"]]
    shipped = sorted((CHART / "monitoring" / "dashboards").glob("*.json"))
    assert len(maps) == len(shipped) >= 4
    by_file = {key: value for c in maps for key, value in c["data"].items()}
    for path in shipped:
        assert json.loads(by_file[path.name]) == json.loads(path.read_text()), path.name
    for c in maps:
        assert c["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_packaged_chart_carries_its_version_and_the_monitoring_files(tmp_path):
    import subprocess
    import tarfile

    from manifests import ROOT

    out = subprocess.run([str(ROOT / "scripts/deploy/release.sh"), "package", "2.3.4-rc.1", str(tmp_path)],
                         check=True, capture_output=True, text=True).stdout.strip()
    with tarfile.open(out) as chart:
        names = chart.getnames()
        meta = yaml.safe_load(chart.extractfile("tasks/Chart.yaml").read())
    assert (meta["version"], meta["appVersion"]) == ("2.3.4-rc.1", "2.3.4-rc.1")
    assert "tasks/monitoring/alerts.yaml" in names
    assert len([n for n in names if n.startswith("tasks/monitoring/dashboards/")]) >= 4
    refused = subprocess.run([str(ROOT / "scripts/deploy/release.sh"), "package", "latest", str(tmp_path)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "SemVer" in refused.stderr
