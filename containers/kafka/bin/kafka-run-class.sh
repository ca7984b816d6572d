#!/usr/bin/env bash
# Runs one of Kafka's main classes on the image's jars (as the distribution's script does).
set -euo pipefail
class=$1; shift
# shellcheck disable=SC2086 # option lists
exec java ${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  "-Dlog4j2.configurationFile=${KAFKA_TOOLS_LOG4J2:-/opt/kafka/config/tools-log4j2.properties}" \
  -cp '/opt/kafka/libs/*' "$class" "$@"
