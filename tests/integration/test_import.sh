#!/usr/bin/env bash
# ktape import (issue #17): ktape cat's JSON lines, kcat -J and
# kafka-console-consumer output into an archive, checked by restoring into
# the real broker and reading back with Kafka's own console consumer.
source "$(dirname "$0")/lib.sh"

A="$WORK/a"
T="it-im-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))
cat_all() { "$KTAPE" cat -a "$1" -t "$2" 2>"$WORK/cat.err" || fail "cat $1: $(cat "$WORK/cat.err")"; }

# -- cat | import round-trips exactly: restored records are the produced ones --------
create_topic "$T" 3
cat >"$WORK/spec" <<SPEC
0	$B	user-1	{"a":1,"email":"x@example.com"}	h=1	h=2	h=-	=
0	$((B + 5000))	-	later-but-first
0	$((B - 5000))		earlier-but-second
1	$((B + 1000))	user-2	-	x=hex:00ff
1	$((B + 2000))	hex:0001ff	hex:fffe00
2	$((B + 3000))	user-1	{"a":2}
2	$((B + 6000))	user-3	and "quotes" \\ and ünïcödé
SPEC
produce_spec "$T" "$WORK/spec" --plain
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump"
cat_all "$A" "$T" >"$WORK/a.jsonl"
"$KTAPE" import -a "$WORK/b" -t "$T" -q <"$WORK/a.jsonl" || fail "import from stdin"
cat_all "$WORK/b" "$T" >"$WORK/b.jsonl"
cmp -s "$WORK/a.jsonl" "$WORK/b.jsonl" || fail "cat of the import differs: $(diff "$WORK/a.jsonl" "$WORK/b.jsonl" | head -5)"
"$KTAPE" restore -b "$BS" -a "$WORK/b" -t "$T" --topic-prefix rt- --create-topics -q 2>"$WORK/r.err" ||
    fail "restore of the import: $(cat "$WORK/r.err")"
consume_all "rt-$T" "$WORK/rt.out" 7
witness "$WORK/spec" "$WORK/rt.out"
assert_eq "import|ok|7" "$(sql "$WORK/b" "SELECT kind, status, records FROM runs WHERE run_id = 1")" "the import run"
"$KTAPE" ls -a "$WORK/b" --runs | grep -q " import .* ok " || fail "ls --runs does not show the import run"
pass "cat | import | restore gives back the produced records exactly (null/empty, binary, headers)"

# -- a jq filter replays exactly the selected records, edited ------------------------
cat_all "$A" "$T" | jq -c 'select(.key == "user-1") | .value |= (if . then sub(",\"email\":\"[^\"]*\""; "") else . end)' |
    "$KTAPE" import -a "$WORK/j" -t "$T" -q || fail "import of the jq output"
"$KTAPE" restore -b "$BS" -a "$WORK/j" -t "$T" --topic-prefix jq- --create-topics -q 2>"$WORK/r.err" ||
    fail "restore of the filtered import: $(cat "$WORK/r.err")"
printf '0\t%s\tuser-1\t{"a":1}\th=1\th=2\th=-\t=\n2\t%s\tuser-1\t{"a":2}\n' $B $((B + 3000)) >"$WORK/spec-jq"
consume_all "jq-$T" "$WORK/jq.out" 2
witness "$WORK/spec-jq" "$WORK/jq.out"
assert_eq 2 "$(wc -l <"$WORK/jq.out")" "records restored from the filtered import"
pass "cat | jq select/edit | import | restore gives exactly the filtered records"

