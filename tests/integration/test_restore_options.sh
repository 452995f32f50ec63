#!/usr/bin/env bash
# restore options beyond the basics: --create-topics with archived configs
# (min.insync.replicas lowered to the replication factor, LogAppendTime kept,
# retention warning), --origin-headers, --rate-bytes.
source "$(dirname "$0")/lib.sh"

B=$((($(date +%s) - 60) * 1000))
T="opts-$RUN_ID"
create_topic "$T" 2 --config min.insync.replicas=2 --config message.timestamp.type=LogAppendTime \
    --config retention.ms=3600000
printf '0\t%s\tk1\tv1\n1\t%s\tk2\tv2\n' "$B" $((B + 1)) >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
# an old record too: older than the target's retention.ms
printf '0\t%s\tk0\tancient\n' $((B - 7200 * 1000)) >"$WORK/spec-old"
A="$WORK/archive"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump"

# -- --create-topics: configs from the archive, min.insync lowered --------------------
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=new-$T" --create-topics --origin-headers -q \
    2>"$WORK/create.err" || fail "restore: $(cat "$WORK/create.err")"
grep -q "min.insync.replicas 2 lowered to 1" "$WORK/create.err" || fail "no min.insync warning: $(cat "$WORK/create.err")"
grep -q "LogAppendTime" "$WORK/create.err" || fail "no LogAppendTime note"
kcli kafka-configs --bootstrap-server "$BS" --describe --entity-type topics --entity-name "new-$T" >"$WORK/cfg" 2>/dev/null
grep -q "min.insync.replicas=1" "$WORK/cfg" || fail "created topic configs: $(cat "$WORK/cfg")"
grep -q "message.timestamp.type=LogAppendTime" "$WORK/cfg" || fail "LogAppendTime not kept: $(cat "$WORK/cfg")"
grep -q "retention.ms=3600000" "$WORK/cfg" || fail "retention.ms not kept"
kcat -b "$BS" -L -t "new-$T" 2>/dev/null | grep -q "new-$T\" with 2 partitions" || fail "partition count"
pass "--create-topics: archived configs, min.insync.replicas lowered to the replication factor, LogAppendTime kept"

# -- --origin-headers name the source record ---------------------------------------------
kcat -b "$BS" -C -t "new-$T" -p 0 -e -f '%h\n' 2>/dev/null >"$WORK/hdrs"
grep -q "ktape.source.topic=$T,ktape.source.partition=0,ktape.source.offset=0" "$WORK/hdrs" ||
    fail "origin headers: $(cat "$WORK/hdrs")"
pass "--origin-headers"

# -- a record older than the target's retention: warned about --------------------------------
O="old-$RUN_ID"
create_topic "$O" 1
produce_spec "$O" "$WORK/spec-old" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/a-old" -t "$O" -q || fail "dump old"
create_topic "short-$O" 1 --config retention.ms=3600000
"$KTAPE" restore -b "$BS" -a "$WORK/a-old" -t "$O" --map "$O=short-$O" -q 2>"$WORK/ret.err" || fail "restore old"
grep -q "retention.ms=3600000" "$WORK/ret.err" || fail "no retention warning: $(cat "$WORK/ret.err")"
pass "records older than the target's retention are warned about"

# -- --rate-bytes ------------------------------------------------------------------------------
R="bytes-$RUN_ID"
create_topic "$R" 1
kcli kafka-producer-perf-test --topic "$R" --num-records 3000 --record-size 1000 --throughput -1 \
    --producer-props bootstrap.servers="$BS" >/dev/null 2>&1 || fail "perf-test"
"$KTAPE" dump -b "$BS" -a "$WORK/a-bytes" -t "$R" -q || fail "dump bytes"
create_topic "rb-$R" 1 --config message.timestamp.type=LogAppendTime
"$KTAPE" restore -b "$BS" -a "$WORK/a-bytes" -t "$R" --map "$R=rb-$R" --rate-bytes 500K -q || fail "rate-bytes restore"
kcat -b "$BS" -C -t "rb-$R" -e -f '%T\n' 2>/dev/null >"$WORK/times"
python3 - "$WORK/times" <<'PY' || fail "--rate-bytes not kept"
import sys
ts = sorted(int(x) for x in open(sys.argv[1]) if x.strip())
span = (ts[-1] - ts[0]) / 1000.0
rate = (len(ts) - 1) * 1000 / span  # bytes/s: every value is 1000 bytes, no key
print("rate-bytes: %d records of 1000 bytes in %.2f s = %.0f B/s (target %d)" % (len(ts), span, rate, 500 * 1024))
assert abs(rate - 512000) / 512000 < 0.05
PY
pass "--rate-bytes 500K within 5%"
