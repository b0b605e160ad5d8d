"""Dockerfile, .dockerignore, mk/deploy.mk, the deploy scripts and the workflow."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from manifests import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SCRIPTS = sorted((ROOT / "scripts" / "deploy").glob("*.sh"))


def test_dockerfile_is_a_two_stage_build_to_distroless_nonroot():
    text = DOCKERFILE.read_text()
    assert "ARG RUST_IMAGE=rust:1.95-bookworm" in text
    assert "ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot" in text
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["${RUST_IMAGE}", "${RUNTIME_IMAGE}"]
    build = re.search(r"RUN (--mount.*?)\n\n", text, re.S).group(1)
    assert "cargo build --release --locked --workspace --exclude integration-tests --bins" in build
    for cache in ("/usr/local/cargo/registry", "/src/target"):
        assert "type=cache" in build and cache in build, cache
    # BIN is declared after the build: one build layer serves every image.
    assert text.index("ARG BIN") > text.index("cargo build")
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/service"]' in text


def test_the_shipped_binaries_build_without_the_test_only_features():
    # The Dockerfile's build (the workspace without integration-tests) must
    # not switch on shared/testing: its Kafka reader is the marker.
    proc = subprocess.run(
        ["cargo", "tree", "--workspace", "--exclude", "integration-tests", "-e", "normal", "-i", "rskafka"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert "rskafka" not in proc.stdout, proc.stdout
    assert "nothing to print" in proc.stderr, proc.stderr


def test_dockerignore_keeps_the_context_small():
    lines = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")}
    assert {"**/target", ".git", ".tools"} <= lines
    for needed in ("Cargo.toml", "Cargo.lock", "shared", "services", "proto", "migrations", "integration-tests"):
        assert needed not in lines, f"{needed} is needed by the build"


def test_deploy_mk_defines_the_verbs_only():
    text = (ROOT / "mk" / "deploy.mk").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))
    assert {"images", "kind-up", "deploy", "e2e", "kind-down", "deploy-check"} <= targets
    assert not targets & {"test", "dev", "lint"}, "the root Makefile owns these"
    for line in text.splitlines():
        m = re.match(r"^([A-Z_]+)\s*([:?+]?=)", line)
        if m:
            assert m.group(2) == "?=", f"{m.group(1)} must be overridable (?=)"
    assert "scripts/deploy/check.sh" in text
    assert "--build-arg BIN=" in text


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_bash(script):
    text = script.read_text()
    if script.name != "lib.sh":
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        assert re.search(r"^set -(euo|uo) pipefail$", text, re.M), script.name
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_waits_have_timeouts():
    """Every wait in the scripts is bounded."""
    waits = 0
    for script in SCRIPTS:
        for line in script.read_text().splitlines():
            code = line.split(" #")[0]
            if re.search(r"rollout status|\bwait --for", code) or (
                re.search(r"--wait(\s|$)", code) and not re.search(r"--wait\s+\d+[smh]", code)
            ):
                waits += 1
                assert "--timeout" in code, f"{script.name}: unbounded wait: {line.strip()}"
            if re.match(r"\s*until\b", code):
                waits += 1
                body = script.read_text().split(line, 1)[1].split("done", 1)[0]
                assert "deadline" in body, f"{script.name}: until-loop without a deadline: {line.strip()}"
    assert waits >= 5


def workflow(name):
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    wf["on"] = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    return wf


def runs(wf, job):
    return "\n".join(s.get("run", "") for s in wf["jobs"][job]["steps"])


def test_ci_lints_runs_the_ci_entry_point_and_the_kind_suite():
    wf = workflow("ci.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    jobs = wf["jobs"]
    assert "make lint" in runs(wf, "lint")
    assert ".ci/run" in runs(wf, "test")
    assert "make images kind-up deploy e2e" in runs(wf, "e2e")
    uses = " ".join(s.get("uses", "") for s in jobs["e2e"]["steps"])
    assert "kind-action" in uses and "setup-helm" in uses and "setup-kubectl" in uses
    upload = [s for s in jobs["e2e"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload and upload[0]["if"] == "failure()"
    # buf breaking needs main's history.
    assert jobs["lint"]["steps"][0]["with"]["fetch-depth"] == 0


def test_release_builds_every_image_and_deploys_dev_from_main_and_prod_from_tags():
    wf = workflow("release.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and wf["on"]["push"]["tags"]
    jobs = wf["jobs"]
    images = set(jobs["images"]["strategy"]["matrix"]["bin"])
    makefile_bins = set(re.search(r"IMAGE_BINS \?= (.*)", (ROOT / "mk" / "deploy.mk").read_text()).group(1).split())
    assert images == makefile_bins
    assert jobs["images"]["permissions"]["packages"] == "write"
    meta = runs(wf, "meta")
    assert "environment=prod" in meta and "environment=dev" in meta
    assert jobs["chart"]["if"] == "github.ref_type == 'tag'"
    assert "release.sh package" in runs(wf, "chart") and "helm push" in runs(wf, "chart")
    deploy = jobs["deploy"]
    assert deploy["environment"]["name"] == "${{ needs.meta.outputs.environment }}"
    assert "release.sh upgrade" in runs(wf, "deploy")
    assert "cancel-in-progress" in wf["concurrency"] and wf["concurrency"]["cancel-in-progress"] is False
    release = (ROOT / "scripts" / "deploy" / "release.sh").read_text()
    assert "--rollback-on-failure" in release, "a failed upgrade rolls back by itself (Helm 4's --atomic)"


def test_rollback_is_manual_per_environment():
    wf = workflow("rollback.yml")
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "environment" and inputs["environment"]["required"]
    job = wf["jobs"]["rollback"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert "release.sh rollback" in runs(wf, "rollback")