# -- bad lines: the line named, exit 2, nothing committed; --skip-bad ----------------
{
    sed -n 1p "$WORK/a.jsonl"
    echo '{"partition":0,"offset":99,"value":"x"'
    sed -n 2p "$WORK/a.jsonl"
} >"$WORK/bad.jsonl"
assert_exit 2 "$KTAPE" import -a "$WORK/bad" -t "$T" "$WORK/bad.jsonl"
grep -q "bad.jsonl: line 2: not JSON" "$WORK/last.err" || fail "bad line message: $(cat "$WORK/last.err")"
assert_eq "failed|0" "$(sql "$WORK/bad" "SELECT status, records FROM runs")" "the failed run"
assert_eq 0 "$(sql "$WORK/bad" "SELECT count(*) FROM segments")" "segments of the failed run"
assert_eq "" "$(find "$WORK/bad/segments" "$WORK/bad/tmp" -type f)" "files left by the failed run"
"$KTAPE" import -a "$WORK/bad" -t "$T" --skip-bad 1 -q "$WORK/bad.jsonl" 2>"$WORK/skip.err" || fail "--skip-bad 1"
grep -q "line 2: .*skipped" "$WORK/skip.err" || fail "a skipped line is not reported: $(cat "$WORK/skip.err")"
assert_eq 2 "$("$KTAPE" cat -a "$WORK/bad" -t "$T" | wc -l)" "records after --skip-bad"
printf '{"partition":0,"offset":5,"value":"a"}\n{"partition":0,"offset":5,"value":"b"}\n' >"$WORK/dup.jsonl"
assert_exit 2 "$KTAPE" import -a "$WORK/dup" -t "$T" "$WORK/dup.jsonl"
grep -q "line 2: offset 5 of partition 0 does not follow offset 5" "$WORK/last.err" || fail "offset order: $(cat "$WORK/last.err")"
assert_exit 9 "$KTAPE" import -a "$WORK/b" -t "$T" "$WORK/dup.jsonl"
pass "a bad line fails with its number and commits nothing; --skip-bad reports and skips; offsets must increase"

# -- without partition, offset, timestamp: Kafka's default partitioner ----------------
J="java-$T"
create_topic "$J" 5
for i in $(seq 1 60); do echo "key-$i:value-$i"; done >"$WORK/keys.txt"
kcli kafka-console-producer --bootstrap-server "$BS" --topic "$J" --property parse.key=true \
    --property key.separator=: <"$WORK/keys.txt" >/dev/null 2>&1 || fail "console producer"
kcat -b "$BS" -C -t "$J" -e -f '%k %p\n' 2>/dev/null | sort >"$WORK/java-parts"
assert_eq 60 "$(wc -l <"$WORK/java-parts")" "records the Java producer wrote"
jq -cR 'split(":") | {key: .[0], value: .[1]}' <"$WORK/keys.txt" >"$WORK/nopart.jsonl"
"$KTAPE" import -a "$WORK/k" -t "$J" --partitions 5 -q "$WORK/nopart.jsonl" || fail "import without partitions"
"$KTAPE" cat -a "$WORK/k" -t "$J" --format '%k %p\n' | sort >"$WORK/ktape-parts"
cmp -s "$WORK/java-parts" "$WORK/ktape-parts" || fail "partitions differ from the Java producer's: $(diff "$WORK/java-parts" "$WORK/ktape-parts" | head -4)"
msg=$(sql "$WORK/k" "SELECT message FROM runs")
for w in "offsets of 60" "partitions of 60 (murmur2 of the key over 5 partitions" "timestamps of 60 (given the import time"; do
    [[ $msg == *"$w"* ]] || fail "the run's message does not say '$w': $msg"
done
# offsets numbered from 0 per partition, consecutively
"$KTAPE" cat -a "$WORK/k" -t "$J" --format '%p %o\n' | awk '{ if ($2 != n[$1]++) bad=1 } END { exit bad }' ||
    fail "offsets are not consecutive from 0 per partition"
assert_exit 2 "$KTAPE" import -a "$WORK/k2" -t "$J" "$WORK/nopart.jsonl"
grep -q "line 1: .*--partitions" "$WORK/last.err" || fail "keyed records without --partitions: $(cat "$WORK/last.err")"
pass "records without partition go where the Java producer puts their key; offsets and timestamps filled in and recorded"

