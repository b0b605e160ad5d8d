#!/usr/bin/env bash
# Runs a single-node Apache Kafka (KRaft: broker and controller in one
# process) on loopback, in the foreground, keeping its data in DIR:
#
#   scripts/stack/kafka.sh DIR [PORT] [CONTROLLER_PORT]     (defaults 9092, 9093)
#
# The first run formats DIR; later runs reuse it (topics and committed
# offsets survive a restart, as they would on a real broker). Topics are
# created on first use with 4 partitions, because Dapr never creates topics.
# The jars come from scripts/install-kafka.sh. Stop it with SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:?usage: kafka.sh DIR [PORT] [CONTROLLER_PORT]}
port=${2:-9092}
controller=${3:-9093}
libs="$root/.tools/kafka/libs"
[ -d "$libs" ] || "$root/scripts/install-kafka.sh"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

cat > "$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# A consumer group's first join is not held back 3 s for more members.
group.initial.rebalance.delay.ms=0
PROPERTIES

java=(java -Dlog4j.configuration="file:$root/tools/kafka/log4j.properties" -cp "$libs/*")
if [ ! -f "$dir/data/meta.properties" ]; then
  "${java[@]}" kafka.tools.StorageTool format --ignore-formatted -c "$dir/server.properties" \
    -t "$("${java[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null)" 2>/dev/null >/dev/null
fi
exec "${java[@]}" -Xms128m -Xmx512m -XX:+UseSerialGC kafka.Kafka "$dir/server.properties"
