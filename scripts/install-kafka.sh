#!/usr/bin/env bash
# Fetches Apache Kafka (the broker and its runtime jars) from Maven Central,
# idempotently, with the pom in tools/kafka, into a cache outside the clone
# ($TASKS_CACHE, default ~/.cache/tasks-platform; Maven keeps its own
# repository in ~/.m2), and links it as .tools/kafka/libs. Needs Java 17+ and
# Maven. scripts/stack/kafka.sh runs the broker.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/timing.sh"

cache=${TASKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tasks-platform}
key=$(sha256sum "$root/tools/kafka/pom.xml" | cut -c1-16)
out="$cache/kafka-$key"

fetch() {
  [ -f "$out/.complete" ] && return 0
  command -v mvn >/dev/null || { echo "install-kafka: Maven (mvn) is needed" >&2; exit 1; }
  rm -rf "$out" && mkdir -p "$out"
  mvn -B -q -Dstyle.color=never -f "$root/tools/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$out/libs" | sed 's/\x1b\[[0-9;]*m//g' >&2
  touch "$out/.complete"
}

version=$(grep -A1 '<artifactId>kafka_2.13</artifactId>' "$root/tools/kafka/pom.xml" | sed -n 's:.*<version>\(.*\)</version>.*:\1:p')
timed "Kafka $version" fetch
mkdir -p "$root/.tools/kafka"
ln -sfn "$out/libs" "$root/.tools/kafka/libs"
