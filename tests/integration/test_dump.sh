#!/usr/bin/env bash
# ktape dump against the real broker: what it captures (records, configs,
# group offsets, watermarks, cluster id), incremental runs, time ranges,
# regex selection, isolation levels, retention loss, topic recreation,
# kill -9 resume, lock contention, secrets, SASL/PLAIN.
source "$(dirname "$0")/lib.sh"

A="$WORK/archive"
T="it-dump-$RUN_ID"
# recent timestamps: the broker's retention would delete old ones during the test
B=$((($(date +%s) - 3600) * 1000))

# -- records, configs, partitions, transactions ------------------------------
create_topic "$T" 3 --config retention.ms=604800000 --config max.message.bytes=2000000
cat >"$WORK/spec1" <<SPEC
0	$((B + 0))	user-1	{"action":"login"}	trace=abc	trace=def	empty=	nullh=-
0	$((B + 1000))	-	null key
0	$((B + -1000))		
1	$((B + 2000))	user-2	-
1	$((B + 3000))	hex:00ff10	hex:deadbeef00	bin=hex:0001
#begin
2	$((B + 4000))	tx	aborted-1
2	$((B + 4001))	tx	aborted-2
#abort
#begin
2	$((B + 5000))	tx	committed-1
#commit
SPEC
produce_spec "$T" "$WORK/spec1"

"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --json >"$WORK/d1.json" 2>"$WORK/d1.err" || fail "dump 1 failed: $(cat "$WORK/d1.err")"
python3 -m json.tool "$WORK/d1.json" >/dev/null || fail "--json output is not JSON"
assert_eq 6 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$WORK/d1.json")" "records in run 1"
assert_eq 6 "$(sql "$A" "select sum(records) from segments where topic='$T'")" "records in the catalog"
assert_eq 3 "$(sql "$A" "select partitions from topic_snapshots where topic='$T'")" "partition count"
assert_eq 1 "$(sql "$A" "select replication_factor from topic_snapshots where topic='$T'")" "replication factor"
assert_eq 604800000 "$(sql "$A" "select value from topic_configs where topic='$T' and name='retention.ms'")" "retention.ms archived"
assert_eq 2000000 "$(sql "$A" "select value from topic_configs where topic='$T' and name='max.message.bytes'")" "max.message.bytes archived"
assert_eq "" "$(sql "$A" "select name from topic_configs where topic='$T' and source='DEFAULT_CONFIG'")" "no default configs archived"
cid=$(sql "$A" "select cluster_id from runs where run_id=1")
[[ -n $cid ]] || fail "cluster id not recorded"
# watermarks: partition 2 ends after the commit marker (offset 5 = 2 aborted + marker + 1 committed + marker)
hw2=$(kcat -b "$BS" -Q -t "$T:2:-1" 2>/dev/null | awk '{print $NF}') || true
assert_eq 5 "$(sql "$A" "select high_watermark from partition_runs where topic='$T' and partition=2")" "high watermark of partition 2"
assert_eq 5 "$(sql "$A" "select done_end from partition_runs where topic='$T' and partition=2")" "partition 2 done although it ends in a marker"
pass "records, configs, partitions, watermarks, cluster id"

# every archived record is the produced one: restore into a new topic and
# read it back with Kafka's own console consumer
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$T-copy" --create-topics -q || fail "restore failed"
consume_all "$T-copy" "$WORK/copy.out" 6
witness "$WORK/spec1" "$WORK/copy.out"
pass "records round-trip exactly (null/empty keys and values, binary, duplicate and null headers, timestamps, aborted transactions left out)"

# -- read_uncommitted keeps aborted records ----------------------------------
A2="$WORK/archive-ru"
"$KTAPE" dump -b "$BS" -a "$A2" -t "$T" -q --isolation read_uncommitted || fail "read_uncommitted dump failed"
assert_eq 8 "$(sql "$A2" "select sum(records) from segments")" "read_uncommitted sees aborted records"
pass "isolation levels"