# -- kcat -J and kafka-console-consumer output, made by the real tools ---------------
C="txt-$T"
create_topic "$C" 2
cat >"$WORK/spec-txt" <<SPEC
0	$B	user-1	{"a":1}	h=1	h=2	h=-	=
0	$((B + 5000))	-	later-but-first
0	$((B - 5000))		empty-key
1	$((B + 1000))	user-2	-	x=y
1	$((B + 2000))	user-3	with | a separator	a=b
SPEC
produce_spec "$C" "$WORK/spec-txt" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/c" -t "$C" -q || fail "dump of the text topic"
cat_all "$WORK/c" "$C" >"$WORK/c.jsonl"
kcat -b "$BS" -C -J -e -t "$C" >"$WORK/kcat.json" 2>/dev/null || fail "kcat -J"
assert_eq 5 "$(wc -l <"$WORK/kcat.json")" "kcat -J lines"
"$KTAPE" import -a "$WORK/kc" -t "$C" --format kcat-json -q "$WORK/kcat.json" || fail "import of kcat -J"
cat_all "$WORK/kc" "$C" >"$WORK/kc.jsonl"
cmp -s "$WORK/c.jsonl" "$WORK/kc.jsonl" || fail "kcat -J import differs: $(diff "$WORK/c.jsonl" "$WORK/kc.jsonl" | head -6)"
# kcat writes bytes that are not UTF-8 into its strings as they are
kcat -b "$BS" -C -J -e -t "$T" >"$WORK/kcat-bin.json" 2>/dev/null || fail "kcat -J of the binary topic"
"$KTAPE" import -a "$WORK/kb" -t "$T" --format kcat-json -q "$WORK/kcat-bin.json" || fail "import of kcat -J with binary"
cat_all "$WORK/kb" "$T" >"$WORK/kb.jsonl"
cmp -s "$WORK/a.jsonl" "$WORK/kb.jsonl" || fail "binary kcat -J import differs: $(diff "$WORK/a.jsonl" "$WORK/kb.jsonl" | head -6)"
consume_all "$C" "$WORK/console.out" 5
"$KTAPE" import -a "$WORK/cc" -t "$C" --format console -q "$WORK/console.out" \
    --console-props 'print.key=true,print.headers=true,print.timestamp=true,print.partition=true,print.offset=true,null.literal=<NULL>,key.separator=|,headers.separator=;' ||
    fail "import of the console output"
cat_all "$WORK/cc" "$C" >"$WORK/cc.jsonl"
cmp -s "$WORK/c.jsonl" "$WORK/cc.jsonl" || fail "console import differs: $(diff "$WORK/c.jsonl" "$WORK/cc.jsonl" | head -6)"
# the console consumer's default: the value only
kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$C" --partition 1 --from-beginning --max-messages 2 \
    --timeout-ms 20000 >"$WORK/values.out" 2>/dev/null || true
"$KTAPE" import -a "$WORK/cv" -t "$C" --format console -q "$WORK/values.out" || fail "import of plain values"
assert_eq '[null,"with | a separator"]' "$("$KTAPE" cat -a "$WORK/cv" -t "$C" | jq -sc 'map(.value)')" "values of the default layout"
pass "kcat -J (binary bytes too) and kafka-console-consumer output (all print.* properties, and the default) import to the dumped records"

# -- segments roll as dump's do; a bad line after rolled segments commits none -------
for i in $(seq 1 3000); do printf '{"partition":%d,"value":"%0200d"}\n' $((i % 2)) "$i"; done >"$WORK/many.jsonl"
"$KTAPE" import -a "$WORK/roll" -t "$T" --segment-size 64K -q "$WORK/many.jsonl" || fail "import with small segments"
segs=$(sql "$WORK/roll" "SELECT count(*) FROM segments")
((segs > 4)) || fail "3000 records of 200 bytes in 64 KiB segments made only $segs segment(s)"
"$KTAPE" verify -a "$WORK/roll" >/dev/null || fail "verify of the rolled import"
assert_eq 3000 "$("$KTAPE" cat -a "$WORK/roll" -t "$T" | jq -r .value | sort -u | wc -l)" "records of the rolled import"
{
    cat "$WORK/many.jsonl"
    echo '{"partition":0,"value":"x","extra":1}'
} >"$WORK/many-bad.jsonl"
assert_exit 2 "$KTAPE" import -a "$WORK/roll-bad" -t "$T" --segment-size 64K "$WORK/many-bad.jsonl"
grep -q "line 3001: unknown field \"extra\"" "$WORK/last.err" || fail "bad last line: $(cat "$WORK/last.err")"
assert_eq 0 "$(sql "$WORK/roll-bad" "SELECT count(*) FROM segments")" "segments after a bad last line"
assert_eq "" "$(find "$WORK/roll-bad/segments" "$WORK/roll-bad/tmp" -type f)" "files after a bad last line"
pass "segments roll at --segment-size; a bad last line leaves none of $segs rolled segments behind"

