#!/usr/bin/env bash
# Disaster recovery into another cluster (issue #13): a restore interrupted
# while writing into cluster A, then the same restore into a fresh cluster
# B, is a new run there (topics created, every record written), not a
# continuation of A's; and the same restore into A again still continues
# exactly where A's stopped (no record twice, none missing). Kafka's own
# console consumer counts what each cluster holds.
source "$(dirname "$0")/lib.sh"

N=20000
topic="it-dr-$RUN_ID"
dst="$topic.restored"
create_topic "$topic" 2
seq 0 $((N - 1)) | awk '{printf "k%d:value-%d\n", $1 % 97, $1}' | kcat -P -b "$BS" -t "$topic" -K:
A="$WORK/arch"
"$KTAPE" dump -b "$BS" -a "$A" -t "$topic" -q || fail "dump"

# a second, fresh cluster, stopped whatever happens
export KTAPE_KAFKA_HOME_B="$WORK/broker-b"
stop_b() { KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap stop_b EXIT
BS_B=$(KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" start | tail -n1) || fail "could not start a second broker"
[[ $BS_B != "$BS" ]] || fail "the second broker has the first one's address"

count_on() { # bootstrap topic expected -> records the topic holds
    kcli kafka-console-consumer --bootstrap-server "$1" --topic "$2" --from-beginning \
        --max-messages "$3" --timeout-ms 15000 2>/dev/null | wc -l
}

# interrupted while writing into A
"$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" --create-topics --rate-msgs 4000 -q &
pid=$!
sleep 2.5
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 130 ]] || fail "the interrupted restore exited $rc, expected 130"
partial=$(count_on "$BS" "$dst" $N)
((partial > 0 && partial < N)) || fail "the interrupted restore wrote $partial of $N records"

# the same command into B: a new run, the topic created there
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
got=$(count_on "$BS" "$dst" $((N + 1)))
((got == N)) || fail "cluster A holds $got records after the continuation, expected exactly $N"
"$KTAPE" compare -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" >/dev/null 2>"$WORK/cmp.err" ||
    fail "compare after the continuation: $(cat "$WORK/cmp.err")"
pass "an interrupted restore is continued only on its own cluster"

# A record the target refuses for good (over its max.message.bytes) stops
# the restore with exit 6: every target partition then holds a prefix of its
# source, in order, and after the limit is raised the same command continues
# exactly.
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
