"""Dapr resources: components/ files and the chart's renders agree and follow the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import validate_dapr
from manifests import APP_IDS, COMPONENTS, RELEASE, by_name, component_files, is_dapr, load_all, of_kind

# components/<dir>: the chart render it must match.
VARIANTS = {"kind": "kind", "production": "production"}
SELFHOSTED = COMPONENTS / "selfhosted"


def items(component) -> dict:
    return {i["name"]: i for i in component["spec"]["metadata"]}


def value(component, name):
    return items(component)[name].get("value")


def dapr_docs(docs):
    return [d for d in docs if is_dapr(d)]


# -- components/ -------------------------------------------------------------

def test_component_files_exist_for_both_variants():
    for variant in VARIANTS:
        names = {p.name for p in (COMPONENTS / variant).glob("*.yaml")}
        assert {"pubsub.yaml", "statestore.yaml", "recurrence-sweep.yaml", "webhook.yaml", "email.yaml",
                "secretstore.yaml", "resiliency.yaml", "configuration.yaml"} <= names, variant


@pytest.mark.parametrize("path", component_files(), ids=lambda p: str(p.relative_to(COMPONENTS)))
def test_component_file_is_one_documented_valid_resource(path: Path):
    text = path.read_text()
    assert text.startswith("# "), f"{path}: starts with a header comment saying what it is for"
    docs = load_all(text)
    assert len(docs) == 1, f"{path}: one resource per file"
    (doc,) = docs
    assert doc["metadata"]["name"] == path.stem or doc["kind"] != "Component", \
        f"{path}: file named after the component"
    assert validate_dapr.validate_doc(doc) == []


def test_kind_and_production_differ_only_where_they_should():
    local = {p.name: load_all(p.read_text())[0] for p in (COMPONENTS / "kind").glob("*.yaml")}
    prod = {p.name: load_all(p.read_text())[0] for p in (COMPONENTS / "production").glob("*.yaml")}
    assert local.keys() == prod.keys()
    for name in local:
        assert local[name]["kind"] == prod[name]["kind"]
        assert local[name].get("scopes") == prod[name].get("scopes"), name
        if local[name]["kind"] == "Component":
            assert local[name]["spec"]["type"] == prod[name]["spec"]["type"], name
    assert value(local["pubsub.yaml"], "authType") == "none"
    assert value(prod["pubsub.yaml"], "authType") == "password"


def test_selfhosted_has_the_same_resources_as_kind():
    """make dev's components: same names, kinds and scopes as in the cluster."""
    kind = {p.name: load_all(p.read_text())[0] for p in (COMPONENTS / "kind").glob("*.yaml")}
    selfhosted = {p.name: load_all(p.read_text())[0] for p in (SELFHOSTED / "resources").glob("*.yaml")}
    selfhosted["configuration.yaml"] = load_all((SELFHOSTED / "configuration.yaml").read_text())[0]
    assert kind.keys() == selfhosted.keys()
    for name in kind:
        assert kind[name]["kind"] == selfhosted[name]["kind"], name
        assert kind[name].get("scopes") == selfhosted[name].get("scopes"), name
    assert kind["resiliency.yaml"]["spec"] == selfhosted["resiliency.yaml"]["spec"]
    config = selfhosted["configuration.yaml"]["spec"]
    assert "mtls" not in config, "no Sentry outside Kubernetes"
    assert config["nameResolution"]["component"] == "sqlite", "mDNS needs multicast"
    for comp in ("email.yaml",):
        assert selfhosted[comp]["auth"]["secretStore"] == "secretstore", \
            "outside Kubernetes secretKeyRefs resolve only through auth.secretStore"
    sync = items(selfhosted["pubsub-sync.yaml"])
    assert "{uuid}" in sync["consumerGroup"]["value"], "{podName} is unset outside Kubernetes"