# -- parsing on several threads: the same archive as on one, errors at the same line --
# 30000 lines: many batches of the pipeline; partitions, keys and values of every kind
awk -v b="$B" 'BEGIN {
    for (i = 1; i <= 30000; i++) {
        k = i % 11 == 0 ? "null" : sprintf("\"k-%d\"", i % 97)
        if (i % 13 == 0) v = "null"
        else if (i % 7 == 0) v = "{\"base64\":\"AAEC/w==\"}"
        else if (i % 5 == 0) v = sprintf("\"quote \\\" back \\\\ tab \\t \\u00fc \\u0000 %d\"", i)
        else v = sprintf("\"{\\\"n\\\":%d,\\\"pad\\\":\\\"%0" (i % 300) "d\\\"}\"", i, 0)
        h = i % 4 == 0 ? "[[\"h\",\"v\"],[\"n\",null],[\"b\",{\"base64\":\"/w==\"}]]" : "[]"
        printf "{\"partition\":%d,\"offset\":%d,\"timestamp\":%d,\"key\":%s,\"value\":%s,\"headers\":%s}\n", i % 3, i, b + i, k, v, h
    }
}' >"$WORK/big.jsonl"
for t in 1 2 5; do
    "$KTAPE" import -a "$WORK/t$t" -t "$T" --threads "$t" -q "$WORK/big.jsonl" || fail "import --threads $t"
    cat_all "$WORK/t$t" "$T" >"$WORK/t$t.jsonl"
    (cd "$WORK/t$t/segments" && find . -type f -name '*.kts*' -exec sha256sum {} + | sort -k 2) >"$WORK/t$t.sums"
done
"$KTAPE" import -a "$WORK/t0" -t "$T" -q "$WORK/big.jsonl" || fail "import with the default threads"
cat_all "$WORK/t0" "$T" >"$WORK/t0.jsonl"
assert_eq 30000 "$(wc -l <"$WORK/t1.jsonl")" "records imported on one thread"
[[ -s $WORK/t1.sums ]] || fail "no segment files found in $WORK/t1/segments"
for t in 2 5 0; do
    cmp -s "$WORK/t1.jsonl" "$WORK/t$t.jsonl" || fail "--threads $t differs from --threads 1: $(diff "$WORK/t1.jsonl" "$WORK/t$t.jsonl" | head -4)"
done
for t in 2 5; do
    cmp -s "$WORK/t1.sums" "$WORK/t$t.sums" || fail "--threads $t wrote other segment bytes than --threads 1"
done
assert_eq "$(sql "$WORK/t1" "SELECT partition, first_offset, last_offset, records FROM segments ORDER BY 1")" \
    "$(sql "$WORK/t5" "SELECT partition, first_offset, last_offset, records FROM segments ORDER BY 1")" "segments of 5 threads"
# the offsets, partitions and timestamps left to the import are numbered alike
jq -c 'del(.offset)' "$WORK/big.jsonl" >"$WORK/nooff.jsonl"
for t in 1 5; do
    "$KTAPE" import -a "$WORK/n$t" -t "$T" --threads "$t" -q "$WORK/nooff.jsonl" || fail "import without offsets --threads $t"
    cat_all "$WORK/n$t" "$T" >"$WORK/n$t.jsonl"
