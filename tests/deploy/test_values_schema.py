"""values.schema.json: bad values fail at install time (helm template fails too)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from manifests import CHART, VALUES_FILES, helm_template, of_kind, render

BAD_VALUES = {
    "missing image repository": ["services.task.image.repository="],
    "replicas below one": ["services.task.replicas=0"],
    "clear-text Kafka password": ["dapr.pubsub.production.saslPassword=hunter2"],
    "clear-text password anywhere": ["services.task.podAnnotations.password=hunter2"],
    "clear-text token in a free-form map": ["serviceDefaults.podLabels.token=abc"],
    "secret env var as plain value": ["services.task.env.DATABASE_URL=postgres://h/db"],
    "another secret-looking plain env var": ["services.task.env.STRIPE_API_KEY=sk"],
    "URL with credentials": ["services.task.env.UPSTREAM=https://user:pw@example.com/"],
    "unknown pubsub mode": ["dapr.pubsub.mode=rabbitmq"],
    "lower-case SASL mechanism": ["dapr.pubsub.mode=production", "dapr.pubsub.production.saslMechanism=sha-512"],
    "unbounded inbound retries": ["dapr.resiliency.inboundRetry.maxRetries=-1"],
    "unknown auth mode": ["auth.mode=none"],
    "jwks without a URL": ["auth.mode=jwks", "auth.jwksUrl="],
    "secret ref without a key": ["database.secretRef.key="],
    "unknown key (typo)": ["services.task.replica=2"],
    "service without app id": ["services.extra.enabled=true", "services.extra.image.repository=tasks/extra"],
    "unknown statestore version": ["dapr.statestore.version=v3"],
    "PDB on a single replica": ["services.task.pdb.enabled=true"],
    "per-pod pubsub with a shared group": ["dapr.perPodPubsub.consumerGroup={appID}"],
    "unknown pubsub choice of a service": ["services.audit.pubsub=mine"],
    "extra port on the app port": ["services.sync-gateway.extraPorts[0].port=50051"],
    "no app token Secret": ["dapr.appTokenSecretRef.name="],
    "an app token key Dapr does not read": ["dapr.appTokenSecretRef.key=app-token"],
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_rejected(case):
    proc = helm_template("values.yaml", BAD_VALUES[case])
    assert proc.returncode != 0, f"{case}: helm template accepted {BAD_VALUES[case]}"
    # Either the schema rejects it, or a template check fails naming the
    # service or setting at fault (e.g. "services.task: ...").
    owner = ".".join(BAD_VALUES[case][-1].split("=")[0].split(".")[:2]).split("[")[0]
    assert "schema" in proc.stderr or owner in proc.stderr, proc.stderr


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_shipped_values_files_pass_the_schema(values_file):
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    merged = yaml.safe_load((CHART / "values.yaml").read_text())
    overlay = yaml.safe_load((CHART / values_file).read_text())

    def merge(base, over):
        for k, v in over.items():
            base[k] = merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return base

    jsonschema.validate(merge(merged, overlay), schema, cls=jsonschema.Draft7Validator)


EXTRA_SERVICE = [
    "services.extra.enabled=true",
    "services.extra.appId=extra",
    "services.extra.image.repository=tasks/extra",
    "services.extra.listenAddrEnv=EXTRA_GRPC_ADDR",
]


def test_a_service_outside_the_pubsub_scopes_fails_at_install():
    proc = helm_template("values-kind.yaml", EXTRA_SERVICE)
    assert proc.returncode != 0
    assert "app id extra is not in dapr.pubsub.scopes" in proc.stderr


def test_adding_a_service_is_its_values_entry_and_its_scope():
    scopes = "dapr.pubsub.scopes={task,recurrence,reminder,notification,audit,sync-gateway,extra}"
    docs = render("values-kind.yaml", [*EXTRA_SERVICE, scopes])
    dep = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "tasks-extra"]
    assert dep, "no Deployment for the new service"
    ann = dep[0]["spec"]["template"]["metadata"]["annotations"]
    assert ann["dapr.io/app-id"] == "extra"
    kinds = {d["kind"] for d in docs if d["metadata"]["name"] == "tasks-extra"}
    assert kinds == {"Deployment", "Service", "ServiceAccount", "NetworkPolicy"}


def test_image_digest_and_registry():
    docs = render("values-production.yaml", ["services.task.image.digest=sha256:" + "a" * 64])
    dep = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "tasks-task"][0]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example-org/tasks/task@sha256:" + "a" * 64
