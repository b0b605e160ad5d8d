"""The migration hook: `migrate up` before install/upgrade, no Dapr sidecar."""

from __future__ import annotations

from manifests import RELEASE, by_name, of_kind, render

HOOK = "helm.sh/hook"


def migrate_job(docs):
    return by_name(docs, "Job", f"{RELEASE}-migrate")


def test_job_is_a_pre_install_pre_upgrade_hook(rendered):
    job = migrate_job(rendered)
    ann = job["metadata"]["annotations"]
    assert set(ann[HOOK].split(",")) == {"pre-install", "pre-upgrade"}
    assert set(ann["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}


def test_job_runs_migrate_up_with_the_database_secret(rendered):
    job = migrate_job(rendered)
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    assert c["args"] == ["up"]
    assert c["image"].split("/")[-1].startswith("migrate")
    env = {e["name"]: e for e in c["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    assert job["spec"]["backoffLimit"] >= 0
    assert job["spec"]["activeDeadlineSeconds"] > 0


def test_job_has_no_dapr_sidecar(rendered):
    job = migrate_job(rendered)
    ann = job["spec"]["template"]["metadata"].get("annotations", {})
    assert ann.get("dapr.io/enabled", "false") == "false"
    assert not any(k.startswith("dapr.io/") and k != "dapr.io/enabled" for k in ann)


def test_hook_service_account_and_policy_run_before_the_job(rendered):
    job = migrate_job(rendered)
    sa_name = job["spec"]["template"]["spec"]["serviceAccountName"]
    sa = by_name(rendered, "ServiceAccount", sa_name)
    assert sa["automountServiceAccountToken"] is False
    hooks = [d for d in rendered if HOOK in d["metadata"].get("annotations", {})]
    weights = {(d["kind"], d["metadata"]["name"]): int(d["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) for d in hooks}
    job_weight = weights[("Job", job["metadata"]["name"])]
    assert weights[("ServiceAccount", sa_name)] < job_weight
    np = by_name(rendered, "NetworkPolicy", f"{RELEASE}-migrate")
    assert weights[("NetworkPolicy", np["metadata"]["name"])] < job_weight
    assert np["spec"]["ingress"] == []
    # Only the migration's own objects are hooks; the services are ordinary resources.
    assert {k for k, _ in weights} == {"Job", "ServiceAccount", "NetworkPolicy"}


def test_migrations_can_be_switched_off():
    docs = render("values-kind.yaml", ["migrations.enabled=false"])
    assert not of_kind(docs, "Job")