done
cmp -s "$WORK/n1.jsonl" "$WORK/n5.jsonl" || fail "offsets numbered differently on 5 threads"
# a bad line in the middle: named, nothing committed, on any number of threads
{
    head -n 15000 "$WORK/big.jsonl"
    echo '{"partition":1,"offset":15001,"value":"x",}'
    tail -n +15002 "$WORK/big.jsonl"
} >"$WORK/mid.jsonl"
for t in 1 2 5; do
    assert_exit 2 "$KTAPE" import -a "$WORK/mid$t" -t "$T" --threads "$t" "$WORK/mid.jsonl"
    grep -q "mid.jsonl: line 15001: not JSON" "$WORK/last.err" || fail "--threads $t: bad middle line: $(cat "$WORK/last.err")"
    assert_eq "failed|0|0" "$(sql "$WORK/mid$t" "SELECT status, records, (SELECT count(*) FROM segments) FROM runs")" \
        "the failed run on $t threads"
    assert_eq "" "$(find "$WORK/mid$t/segments" "$WORK/mid$t/tmp" -type f)" "files left by the failed run on $t threads"
done
# a failure ends the import at once, though the reader still waits for more input
mkfifo "$WORK/fifo"
(
    head -n 17000 "$WORK/mid.jsonl"
    exec sleep 60
) >"$WORK/fifo" &
writer=$!
t0=$SECONDS
assert_exit 2 "$KTAPE" import -a "$WORK/midpipe" -t "$T" "$WORK/fifo"
took=$((SECONDS - t0))
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
grep -q "fifo: line 15001: not JSON" "$WORK/last.err" || fail "bad line from a pipe: $(cat "$WORK/last.err")"
((took < 20)) || fail "the import waited ${took} s for input after its bad line"
# --skip-bad: every skipped line reported in order, the first one beyond it fails
{
    sed -n '1,999p' "$WORK/big.jsonl"
    echo 'not json'
    sed -n '1001,12000p' "$WORK/big.jsonl"
    echo '{"partition":0,"offset":1,"value":"behind"}'
    sed -n '12002,29000p' "$WORK/big.jsonl"
    echo '{"partition":2,"value":"x","extra":1}'
    sed -n '29002,30000p' "$WORK/big.jsonl"
} >"$WORK/skip.jsonl"
for t in 1 5; do
    "$KTAPE" import -a "$WORK/s$t" -t "$T" --threads "$t" --skip-bad 3 -q "$WORK/skip.jsonl" 2>"$WORK/s$t.err" ||
        fail "--skip-bad 3 --threads $t: $(cat "$WORK/s$t.err")"
    cat_all "$WORK/s$t" "$T" >"$WORK/s$t.jsonl"
done
assert_eq 3 "$(grep -c skipped "$WORK/s1.err")" "lines skipped on one thread"
grep -q "line 1000: not JSON.*skipped, 1 of --skip-bad 3" "$WORK/s1.err" || fail "skip report: $(cat "$WORK/s1.err")"
grep -q "line 12001: offset 1 of partition 0 does not follow.*skipped, 2 of" "$WORK/s1.err" || fail "skip report: $(cat "$WORK/s1.err")"
grep -q "line 29001: unknown field \"extra\".*skipped, 3 of" "$WORK/s1.err" || fail "skip report: $(cat "$WORK/s1.err")"
cmp -s "$WORK/s1.err" "$WORK/s5.err" || fail "skip reports differ on 5 threads: $(diff "$WORK/s1.err" "$WORK/s5.err" | head -4)"
cmp -s "$WORK/s1.jsonl" "$WORK/s5.jsonl" || fail "records after --skip-bad differ on 5 threads"
assert_eq 29997 "$(wc -l <"$WORK/s5.jsonl")" "records after skipping 3 lines"
assert_exit 2 "$KTAPE" import -a "$WORK/s2" -t "$T" --threads 5 --skip-bad 2 "$WORK/skip.jsonl"
grep -q "skip.jsonl: line 29001: unknown field" "$WORK/last.err" || fail "the line beyond --skip-bad 2: $(cat "$WORK/last.err")"
assert_eq "0" "$(sql "$WORK/s2" "SELECT count(*) FROM segments")" "segments after a line beyond --skip-bad"
pass "--threads 1, 2, 5 and the default import the same records into the same segment bytes; a bad middle line and --skip-bad report the same lines on any count"
