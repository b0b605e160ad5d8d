"""Deployments, Services, probes, resources, securityContext, HPA/PDB, NetworkPolicy."""

from __future__ import annotations

import pytest

from manifests import APP_IDS, NAMESPACE, RELEASE, by_name, of_kind, render

APP_PORT = 50051


def deployments(docs):
    found = of_kind(docs, "Deployment")
    assert found, "no Deployment rendered"
    return found


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def test_every_object_is_namespaced_and_labelled(rendered):
    for doc in rendered:
        meta = doc["metadata"]
        assert meta.get("namespace") == NAMESPACE, f"{doc['kind']}/{meta['name']} has no namespace"
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_deployments_have_the_dapr_annotations(rendered):
    for dep in deployments(rendered):
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        name = dep["metadata"]["name"]
        assert ann["dapr.io/enabled"] == "true", name
        assert ann["dapr.io/app-id"] in APP_IDS, name
        assert ann["dapr.io/app-protocol"] == "grpc", name
        assert ann["dapr.io/app-port"] == str(APP_PORT), name
        assert ann["dapr.io/enable-app-health-check"] == "true", name
        assert ann["dapr.io/config"] == f"{RELEASE}-dapr-config", name
        for key in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
            assert ann.get(f"dapr.io/sidecar-{key}"), f"{name}: dapr.io/sidecar-{key} missing"
        # Every annotation value is a string (Kubernetes rejects anything else).
        assert all(isinstance(v, str) for v in ann.values()), name