@pytest.mark.parametrize("variant,render_name", sorted(VARIANTS.items()))
def test_component_files_match_the_chart(renders, variant, render_name):
    """components/<variant> is what the chart renders for that values file."""
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in dapr_docs(renders[render_name])}
    files = {}
    for p in (COMPONENTS / variant).glob("*.yaml"):
        doc = load_all(p.read_text())[0]
        files[(doc["kind"], doc["metadata"]["name"])] = doc
    assert files.keys() == rendered.keys()
    for key, doc in files.items():
        assert doc.get("scopes") == rendered[key].get("scopes"), key
        if doc["kind"] == "Component":
            assert doc["spec"]["type"] == rendered[key]["spec"]["type"], key
            assert doc["spec"]["version"] == rendered[key]["spec"]["version"], key
            assert doc["spec"]["metadata"] == rendered[key]["spec"]["metadata"], key
        else:
            assert doc["spec"] == rendered[key]["spec"], key


# -- the chart's Dapr resources ------------------------------------------------

def test_rendered_dapr_resources_are_valid(rendered):
    docs = dapr_docs(rendered)
    assert {d["kind"] for d in docs} == {"Component", "Resiliency", "Configuration"}
    for doc in docs:
        assert validate_dapr.validate_doc(doc) == [], doc["metadata"]["name"]


def test_every_component_is_scoped(rendered):
    for comp in of_kind(rendered, "Component") + of_kind(rendered, "Resiliency"):
        scopes = comp.get("scopes")
        assert scopes, f"{comp['metadata']['name']} is loaded by every app"
        assert set(scopes) <= set(APP_IDS), comp["metadata"]["name"]


def test_each_app_sees_only_what_it_needs(rendered):
    scopes = {c["metadata"]["name"]: set(c["scopes"]) for c in of_kind(rendered, "Component")}
    assert scopes["pubsub"] == set(APP_IDS)
    assert scopes["recurrence-sweep"] == {"recurrence"}
    assert scopes["webhook"] == {"notification"}
    assert scopes["email"] == {"notification"}
    assert "task" not in scopes["statestore"], "the task service keeps its data in its own tables"
    assert scopes["secretstore"] == {"notification"}
    assert scopes["pubsub-sync"] == {"sync-gateway"}


def test_kafka_pubsub_contract(rendered):
    ps = by_name(rendered, "Component", "pubsub")
    assert ps["spec"]["type"] == "pubsub.kafka" and ps["spec"]["version"] == "v1"
    assert value(ps, "consumerGroup") == "{appID}"
    assert value(ps, "initialOffset") == "oldest"
    assert value(ps, "brokers")
    assert int(value(ps, "backOffMaxRetries")) == -1, "a finite count skips the message (docs/dapr.md)"
    assert value(ps, "backOffMaxElapsedTime") == "0", "otherwise exponential retries stop after 15 minutes"
    assert value(ps, "consumeRetryEnabled") == "true"


def test_per_pod_pubsub_gives_every_replica_every_event(renders):
    for name in ("kind", "production"):
        shared = items(by_name(renders[name], "Component", "pubsub"))
        per_pod = items(by_name(renders[name], "Component", "pubsub-sync"))
        assert per_pod["consumerGroup"]["value"] == "{podName}"
        assert per_pod["initialOffset"]["value"] == "newest", "catch-up comes from the task service"
        for key in ("brokers", "authType", "saslPassword", "caCert", "backOffMaxRetries", "backOffMaxElapsedTime"):
            assert per_pod.get(key) == shared.get(key), f"{name}: {key} as in pubsub"


def test_kafka_local_vs_production(renders):
    local = by_name(renders["kind"], "Component", "pubsub")
    assert value(local, "authType") == "none"
    assert "redpanda" in value(local, "brokers")
    prod = by_name(renders["production"], "Component", "pubsub")
    meta = items(prod)
    assert meta["authType"]["value"] == "password"
    assert meta["saslMechanism"]["value"] == "SHA-512"
    assert "secretKeyRef" in meta["saslPassword"]
    assert "secretKeyRef" in meta["saslUsername"]
    assert "secretKeyRef" in meta["caCert"]
    assert meta["disableTls"]["value"] == "false"
    assert "skipVerify" not in meta


def test_statestore(rendered):
    st = by_name(rendered, "Component", "statestore")
    assert st["spec"]["type"] == "state.postgresql"
    assert st["spec"]["version"] == "v2"
    assert "secretKeyRef" in items(st)["connectionString"]
    assert value(st, "tablePrefix")


