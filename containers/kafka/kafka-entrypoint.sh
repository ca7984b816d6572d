#!/usr/bin/env bash
# One Kafka node in KRaft mode, configured like the apache/kafka image: every KAFKA_* variable
# becomes a server property (KAFKA_LOG_DIRS -> log.dirs; "__" -> "_", "___" -> "-"), with the
# same defaults for a single broker+controller. The storage is formatted on first start with
# CLUSTER_ID (random when unset), against the static quorum (controller.quorum.voters) or,
# when only KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS is given, as a --standalone controller.
set -euo pipefail

config=/opt/kafka/config/server.properties

if [ -z "${KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS:-}" ]; then
  : "${KAFKA_CONTROLLER_QUORUM_VOTERS:=1@localhost:29093}"
  export KAFKA_CONTROLLER_QUORUM_VOTERS
fi
# shellcheck disable=SC2054 # the commas are inside values
declare -A defaults=(
  [KAFKA_NODE_ID]=1
  [KAFKA_PROCESS_ROLES]=broker,controller
  [KAFKA_LISTENERS]=PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:9092
  [KAFKA_ADVERTISED_LISTENERS]=PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:9092
  [KAFKA_LISTENER_SECURITY_PROTOCOL_MAP]=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT
  [KAFKA_INTER_BROKER_LISTENER_NAME]=PLAINTEXT
  [KAFKA_CONTROLLER_LISTENER_NAMES]=CONTROLLER
  [KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR]=1
  [KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR]=1
  [KAFKA_TRANSACTION_STATE_LOG_MIN_ISR]=1
  [KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS]=0
  [KAFKA_LOG_DIRS]=/tmp/kraft-combined-logs
)
for name in "${!defaults[@]}"; do
  if [ -z "${!name:-}" ]; then export "$name=${defaults[$name]}"; fi
done

# Variables that configure the JVM or the scripts, not the broker.
declare -A not_properties=()
for name in KAFKA_VERSION KAFKA_HOME KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_GC_LOG_OPTS \
  KAFKA_LOG4J_OPTS KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS KAFKA_JMX_OPTS KAFKA_JMX_PORT KAFKA_JMX_HOSTNAME \
  KAFKA_TOOLS_LOG4J_LOGLEVEL KAFKA_TOOLS_HEAP_OPTS KAFKA_TOOLS_LOG4J2; do
  not_properties[$name]=1
done
: >"$config"
while IFS= read -r name; do
  [ -n "${not_properties[$name]:-}" ] && continue
  key=${name#KAFKA_}
  key=${key,,}
  key=${key//___/-}
  key=${key//__/$'\x01'}
  key=${key//_/.}
  key=${key//$'\x01'/_}
  printf '%s=%s\n' "$key" "${!name}" >>"$config"
done < <(compgen -e | grep '^KAFKA_' | sort)

standalone=()
if [ -z "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ] && [[ $KAFKA_PROCESS_ROLES == *controller* ]]; then
  standalone=(--standalone)
fi
cluster_id=${CLUSTER_ID:-$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}
echo "===> formatting ${KAFKA_LOG_DIRS} (cluster id ${cluster_id}) unless already formatted"
kafka-storage.sh format --cluster-id "$cluster_id" --config "$config" --ignore-formatted "${standalone[@]}"

echo "===> starting Kafka ${KAFKA_VERSION:-}"
# shellcheck disable=SC2086 # option lists, as in kafka-server-start.sh
exec java ${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
  ${KAFKA_OPTS:-} "-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties" \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
