#!/usr/bin/env bash
# dump at the edges: 10 MB records, 300 partitions in bounded memory, the
# metrics file, a compacted topic, real retention, a broker that goes away.
source "$(dirname "$0")/lib.sh"

# the second broker of the last case starts meanwhile (its JVM takes
# seconds); it is stopped whatever happens
B2_HOME="$WORK/broker2"
KTAPE_KAFKA_HOME=$B2_HOME "$KL" start >"$WORK/b2-start.out" 2>"$WORK/b2-start.err" &
b2_pid=$!
stop_b2() {
    wait "$b2_pid" 2>/dev/null || true
    KTAPE_KAFKA_HOME=$B2_HOME "$KL" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap stop_b2 EXIT

B=$((($(date +%s) - 60) * 1000))

# -- a 10 MB record ------------------------------------------------------------
L="big-$RUN_ID"
create_topic "$L" 1 --config max.message.bytes=12000000
printf '0\t%s\tsmall\tbefore\n#big 10485760 %s\n0\t%s\tsmall\tafter\n' "$B" $((B + 1)) $((B + 2)) >"$WORK/spec-big"
produce_spec "$L" "$WORK/spec-big" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/a-big" -t "$L" -q || fail "dump of a 10 MB record"
assert_eq "6 10485760 5" "$("$KTAPE" cat -a "$WORK/a-big" -t "$L" --format '%S ' | sed 's/ $//')" "value lengths"
"$KTAPE" verify -a "$WORK/a-big" >/dev/null || fail "verify of the big archive"
pass "a 10 MB record"

# -- 300 partitions, bounded memory, metrics file --------------------------------
W="wide-$RUN_ID"
create_topic "$W" 300
kcli kafka-producer-perf-test --topic "$W" --num-records 300000 --record-size 400 --throughput -1 \
    --producer-props bootstrap.servers="$BS" acks=1 linger.ms=50 batch.size=1000000 >/dev/null 2>&1 || fail "perf-test"
/usr/bin/time -f '%M' -o "$WORK/rss" "$KTAPE" dump -b "$BS" -a "$WORK/a-wide" -t "$W" -q \
    --metrics-file "$WORK/ktape.prom" || fail "dump of 300 partitions"
rss_kb=$(tail -n1 "$WORK/rss")
echo "peak RSS dumping 300 partitions: $((rss_kb / 1024)) MiB"
((rss_kb < 256 * 1024)) || fail "peak RSS $((rss_kb / 1024)) MiB is not under 256 MiB"
assert_eq 300000 "$(sql "$WORK/a-wide" "select sum(records) from segments")" "records"
assert_eq 300 "$(sql "$WORK/a-wide" "select count(*) from partition_runs where done_end = high_watermark")" "partitions read to their end"
grep -q '^ktape_dump_records 300000$' "$WORK/ktape.prom" || fail "metrics: $(cat "$WORK/ktape.prom")"
grep -q '^ktape_dump_exit_code 0$' "$WORK/ktape.prom" || fail "metrics exit code"
grep -Eq '^ktape_dump_last_success_timestamp_seconds [0-9]{10}' "$WORK/ktape.prom" || fail "metrics success time"
pass "300 partitions in $((rss_kb / 1024)) MiB, metrics file written"

# -- a compacted topic: offset gaps are not archive gaps --------------------------
C="compacted-$RUN_ID"
create_topic "$C" 1 --config cleanup.policy=compact --config segment.ms=100 --config min.cleanable.dirty.ratio=0.001 \
    --config delete.retention.ms=0 --config min.compaction.lag.ms=0
for round in 1 2 3; do
    for k in $(seq 1 10); do printf '0\t%s\tkey-%d\tround-%d\n' $((B + round * 100 + k)) "$k" "$round"; done
done >"$WORK/spec-compact"
produce_spec "$C" "$WORK/spec-compact" --plain
# records after a pause roll the segment, so the first one can be cleaned
sleep 1
printf '0\t%s\tkey-99\troll\n' $((B + 1000)) >"$WORK/spec-roll"
produce_spec "$C" "$WORK/spec-roll" --plain
for _ in $(seq 60); do
    n=$(kcat -b "$BS" -C -t "$C" -e -f 'x\n' 2>/dev/null | wc -l)
    ((n < 31)) && break
    sleep 1
done
((n < 31)) || fail "the broker did not compact $C within 60 s"
"$KTAPE" dump -b "$BS" -a "$WORK/a-compact" -t "$C" -q || fail "dump of a compacted topic"
assert_eq "$n" "$(sql "$WORK/a-compact" "select sum(records) from segments")" "records after compaction"
"$KTAPE" ls -a "$WORK/a-compact" --json >"$WORK/compact.json" || fail "ls"
python3 - "$WORK/compact.json" <<'PY' || fail "compaction gaps shown as archive gaps"
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
assert t["gaps"] == 0 and t["gap_offsets"] == 0, t
assert all(v == 0 for k, v in t.items() if k.startswith("lost")), t
PY
pass "compacted topic: $n of 31 records left, offsets with gaps, no archive gap"

# -- real retention deletes data between two dumps: exit 4 -------------------------------
# Records 10 minutes old, kept at first (retention.ms 1 day); after the first
# dump two more arrive, then retention drops to 100 s: the broker deletes every
# closed segment, the two undumped records with them.
R="retention-$RUN_ID"
create_topic "$R" 1 --config retention.ms=86400000 --config segment.ms=100
old=$((($(date +%s) - 600) * 1000))
printf '0\t%s\tk\tfirst\n' "$old" >"$WORK/spec-r1"
produce_spec "$R" "$WORK/spec-r1" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/a-ret" -t "$R" -q || fail "first dump"
sleep 0.5
printf '0\t%s\tk\told-1\n0\t%s\tk\told-2\n' $((old + 1)) $((old + 2)) >"$WORK/spec-r2"
produce_spec "$R" "$WORK/spec-r2" --plain
sleep 0.5
printf '0\t%s\tk\tnew\n' "$(date +%s%3N)" >"$WORK/spec-r3"
produce_spec "$R" "$WORK/spec-r3" --plain
kcli kafka-configs --bootstrap-server "$BS" --alter --entity-type topics --entity-name "$R" \
    --add-config retention.ms=100000 >/dev/null 2>&1 || fail "kafka-configs"
for _ in $(seq 60); do
    low=$(kcat -b "$BS" -Q -t "$R:0:-2" 2>/dev/null | awk '{print $NF}')
    [[ ${low:-0} -ge 3 ]] && break
    sleep 1
done
[[ ${low:-0} -ge 3 ]] || fail "retention did not delete the old records within 60 s (log start ${low:-?})"
rc=0
"$KTAPE" dump -b "$BS" -a "$WORK/a-ret" -t "$R" 2>"$WORK/ret.err" >/dev/null || rc=$?
assert_eq 4 "$rc" "exit code after retention deleted undumped records"
grep -q "deleted by retention" "$WORK/ret.err" || fail "warning: $(cat "$WORK/ret.err")"
pass "real retention: exit 4 and the lost range (log start moved to $low)"

# -- a broker that goes away mid-run ------------------------------------------------------------
wait "$b2_pid" || fail "second broker: $(cat "$WORK/b2-start.err")"
BS2=$(tail -n1 "$WORK/b2-start.out")
[[ $BS2 == 127.0.0.1:* ]] || fail "second broker: '$BS2'"
BS_SAVE=$BS
BS=$BS2
G="gone-$RUN_ID"
create_topic "$G" 3
produce_random "$G" 600000 300 "$BS2"
"$KTAPE" dump -b "$BS2" -a "$WORK/a-gone" -t "$G" -q --timeout 5s --segment-size 1M 2>"$WORK/gone.err" &
pid=$!
for _ in $(seq 200); do
    [[ -f $WORK/a-gone/catalog.db ]] && [[ $(sql "$WORK/a-gone" "select count(*) from segments" 2>/dev/null || echo 0) -ge 1 ]] && break
    sleep 0.05
done
KTAPE_KAFKA_HOME=$B2_HOME "$KL" stop >/dev/null
rc=0
wait "$pid" || rc=$?
BS=$BS_SAVE
[[ $rc == 6 ]] || fail "dump against a vanished broker exited $rc (expected 6): $(tail -3 "$WORK/gone.err")"
got=$(sql "$WORK/a-gone" "select sum(records) from segments")
[[ $got -gt 0 && $got -lt 600000 ]] || fail "records kept: $got"
"$KTAPE" verify -a "$WORK/a-gone" >/dev/null || fail "the archive does not verify after the failed run"
assert_eq failed "$(sql "$WORK/a-gone" "select status from runs")" "run status"
pass "broker gone mid-run: exit 6 after --timeout, $got records kept and verified"