def test_bindings(rendered):
    cron = by_name(rendered, "Component", "recurrence-sweep")
    assert cron["spec"]["type"] == "bindings.cron"
    assert value(cron, "schedule") == "@every 1m"
    assert value(cron, "direction") == "input"
    hook = by_name(rendered, "Component", "webhook")
    assert hook["spec"]["type"] == "bindings.http" and value(hook, "url").startswith("http")
    mail = by_name(rendered, "Component", "email")
    assert mail["spec"]["type"] == "bindings.smtp"
    for key in ("host", "port", "user", "password"):
        assert "secretKeyRef" in items(mail)[key], key
    store = by_name(rendered, "Component", "secretstore")
    assert store["spec"]["type"] == "secretstores.kubernetes"


def test_resiliency(rendered):
    (res,) = of_kind(rendered, "Resiliency")
    assert "targets" not in res, "targets belongs under spec"
    spec = res["spec"]
    retries = spec["policies"]["retries"]
    inbound = spec["targets"]["components"]["pubsub"]["inbound"]
    outbound = spec["targets"]["components"]["pubsub"]["outbound"]
    assert 0 <= retries[inbound["retry"]]["maxRetries"] <= 20, "bounded: the DLQ takes over after it"
    assert retries[inbound["retry"]]["policy"] == "exponential"
    assert "duration" not in retries[inbound["retry"]], "duration does nothing for exponential retries"
    for name, component in spec["targets"]["components"].items():
        assert "circuitBreaker" not in component.get("inbound", {}), \
            f"{name}: an open inbound breaker dead-letters healthy messages"
    assert outbound["circuitBreaker"] in spec["policies"]["circuitBreakers"]
    assert inbound["timeout"] in spec["policies"]["timeouts"]
    task = spec["targets"]["apps"]["task"]
    assert task["circuitBreaker"] in spec["policies"]["circuitBreakers"]
    assert task["retry"] in retries and task["timeout"] in spec["policies"]["timeouts"]
    assert validate_dapr.semantic_errors(res) == []


def test_configuration(rendered):
    (conf,) = of_kind(rendered, "Configuration")
    assert conf["metadata"]["name"] == f"{RELEASE}-dapr-config"
    tracing = conf["spec"]["tracing"]
    assert 0 < float(tracing["samplingRate"]) <= 1
    assert tracing["otel"]["endpointAddress"] and tracing["otel"]["protocol"] == "grpc"
    assert conf["spec"]["mtls"]["enabled"] is True
    assert conf["spec"]["metric"]["enabled"] is True


# -- the validator itself catches the classic mistakes -------------------------

BROKEN = {
    "top-level targets": """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies: {retries: {r: {policy: constant, maxRetries: 1}}}
  targets: {}
targets: {apps: {task: {retry: r}}}
""",
    "unknown policy": """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies: {retries: {r: {policy: constant, maxRetries: 1}}}
  targets: {apps: {task: {retry: nope}}}
""",
    "clear-text password": """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - {name: brokers, value: "k:9092"}
    - {name: authType, value: password}
    - {name: saslUsername, value: u}
    - {name: saslPassword, value: hunter2}
scopes: [task]
""",
    "lower-case mechanism": """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - {name: authType, value: password}
    - {name: saslMechanism, value: sha-512}
    - {name: saslUsername, value: u}
    - {name: saslPassword, secretKeyRef: {name: s, key: p}}
scopes: [task]
""",
    "unscoped component": """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec: {type: state.postgresql, version: v2, metadata: []}
""",
    "mtls without sentry": """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: c}
spec: {mtls: {enabled: true}}
""",
    "v2 subscription without routes": """
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec: {pubsubname: pubsub, topic: task-events}
scopes: [audit]
""",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validator_rejects(case):
    doc = yaml.safe_load(BROKEN[case])
    assert validate_dapr.validate_doc(doc), f"{case} was accepted"


def test_validator_accepts_a_declarative_subscription():
    doc = yaml.safe_load("""
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: audit-task-events}
spec:
  pubsubname: pubsub
  topic: task-events
  routes: {rules: [{match: 'event.type == "todo.task.completed.v1"', path: completed}], default: other}
  deadLetterTopic: task-events-dlq
scopes: [audit]
""")
    assert validate_dapr.validate_doc(doc) == []
