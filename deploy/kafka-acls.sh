#!/usr/bin/env bash
# The casework principals and their ACLs on an Apache Kafka cluster with an authorizer
# (README "Bus authentication"). Idempotent: run it again after adding a service.
#
#   BOOTSTRAP=kafka-1:9092 ADMIN_CONFIG=admin.properties PASSWORDS_DIR=secrets \
#     deploy/kafka-acls.sh
#
# BOOTSTRAP      a listener this script may administer through (a super user's)
# ADMIN_CONFIG   optional client properties for that listener (SASL/TLS of the admin)
# PASSWORDS_DIR  kafka-<principal>.password files, one per principal
#                (`python -m deploy.credentials DIR` writes any that are missing);
#                unset: the users are not (re)created, only the ACLs are added
# KAFKA_BIN      where kafka-acls.sh and kafka-configs.sh are (default /opt/kafka/bin)
#
# One SCRAM-SHA-512 user per service plus `ops` (the topics job and the monitor CLI).
# Each service writes only its own topic officeactions.<service> and its dead-letter
# topic officeactions.<service>.dlq, reads the topics it consumes in its own consumer
# group casework-<service>, and may describe (not create) the other casework topics,
# which it checks at start-up. The monitor reads everything. Topics are created by the
# topics job (ops) before any service starts.
# notify also writes the public-level events on officeactions.public. The public portal
# (transparency, a read model facing the internet) publishes nothing: it reads only
# officeactions.public and writes only its dead-letter topic officeactions.transparency.dlq.
set -euo pipefail

KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
BOOTSTRAP=${BOOTSTRAP:?set BOOTSTRAP to a listener a super user can administer through}
ADMIN=(--bootstrap-server "$BOOTSTRAP")
if [[ -n "${ADMIN_CONFIG:-}" ]]; then
  ADMIN+=(--command-config "$ADMIN_CONFIG")
fi
NS=officeactions
SERVICES=(intake review enforcement notify monitor)
READ_MODELS=(transparency)

user() {  # user NAME: its SCRAM-SHA-512 credential from $PASSWORDS_DIR/kafka-NAME.password
  local password
  password=$(tr -d '\n' <"$PASSWORDS_DIR/kafka-$1.password")
  "$KAFKA_BIN/kafka-configs.sh" "${ADMIN[@]}" --alter --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$password]"
}

acl() {
  "$KAFKA_BIN/kafka-acls.sh" "${ADMIN[@]}" --add --force "$@"
}

if [[ -n "${PASSWORDS_DIR:-}" ]]; then
  for principal in "${SERVICES[@]}" "${READ_MODELS[@]}" ops; do
    user "$principal"
  done
fi

# Every principal may see which casework topics exist (Describe, never Create).
for principal in "${SERVICES[@]}" "${READ_MODELS[@]}" ops; do
  acl --allow-principal "User:$principal" --operation Describe \
    --topic "$NS." --resource-pattern-type prefixed
done

# Each service writes its own topic and its own dead-letter topic, nothing else. It also
# reads back the last record it published there (the bus watch: a record gone means the
# cluster lost data, and the service replays its kept outbox history) and may create
# those two topics again after such a loss.
for service in "${SERVICES[@]}"; do
  acl --allow-principal "User:$service" --operation Write --operation Read \
    --operation Create --topic "$NS.$service" --topic "$NS.$service.dlq"
done
# notify: the public-level events (casework.contract.public), on a topic of their own.
acl --allow-principal User:notify --operation Write --operation Read \
  --operation Create --topic "$NS.public"
# transparency, a read model, publishes nothing: it writes only its dead-letter topic (what
# it could not decode or handle) and reads it back like the others (the bus watch).
acl --allow-principal User:transparency --operation Write --operation Read \
  --operation Create --topic "$NS.transparency.dlq"

# intake: review's reports of where each requester's case stands (the tracking page).
acl --allow-principal User:intake --operation Read \
  --topic "$NS.review" --group casework-intake
# review: intake's requests, enforcement's results, notify's deliveries (where each case
# really is), its own events (the deadline clock).
acl --allow-principal User:review --operation Read \
  --topic "$NS.intake" --topic "$NS.enforcement" --topic "$NS.notify" --topic "$NS.review" \
  --group casework-review
# enforcement: review's decisions.
acl --allow-principal User:enforcement --operation Read \
  --topic "$NS.review" --group casework-enforcement
# notify: everything the requester or the public is told about.
acl --allow-principal User:notify --operation Read \
  --topic "$NS.intake" --topic "$NS.review" --topic "$NS.enforcement" --topic "$NS.monitor" \
  --group casework-notify
# transparency: the public-level events, and nothing else (it faces the internet).
acl --allow-principal User:transparency --operation Read \
  --topic "$NS.public" --group casework-transparency

# monitor: every topic and dead-letter topic; its faust app (id = group id
# casework-monitor, or casework-monitor-rebuild-<random> per start) owns its group and
# internal topics (the changelog casework-monitor-monitor-records-changelog); the lag
# view reads every casework group's committed offsets.
acl --allow-principal User:monitor --operation Read \
  --topic "$NS." --resource-pattern-type prefixed
acl --allow-principal User:monitor --operation All \
  --topic casework-monitor --group casework-monitor --resource-pattern-type prefixed
acl --allow-principal User:monitor --operation Describe \
  --group casework- --resource-pattern-type prefixed

# ops: the topics job creates every topic; the monitor CLI reads every topic, replays
# dead letters onto the topic they came from, records each replay on officeactions.monitor
# and shows every group's lag.
acl --allow-principal User:ops \
  --operation Create --operation Read --operation Write --operation DescribeConfigs \
  --topic "$NS." --resource-pattern-type prefixed
acl --allow-principal User:ops --operation Describe \
  --group casework- --resource-pattern-type prefixed