def test_every_sidecar_sends_and_every_app_requires_the_same_app_token(rendered):
    # Dapr's injector reads key `token` of the annotated Secret into daprd's
    # APP_API_TOKEN; the app gets the same key of the same Secret.
    for dep in deployments(rendered):
        name = dep["metadata"]["name"]
        secret = dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-token-secret"]
        assert secret == "tasks-dapr-app-token", name
        (app,) = pod_spec(dep)["containers"]
        ref = env_of(app)["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret, "key": "token"}, name


def test_the_app_token_secret_is_a_value():
    docs = render("values.yaml", ["dapr.appTokenSecretRef.name=my-token"])
    for dep in deployments(docs):
        assert dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-token-secret"] == "my-token"
        (app,) = pod_spec(dep)["containers"]
        assert env_of(app)["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "my-token"


def test_app_id_matches_the_service_and_the_dapr_config_exists(rendered):
    configs = {c["metadata"]["name"] for c in of_kind(rendered, "Configuration")}
    for dep in deployments(rendered):
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        assert dep["metadata"]["name"] == f"{RELEASE}-{ann['dapr.io/app-id']}"
        assert ann["dapr.io/config"] in configs


def test_grpc_probes_on_the_app_port(rendered):
    for dep in deployments(rendered):
        for c in pod_spec(dep)["containers"]:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert c[probe]["grpc"]["port"] == APP_PORT, f"{dep['metadata']['name']}: {probe}"
            assert c["ports"][0] == {"name": "grpc", "containerPort": APP_PORT, "protocol": "TCP"}
            app = dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
            metrics = [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
            extra = [{"name": "ws", "containerPort": 8086, "protocol": "TCP"}] if app == "sync-gateway" else []
            assert c["ports"][1:] == metrics + extra, f"{app}: only the sync gateway has another listener (WebSocket)"


def test_extra_listener_gets_its_address_a_service_port_and_client_ingress(renders):
    dep = by_name(renders["production"], "Deployment", f"{RELEASE}-sync-gateway")
    env = env_of(pod_spec(dep)["containers"][0])
    assert env["SYNC_GRPC_ADDR"]["value"] == f"0.0.0.0:{APP_PORT}"
    assert env["SYNC_WS_ADDR"]["value"] == "0.0.0.0:8086"
    assert env["PUBSUB_NAME"]["value"] == "pubsub-sync", "every replica must see every event"
    svc = by_name(renders["production"], "Service", f"{RELEASE}-sync-gateway")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"grpc": APP_PORT, "ws": 8086}
    np = by_name(renders["production"], "NetworkPolicy", f"{RELEASE}-sync-gateway")
    ws_rules = [r for r in np["spec"]["ingress"] if any(p["port"] == 8086 for p in r.get("ports", []))]
    assert ws_rules and all(t.get("namespaceSelector") for r in ws_rules for t in r["from"]), \
        "the WebSocket port is open to the client namespaces only"


def test_task_readiness_asks_for_the_task_service(renders):
    dep = by_name(renders["production"], "Deployment", f"{RELEASE}-task")
    probe = pod_spec(dep)["containers"][0]["readinessProbe"]["grpc"]
    assert probe["service"] == "todo.task.v1.TaskService"


def test_resources_requests_and_limits_everywhere(rendered):
    workloads = deployments(rendered) + of_kind(rendered, "Job")
    for w in workloads:
        for c in pod_spec(w)["containers"]:
            res = c["resources"]
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    assert res[kind][r], f"{w['metadata']['name']}/{c['name']}: {kind}.{r}"


def test_locked_down_security_context(rendered):
    token_apps = set(by_name(rendered, "Component", "secretstore")["scopes"])
    for w in deployments(rendered) + of_kind(rendered, "Job"):
        spec = pod_spec(w)
        name = w["metadata"]["name"]
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["runAsUser"] == 65532, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        app = w["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/app-id")
        # Only apps that read secrets through the Dapr secret store get a token.
        assert spec["automountServiceAccountToken"] is (app in token_apps), name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["runAsUser"] == 65532, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name


def test_service_env_contract(rendered):
    for dep in deployments(rendered):
        c = pod_spec(dep)["containers"][0]
        env = env_of(c)
        assert env["LOG_FORMAT"]["value"] == "json"
        assert env["RUST_LOG"]["value"]
        assert int(env["SHUTDOWN_GRACE_SECONDS"]["value"]) > 0
        if dep["metadata"]["name"] == f"{RELEASE}-task":
            assert env["TASK_GRPC_ADDR"]["value"] == f"0.0.0.0:{APP_PORT}"
            assert env["DATABASE_AUTO_MIGRATE"]["value"] == "false"
            assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert env["PAGE_TOKEN_SECRET"]["valueFrom"]["secretKeyRef"]
            assert "AUTH_JWKS_URL" in env or "AUTH_HS256_SECRET" in env


def test_production_auth_uses_jwks_and_kind_uses_hs256_from_a_secret(renders):
    prod = env_of(pod_spec(by_name(renders["production"], "Deployment", f"{RELEASE}-task"))["containers"][0])
    assert prod["AUTH_JWKS_URL"]["value"].startswith("https://")
    assert prod["AUTH_ISSUER"]["value"] and prod["AUTH_AUDIENCE"]["value"]
    assert "AUTH_HS256_SECRET" not in prod
    assert prod["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"]
    kind = env_of(pod_spec(by_name(renders["kind"], "Deployment", f"{RELEASE}-task"))["containers"][0])
    assert kind["AUTH_HS256_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "tasks-auth", "key": "hs256-secret"}


def test_every_service_is_deployed_and_a_disabled_one_is_not(renders):
    for name in ("default", "kind", "production", "all-services"):
        every = {d["metadata"]["name"] for d in of_kind(renders[name], "Deployment")}
        assert every == {f"{RELEASE}-{a}" for a in APP_IDS}, name
    docs = render("values-kind.yaml", ["services.audit.enabled=false"])
    assert f"{RELEASE}-audit" not in {d["metadata"]["name"] for d in docs if d["kind"] != "Component"}
    assert len(of_kind(docs, "Deployment")) == len(APP_IDS) - 1


def test_one_service_account_and_service_per_deployment(rendered):
    sas = {s["metadata"]["name"] for s in of_kind(rendered, "ServiceAccount")}
    for dep in deployments(rendered):
        name = dep["metadata"]["name"]
        assert pod_spec(dep)["serviceAccountName"] == name
        assert name in sas
        svc = by_name(rendered, "Service", name)
        assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert svc["spec"]["ports"][0]["port"] == APP_PORT


def test_kind_runs_one_replica_of_dev_images(renders):
    dep = by_name(renders["kind"], "Deployment", f"{RELEASE}-task")
    assert dep["spec"]["replicas"] == 1
    c = pod_spec(dep)["containers"][0]
    assert c["image"] == "tasks/task:dev"
    assert c["imagePullPolicy"] == "IfNotPresent"
    job = by_name(renders["kind"], "Job", f"{RELEASE}-migrate")
    assert pod_spec(job)["containers"][0]["image"] == "tasks/migrate:dev"
    assert not of_kind(renders["kind"], "HorizontalPodAutoscaler")
    assert not of_kind(renders["kind"], "PodDisruptionBudget")


def test_production_autoscales_and_has_disruption_budgets(renders):
    prod = renders["production"]
    dep = by_name(prod, "Deployment", f"{RELEASE}-task")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    hpa = by_name(prod, "HorizontalPodAutoscaler", f"{RELEASE}-task")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{RELEASE}-task"}
    pdb = by_name(prod, "PodDisruptionBudget", f"{RELEASE}-task")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert pod_spec(dep)["topologySpreadConstraints"]


def test_network_policy_per_service(rendered):
    for dep in deployments(rendered):
        name = dep["metadata"]["name"]
        np = by_name(rendered, "NetworkPolicy", name)
        assert np["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        ingress_ports = {p["port"] for rule in np["spec"]["ingress"] for p in rule.get("ports", [])}
        assert {APP_PORT, 50002, 3501} <= ingress_ports
        egress = np["spec"]["egress"]
        assert any(p["port"] == 53 and p["protocol"] == "UDP" for r in egress for p in r["ports"]), "DNS"
        dapr_ports = {p["port"] for r in egress for p in r["ports"]}
        assert {50001, 6500, 50005, 50006} <= dapr_ports, "Dapr control plane"


def test_network_policy_reaches_postgres_and_kafka(renders):
    kind = by_name(renders["kind"], "NetworkPolicy", f"{RELEASE}-task")
    peers = {(tuple(sorted(t.get("namespaceSelector", {}).get("matchLabels", {}).values())), p["port"])
             for r in kind["spec"]["egress"] for t in r.get("to", []) for p in r["ports"]}
    assert (("postgres",), 5432) in peers
    assert (("redpanda",), 9093) in peers
    prod = by_name(renders["production"], "NetworkPolicy", f"{RELEASE}-task")
    cidr_ports = {(t["ipBlock"]["cidr"], p["port"]) for r in prod["spec"]["egress"] for t in r.get("to", [])
                  if "ipBlock" in t for p in r["ports"]}
    assert ("10.20.0.0/24", 5432) in cidr_ports
    assert ("10.30.0.0/24", 9093) in cidr_ports
    clients = [t for r in prod["spec"]["ingress"] for t in r.get("from", [])
               if t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "ingress-nginx"]
    assert clients, "public API reachable from the client namespace"


@pytest.mark.parametrize("render_name", ["default", "kind", "production"])
def test_secret_store_apps_get_a_token_and_a_narrow_role(renders, render_name):
    docs = renders[render_name]
    for dep in of_kind(docs, "Deployment"):
        app = dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
        spec = pod_spec(dep)
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        if app == "notification":
            assert spec["automountServiceAccountToken"] is True
            assert "dapr.io/disable-builtin-k8s-secret-store" not in ann
        else:
            assert spec["automountServiceAccountToken"] is False
            assert ann["dapr.io/disable-builtin-k8s-secret-store"] == "true"
    roles = of_kind(docs, "Role")
    assert [r["metadata"]["name"] for r in roles] == [f"{RELEASE}-notification-secret-reader"]
    rule = roles[0]["rules"][0]
    assert rule["verbs"] == ["get"] and rule["resources"] == ["secrets"] and rule["resourceNames"]
    binding = by_name(docs, "RoleBinding", f"{RELEASE}-notification-secret-reader")
    assert binding["subjects"][0]["name"] == f"{RELEASE}-notification"


def test_no_rbac_unless_needed(renders):
    # Only the notification app reads secrets (SMTP) through the secret store.
    docs = render("values-kind.yaml", ["services.notification.enabled=false"])
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not of_kind(docs, kind), kind
    for name in ("default", "kind", "production"):
        assert not of_kind(renders[name], "ClusterRole") and not of_kind(renders[name], "ClusterRoleBinding")
