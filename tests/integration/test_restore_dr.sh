#!/usr/bin/env bash
# Disaster recovery into another cluster (issue #13): a restore interrupted
# while writing into cluster A, then the same restore into a fresh cluster
# B, is a new run there (topics created, every record written), not a
# continuation of A's; and the same restore into A again still continues
# exactly where A's stopped (no record twice, none missing). Kafka's own
# console consumer counts what each cluster holds.
source "$(dirname "$0")/lib.sh"

# a second, fresh cluster, started meanwhile (its JVM takes seconds) and
# stopped whatever happens
export KTAPE_KAFKA_HOME_B="$WORK/broker-b"
KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" start >"$WORK/b-start.out" 2>"$WORK/b-start.err" &
b_pid=$!
stop_b() {
    wait "$b_pid" 2>/dev/null || true
    KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap stop_b EXIT

# A record the target refuses for good (over its max.message.bytes) stops
# the restore with exit 6: every target partition then holds a prefix of its
# source, in order, and after the limit is raised the same command continues
# exactly. (First, while the second cluster starts.)
big="it-dr-big-$RUN_ID"
bigdst="$big.restored"
create_topic "$big" 1 --config max.message.bytes=4000000
python3 -c '
import base64, os, sys
for i in range(200):
    v = base64.b64encode(os.urandom(1200000)).decode() if i % 20 == 7 else "small-%d" % i
    sys.stdout.write("k%d\t%s\n" % (i, v))
' | kcat -P -b "$BS" -t "$big" -K $'\t' -X message.max.bytes=5000000 || fail "kcat could not produce the large records"
"$KTAPE" dump -b "$BS" -a "$WORK/big" -t "$big" -q || fail "dump of the large records"
create_topic "$bigdst" 1 # the broker's default max.message.bytes (about 1 MB)
assert_exit 6 "$KTAPE" restore -b "$BS" -a "$WORK/big" -t "$big" --map "$big=$bigdst" -q
grep -q "too large" "$WORK/last.err" || fail "the error does not say why: $(cat "$WORK/last.err")"
grep -q "records this run wrote per source partition: $big \[0\] " "$WORK/last.err" ||
    fail "the error does not say how far the partition got: $(cat "$WORK/last.err")"
kcat -C -b "$BS" -t "$bigdst" -e -q -f '%k\n' >"$WORK/bigkeys.txt"
n=$(wc -l <"$WORK/bigkeys.txt")
seq 0 $((n - 1)) | sed 's/^/k/' | diff - "$WORK/bigkeys.txt" >&2 ||
    fail "the target does not hold a prefix of the source (diff above)"
((n == 7)) || fail "the target holds $n records, expected the 7 before the first large one"
kcli kafka-configs --bootstrap-server "$BS" --alter --entity-type topics --entity-name "$bigdst" \
    --add-config max.message.bytes=4000000 >/dev/null
"$KTAPE" restore -b "$BS" -a "$WORK/big" -t "$big" --map "$big=$bigdst" -q 2>"$WORK/big2.err" ||
    fail "the rerun after raising the limit exited $?: $(cat "$WORK/big2.err")"
"$KTAPE" compare -b "$BS" -a "$WORK/big" -t "$big" --map "$big=$bigdst" >/dev/null 2>"$WORK/cmp2.err" ||
    fail "compare after the continued restore: $(cat "$WORK/cmp2.err")"
pass "a refused record leaves a prefix, and the rerun continues exactly"

N=20000
topic="it-dr-$RUN_ID"
dst="$topic.restored"
create_topic "$topic" 2
seq 0 $((N - 1)) | awk '{printf "k%d:value-%d\n", $1 % 97, $1}' | kcat -P -b "$BS" -t "$topic" -K:
A="$WORK/arch"
"$KTAPE" dump -b "$BS" -a "$A" -t "$topic" -q || fail "dump"

count_on() { # bootstrap topic max -> records the topic holds (at most max)
    kcli kafka-console-consumer --bootstrap-server "$1" --topic "$2" --from-beginning \
        --max-messages "$3" --timeout-ms 15000 2>/dev/null | wc -l
}
# Kafka's kafka-get-offsets sums the end offsets (the restore's producer is
# idempotent, not transactional: no markers, every offset a record), and the
# console consumer reads that many: the records the topic holds, without
# waiting out the consumer's timeout for one more record that is not there.
count_all_on() { # bootstrap topic -> records the topic holds
    local end
    end=$(kcli kafka-get-offsets --bootstrap-server "$1" --topic "$2" 2>/dev/null | awk -F: '{s += $3} END {print s + 0}')
    count_on "$1" "$2" "$end"
}
end_offsets() { # topic partitions -> the sum of the end offsets, by kcat (0 for no topic)
    kcat -b "$BS" -Q $(for p in $(seq 0 $(($2 - 1))); do printf -- '-t %s:%d:-1 ' "$1" "$p"; done) 2>/dev/null |
        awk '{s += $NF} END {print s + 0}' || true
}

# interrupted while writing into A (5 s of records at 4000 a second): once
# the first ones are there
"$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" --create-topics --rate-msgs 4000 -q &
pid=$!
for _ in $(seq 100); do
    (($(end_offsets "$dst" 2) > 0)) && break
    sleep 0.1
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 130 ]] || fail "the interrupted restore exited $rc, expected 130"
partial=$(count_all_on "$BS" "$dst")
((partial > 0 && partial < N)) || fail "the interrupted restore wrote $partial of $N records"

# the same command into B: a new run, the topic created there
wait "$b_pid" || fail "could not start a second broker: $(cat "$WORK/b-start.err")"
BS_B=$(tail -n1 "$WORK/b-start.out")
[[ $BS_B == 127.0.0.1:* && $BS_B != "$BS" ]] || fail "the second broker's address is '$BS_B' (the first one's: $BS)"
"$KTAPE" restore -b "$BS_B" -a "$A" -t "$topic" --map "$topic=$dst" --create-topics --json >"$WORK/b.json" 2>"$WORK/b.err" ||
    fail "restore into the other cluster exited $?: $(cat "$WORK/b.err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["resumed_from_run"] == 0 and d["records"] == int(sys.argv[2]), d' \
    "$WORK/b.json" $N || fail "restore into B was not a whole new run: $(cat "$WORK/b.json")"
got=$(count_on "$BS_B" "$dst" $N)
((got == N)) || fail "cluster B holds $got of $N records"

# and into A again: it continues the interrupted run exactly
"$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" --json >"$WORK/a.json" 2>"$WORK/a.err" ||
    fail "the continued restore into A exited $?: $(cat "$WORK/a.err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["resumed_from_run"] > 0, d' "$WORK/a.json" ||
    fail "the restore into A did not continue the interrupted run: $(cat "$WORK/a.json")"
got=$(count_all_on "$BS" "$dst")
((got == N)) || fail "cluster A holds $got records after the continuation, expected exactly $N"
"$KTAPE" compare -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" >/dev/null 2>"$WORK/cmp.err" ||
    fail "compare after the continuation: $(cat "$WORK/cmp.err")"
pass "an interrupted restore is continued only on its own cluster"
