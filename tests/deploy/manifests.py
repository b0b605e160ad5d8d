"""Rendering and loading of the chart's manifests, shared by check.sh and the tests.

CLI (used by scripts/deploy/check.sh):
    python manifests.py split RENDERED.yaml OUTDIR
writes every Kubernetes object to OUTDIR/k8s/ and every Dapr resource to
OUTDIR/dapr/, one file per object, and prints the counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tasks"
COMPONENTS = ROOT / "components"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
VALUES_FILES = ("values.yaml", "values-kind.yaml", "values-production.yaml")
RELEASE = "tasks"
NAMESPACE = "tasks"
APP_IDS = ("task", "recurrence", "reminder", "notification", "audit", "sync-gateway")
ALL_SERVICES = [f"services.{k}.enabled=true" for k in APP_IDS if k != "task"]
MONITORING = [f"monitoring.{k}.enabled=true" for k in ("podMonitor", "prometheusRule", "dashboards")]
# Every render the tests look at: the three values files, plus production
# with every (future) service switched on, so loops and RBAC are covered.
RENDERS = {
    "default": ("values.yaml", ()),
    "kind": ("values-kind.yaml", ()),
    "production": ("values-production.yaml", ()),
    "all-services": ("values-production.yaml", tuple(ALL_SERVICES)),
    # Production with every monitoring object on (they need CRDs or Grafana).
    "monitoring": ("values-production.yaml", tuple(MONITORING)),
}


def helm_binary() -> str:
    """`HELM`, else the project's .tools/bin/helm (check.sh installs it), else PATH."""
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    local = ROOT / ".tools" / "bin" / "helm"
    if local.exists():
        return str(local)
    return "helm"


def helm_template(values_file: str | None = None, sets: Iterable[str] = (), extra: Iterable[str] = ()) -> subprocess.CompletedProcess:
    """Runs `helm template` like an install would; returns the finished process."""
    cmd = [helm_binary(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if values_file:
        cmd += ["-f", str(CHART / values_file)]
    for s in sets:
        cmd += ["--set", s]
    cmd += list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def load_all(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def render(values_file: str | None = None, sets: Iterable[str] = ()) -> list[dict[str, Any]]:
    proc = helm_template(values_file, sets)
    if proc.returncode != 0:
        raise RuntimeError(f"helm template failed ({values_file}, {list(sets)}):\n{proc.stderr}")
    return load_all(proc.stdout)


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    for d in found:
        if d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} named {name}; have {[d['metadata']['name'] for d in found]}")


def is_dapr(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("dapr.io/")


def load_yaml_files(paths: Iterable[Path]) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in paths:
        for doc in load_all(Path(path).read_text()):
            out.append((Path(path), doc))
    return out


def component_files() -> list[Path]:
    return sorted(COMPONENTS.glob("**/*.yaml"))


def is_prometheus_operator(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/")


def split(rendered: Path, outdir: Path) -> tuple[int, int]:
    """One file per object: Dapr resources in dapr/, Prometheus Operator
    objects (no schema in kubernetes-validate) in monitoring/, the rest in k8s/."""
    docs = load_all(rendered.read_text())
    counts = {"k8s": 0, "dapr": 0, "monitoring": 0}
    for group in counts:
        (outdir / group).mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        group = "dapr" if is_dapr(doc) else "monitoring" if is_prometheus_operator(doc) else "k8s"
        name = re.sub(r"[^a-z0-9.-]+", "-", f"{doc.get('kind', 'x')}-{doc.get('metadata', {}).get('name', i)}".lower())
        path = outdir / group / f"{i:03d}-{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        counts[group] += 1
    return counts["k8s"], counts["dapr"]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "split":
        k8s, dapr = split(Path(argv[1]), Path(argv[2]))
        print(f"{argv[1]}: {k8s} Kubernetes objects, {dapr} Dapr resources")
        return 0 if k8s and dapr else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