# -- incremental ---------------------------------------------------------------
printf '0\t%s\tuser-3\tlater\n1\t%s\tuser-4\tlater\n' $((B + 100000)) $((B + 101000)) >"$WORK/spec2"
produce_spec "$T" "$WORK/spec2"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --json >"$WORK/d2.json" || fail "dump 2 failed"
assert_eq 2 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$WORK/d2.json")" "incremental run records"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --json >"$WORK/d3.json" || fail "dump 3 failed"
assert_eq 0 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$WORK/d3.json")" "nothing new"
assert_eq 8 "$(sql "$A" "select sum(records) from segments where topic='$T'")" "each record once"
pass "incremental dumps"

# -- time and offset ranges ----------------------------------------------------
# A time range is Kafka's own offset-for-time lookup: from the first offset
# whose timestamp is >= from, to before the first whose timestamp is >= to.
# Transaction markers carry their commit time, so a topic without markers.
TT="$T-time"
create_topic "$TT" 2
printf '0\t%s\ta\t1\n0\t%s\tb\t2\n0\t%s\tc\t3\n0\t%s\td\t4\n1\t%s\te\t5\n1\t%s\tf\t6\n' \
    "$B" $((B + 1000)) $((B - 1000)) $((B + 100000)) $((B + 2000)) $((B + 3000)) >"$WORK/spec-time"
produce_spec "$TT" "$WORK/spec-time" --plain
A3="$WORK/archive-time"
"$KTAPE" dump -b "$BS" -a "$A3" -t "$TT" -q --from-time @$((B + 1000)) --to-time @$((B + 3000)) ||
    fail "time range dump failed"
# p0: offsets 1 (B+1s) and 2 (B-1s, still before the first >= B+3s); p1: offset 0
assert_eq "0:1:2,1:0:1" "$(sql "$A3" "select group_concat(partition||':'||first_offset||':'||records) from (select * from segments order by partition)")" "time range"
A4="$WORK/archive-offsets"
"$KTAPE" dump -b "$BS" -a "$A4" -t "$T" -p 0 -q --from-offset 1 --to-offset 3 || fail "offset range dump failed"
assert_eq "2-2" "$(sql "$A4" "select min(first_offset)||'-'||max(last_offset) from segments")" "offset range"
# an overlapping explicit range does not write archived offsets again
"$KTAPE" dump -b "$BS" -a "$A4" -t "$T" -p 0 -q --from-offset 0 --to-offset 4 || fail "overlapping range dump failed"
assert_eq 2 "$(sql "$A4" "select sum(records) from segments")" "overlap written once"
# a backfill around an archived range: [4, 8) first, then everything from 0;
# segments must not overlap, so the partition reads back in offset order
A4b="$WORK/archive-backfill"
"$KTAPE" dump -b "$BS" -a "$A4b" -t "$T" -p 0 -q --from-offset 4 --to-offset 8 || fail "backfill 1"
"$KTAPE" dump -b "$BS" -a "$A4b" -t "$T" -p 0 -q --from-offset 0 || fail "backfill 2"
assert_eq 0 "$(sql "$A4b" "select count(*) from segments a join segments b on a.partition=b.partition and a.segment_id<b.segment_id and a.first_offset<=b.last_offset and b.first_offset<=a.last_offset")" "overlapping segments after a backfill"
offs=$("$KTAPE" cat -a "$A4b" -t "$T" -p 0 --format '%o ')
assert_eq "$(tr ' ' '\n' <<<"$offs" | sed '/^$/d' | sort -n | tr '\n' ' ')" "$offs" "cat order after a backfill"
pass "time and offset ranges"

# -- usage errors --------------------------------------------------------------
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$WORK/x" --from-time yesterday
grep -q "yesterday" "$WORK/last.err" || fail "bad time not named"
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$WORK/x" --from-time 2026-11-22T10:00:00
assert_exit 2 "$KTAPE" dump -a "$WORK/x"
assert_exit 7 "$KTAPE" dump -b "$BS" -a "$WORK/x" -t "no-such-topic-$RUN_ID"
pass "usage errors"

