"""Validates Dapr resources (Component, Resiliency, Configuration, Subscription).

    python validate_dapr.py FILE...

Each YAML document whose apiVersion is dapr.io/* is checked against the JSON
schema of its kind in schemas/ (modelled on the Dapr CRDs, a little stricter:
scopes are mandatory, metadata items carry exactly one of value/secretKeyRef),
and then against rules the CRDs cannot express:
  - every policy a Resiliency target names exists;
  - secret-looking Component metadata (password, token, connection string,
    certificates and keys) is a secretKeyRef, never a value;
  - pubsub.kafka: authType set and known; saslMechanism exactly SHA-256/SHA-512.
Documents of other API groups are ignored. Exits 1 on any finding.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
KINDS = {
    "Component": "component.schema.json",
    "Resiliency": "resiliency.schema.json",
    "Configuration": "configuration.schema.json",
    "Subscription": "subscription.schema.json",
}
SECRET_ITEM = re.compile(r"(?i)(password|secret|token|connectionstring|privatekey|clientkey|clientcert|cacert|accesskey)")
# Items whose names look secret but hold none: a path to a secrets file, and
# an SQLite file's name (no credentials; components/selfhosted).
NOT_SECRET = {("secretstores.local.file", "secretsFile"), ("state.sqlite", "connectionString")}
KAFKA_AUTH_TYPES = {"none", "password", "mtls", "oidc", "oidc_private_key_jwt", "awsiam", "certificate"}

_validators: dict[str, jsonschema.Draft7Validator] = {}


def validator(kind: str) -> jsonschema.Draft7Validator:
    if kind not in _validators:
        schema = json.loads((SCHEMAS / KINDS[kind]).read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        _validators[kind] = jsonschema.Draft7Validator(schema)
    return _validators[kind]


def semantic_errors(doc: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Component":
        items = spec.get("metadata") or []
        names = [i.get("name") for i in items]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            errors.append(f"metadata item {dup!r} appears more than once")
        for item in items:
            name = str(item.get("name", ""))
            if (spec.get("type"), name) in NOT_SECRET:
                continue
            if SECRET_ITEM.search(name) and not name.endswith("Header") and "value" in item:
                errors.append(f"metadata item {item['name']!r} holds a clear-text value; use secretKeyRef")
        if spec.get("type") == "pubsub.kafka":
            meta = {i.get("name"): i for i in items}
            auth = meta.get("authType", {}).get("value")
            if auth not in KAFKA_AUTH_TYPES:
                errors.append(f"pubsub.kafka needs authType in {sorted(KAFKA_AUTH_TYPES)}, got {auth!r}")
            mech = meta.get("saslMechanism", {}).get("value")
            if mech is not None and mech not in ("SHA-256", "SHA-512"):
                errors.append(f"saslMechanism {mech!r} is not SHA-256/SHA-512 (exact case), Dapr would use PLAIN")
            if auth == "password" and ("saslUsername" not in meta or "saslPassword" not in meta):
                errors.append("authType password needs saslUsername and saslPassword")
    if kind == "Resiliency":
        policies = spec.get("policies") or {}
        known = {
            "timeout": set((policies.get("timeouts") or {}).keys()),
            "retry": set((policies.get("retries") or {}).keys()),
            "circuitBreaker": set((policies.get("circuitBreakers") or {}).keys()),
        }
        targets = spec.get("targets") or {}
        refs: list[tuple[str, dict]] = []
        for group in ("apps", "actors"):
            for name, target in (targets.get(group) or {}).items():
                refs.append((f"{group}.{name}", target or {}))
        for name, comp in (targets.get("components") or {}).items():
            for direction in ("inbound", "outbound"):
                if direction in (comp or {}):
                    refs.append((f"components.{name}.{direction}", comp[direction] or {}))
        for where, target in refs:
            for field, names in known.items():
                if field in target and target[field] not in names:
                    errors.append(f"targets.{where}.{field} names unknown policy {target[field]!r}")
    return errors


def validate_doc(doc: dict[str, Any]) -> list[str]:
    kind = doc.get("kind")
    if kind not in KINDS:
        return [f"unknown Dapr kind {kind!r}"]
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator(kind).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    return errors + semantic_errors(doc)


def validate_files(paths: list[Path]) -> tuple[int, list[str]]:
    count, problems = 0, []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or not str(doc.get("apiVersion", "")).startswith("dapr.io/"):
                continue
            count += 1
            name = f"{path} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            problems += [f"{name}: {e}" for e in validate_doc(doc)]
    return count, problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    count, problems = validate_files([Path(a) for a in argv])
    for p in problems:
        print(f"INVALID {p}", file=sys.stderr)
    if count == 0:
        print("no Dapr resources found", file=sys.stderr)
        return 1
    print(f"dapr: {count} resources checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
