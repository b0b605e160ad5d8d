#!/usr/bin/env bash
# Offline checks of the monitoring the chart ships (part of `make test`):
#   1. promtool check rules on the alerts (helm/tasks/monitoring/alerts.yaml);
#   2. promtool test rules: each alert firing and not firing
#      (tests/monitoring/alerts_test.yaml);
#   3. every query of every dashboard (helm/tasks/monitoring/dashboards/*.json)
#      parses: they are written into a rule file as recording rules, which
#      promtool checks.
# promtool comes with Debian's prometheus package (installed when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-tools.sh" prometheus
cd "$root"
promtool check rules helm/tasks/monitoring/alerts.yaml
(cd tests/monitoring && promtool test rules alerts_test.yaml)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/dashboards.rules.yaml" helm/tasks/monitoring/dashboards/*.json <<'PY'
import json, sys
out, boards = sys.argv[1], sys.argv[2:]
rules, count = [], 0
for path in boards:
    board = json.load(open(path))
    assert board.get("uid") and board.get("title"), f"{path}: a dashboard needs a uid and a title"
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            count += 1
            rules.append({"record": f"dashboard:query_{count}", "expr": target["expr"]})
json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, open(out, "w"))
print(f"{count} dashboard queries from {len(boards)} dashboards", file=sys.stderr)
PY
promtool check rules "$work/dashboards.rules.yaml"