# -- regex selection, internal topics -------------------------------------------
create_topic "$T-rx-a" 1
create_topic "$T-rx-b" 1
create_topic "$T-other" 1
A5="$WORK/archive-rx"
"$KTAPE" dump -b "$BS" -a "$A5" --topic-regex "^$T-(rx|other)" --exclude-regex 'other$' --json >"$WORK/rx.json" || fail "regex dump"
assert_eq "$T-rx-a,$T-rx-b" "$(python3 -c 'import json,sys; print(",".join(t["topic"] for t in json.load(open(sys.argv[1]))["topics"]))' "$WORK/rx.json")" "regex selection"
A6="$WORK/archive-all"
"$KTAPE" dump -b "$BS" -a "$A6" --json >"$WORK/all.json" || fail "dump of all topics"
grep -q '__consumer_offsets' "$WORK/all.json" && fail "internal topics must be left out by default"
pass "regex selection"

# -- consumer group offsets ------------------------------------------------------
G="it-group-$RUN_ID"
kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$T" --group "$G" --from-beginning --max-messages 3 \
    --timeout-ms 15000 >/dev/null 2>&1 || true
kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" >"$WORK/g.txt" 2>/dev/null || true
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump with groups"
n=$(sql "$A" "select count(*) from group_offsets where group_id='$G'")
[[ $n -ge 1 ]] || fail "group offsets not archived: $(cat "$WORK/g.txt")"
# the archived offsets are the ones kafka-consumer-groups reports
while read -r part off; do
    want=$(awk -v t="$T" -v p="$part" '$2==t && $3==p {print $4}' "$WORK/g.txt")
    assert_eq "$want" "$off" "group $G partition $part offset"
done < <(sql "$A" "select partition||' '||committed_offset from group_offsets where group_id='$G' and run_id=(select max(run_id) from group_offsets)" | tr '|' ' ')
pass "consumer group offsets match kafka-consumer-groups"

# -- data lost to retention: exit 4 ----------------------------------------------
printf '0\t%s\tk\tv1\n0\t%s\tk\tv2\n0\t%s\tk\tv3\n' $((B + 200000)) $((B + 200001)) $((B + 200002)) >"$WORK/spec3"
produce_spec "$T" "$WORK/spec3"
# partition 0 (a marker after each record) holds offsets 0..13 and was archived up
# to 8; delete the records before offset 12, as retention would
printf '{"partitions":[{"topic":"%s","partition":0,"offset":12}],"version":1}' "$T" >"$WORK/del.json"
kcli kafka-delete-records --bootstrap-server "$BS" --offset-json-file "$WORK/del.json" >/dev/null 2>&1 ||
    fail "kafka-delete-records failed"
rc=0
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --json >"$WORK/lost.json" 2>"$WORK/lost.err" || rc=$?
assert_eq 4 "$rc" "exit code when retention deleted data"
grep -q "deleted by retention" "$WORK/lost.err" || fail "no retention warning: $(cat "$WORK/lost.err")"
assert_eq "8-12" "$(sql "$A" "select lost_from||'-'||lost_end from partition_runs where topic='$T' and partition=0 and lost_from is not null")" "lost range recorded"
assert_eq data_lost "$(sql "$A" "select status from runs order by run_id desc limit 1")" "run status"
pass "retention loss: warning, exit 4, lost range in the catalog"

# -- lock contention: exit 3 --------------------------------------------------------
# the shell holds the archive's lock on a descriptor of its own, and drops it
# right after (no holder to wait out)
exec {lockfd}<>"$A/lock"
flock -n "$lockfd" || fail "could not take the archive's lock for the test"
assert_exit 3 "$KTAPE" dump -b "$BS" -a "$A" -t "$T"
grep -q "in use by another ktape" "$WORK/last.err" || fail "lock message: $(cat "$WORK/last.err")"
exec {lockfd}>&-
pass "a second writer exits 3"

# -- secrets stay out of the catalog ---------------------------------------------------
printf '# client properties\nsasl.password=sup3r-s3cret\n' >"$WORK/client.properties"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q -X ssl.key.password=an0ther-s3cret -F "$WORK/client.properties" --property=ssl.keystore.password=th1rd-s3cret \
    -X security.protocol=PLAINTEXT || fail "dump with secret properties"
sql "$A" "select args from runs" | grep -q "s3cret" && fail "a secret reached the catalog"
grep -rq "s3cret" "$A/meta" && fail "a secret reached the metadata files"
sql "$A" "select args from runs order by run_id desc limit 1" | grep -q "ssl.key.password=(redacted)" ||
    fail "redaction marker missing"
