#!/usr/bin/env bash
# The test broker is real: kcat and Kafka's own CLI tools reach it, and a
# topic created with kafka-topics shows up in kcat's metadata.
source "$(dirname "$0")/lib.sh"

kcat -b "$BS" -L -m 10 >"$WORK/meta" || fail "kcat cannot reach $BS"
grep -q "1 brokers" "$WORK/meta" || fail "kcat does not list one broker: $(cat "$WORK/meta")"
t="it-broker-$RUN_ID"
kcli kafka-topics --bootstrap-server "$BS" --create --topic "$t" --partitions 3 --replication-factor 1 >/dev/null
kcat -b "$BS" -L -t "$t" -m 10 | grep -q "topic \"$t\" with 3 partitions" || fail "topic $t not visible"
"$KTAPE" --version | grep -q '^ktape ' || fail "ktape --version"
pass "broker $BS answers kcat and kafka-topics"