pass "secrets are redacted"

# -- topic deleted and recreated: a new generation ------------------------------------------
R="$T-recreated"
create_topic "$R" 1
printf '0\t%s\ta\told-1\n0\t%s\ta\told-2\n0\t%s\ta\told-3\n' $B $((B + 1)) $((B + 2)) >"$WORK/spec4"
produce_spec "$R" "$WORK/spec4"
A7="$WORK/archive-gen"
"$KTAPE" dump -b "$BS" -a "$A7" -t "$R" -q || fail "dump before recreation"
kcli kafka-topics --bootstrap-server "$BS" --delete --topic "$R" >/dev/null 2>&1
for _ in $(seq 50); do kcat -b "$BS" -L -t "$R" 2>/dev/null | grep -q "topic \"$R\" with 1 partitions" || break; sleep 0.2; done
sleep 1
create_topic "$R" 1
printf '0\t%s\ta\tnew-1\n' $((B + 3)) >"$WORK/spec5"
produce_spec "$R" "$WORK/spec5"
"$KTAPE" dump -b "$BS" -a "$A7" -t "$R" 2>"$WORK/gen.err" >/dev/null || fail "dump after recreation: $(cat "$WORK/gen.err")"
grep -q "recreated" "$WORK/gen.err" || fail "no recreation warning"
assert_eq "0:3,1:1" "$(sql "$A7" "select group_concat(generation||':'||records) from (select generation, sum(records) records from segments group by generation)")" "generations kept apart"
pass "a recreated topic becomes generation 1"

# -- kill -9 at a random moment, then the same command: every record exactly once ------------
K="$T-kill"
create_topic "$K" 3
produce_random "$K" 400000 200
A8="$WORK/archive-kill"
total=$(kcat -b "$BS" -Q -t "$K:0:-1" -t "$K:1:-1" -t "$K:2:-1" 2>/dev/null | awk '{s+=$NF} END {print s}')
assert_eq 400000 "$total" "records produced"
for delay in 0.3 0.8; do
    "$KTAPE" dump -b "$BS" -a "$A8" -t "$K" -q --segment-size 2M &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
"$KTAPE" dump -b "$BS" -a "$A8" -t "$K" -q --segment-size 2M || fail "dump after kill -9"
assert_eq 400000 "$(sql "$A8" "select sum(records) from segments")" "records after kill -9 and resume"
# no offset twice: segments of a partition do not overlap
overlaps=$(sql "$A8" "select count(*) from segments a join segments b on a.topic=b.topic and a.partition=b.partition and a.segment_id<b.segment_id and a.first_offset<=b.last_offset and b.first_offset<=a.last_offset")
assert_eq 0 "$overlaps" "overlapping segments"
ls "$A8/tmp" | grep -q . && fail "temporary files left behind"
pass "kill -9 then resume: 400000 records exactly once"

# -- SASL/PLAIN ---------------------------------------------------------------------------
if [[ -z ${KTAPE_TEST_SASL_BOOTSTRAP:-} ]]; then
    fail "KTAPE_TEST_SASL_BOOTSTRAP is not set: start the broker with 'tools/kafka-local start --sasl' (tools/test does)"
fi
A9="$WORK/archive-sasl"
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=ktape\nsasl.password=ktape-secret\n' >"$WORK/sasl.properties"
"$KTAPE" dump -b "$KTAPE_TEST_SASL_BOOTSTRAP" -a "$A9" -t "$T" -F "$WORK/sasl.properties" -q || fail "SASL dump failed"
[[ $(sql "$A9" "select sum(records) from segments") -ge 1 ]] || fail "SASL dump archived nothing"
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=ktape\nsasl.password=wrong\n' >"$WORK/bad.properties"
rc=0
"$KTAPE" dump -b "$KTAPE_TEST_SASL_BOOTSTRAP" -a "$WORK/archive-badsasl" -t "$T" -F "$WORK/bad.properties" -q --timeout 10s \
    2>"$WORK/badsasl.err" || rc=$?
[[ $rc == 6 ]] || fail "a wrong SASL password must exit 6, got $rc: $(tail -3 "$WORK/badsasl.err")"
pass "SASL/PLAIN with -F, wrong password exits 6"
