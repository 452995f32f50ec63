#!/usr/bin/env bash
# Sharded archives (issue #20, format/SPEC.md 10.8), against the real broker
# and S3Proxy: batch dumps with --worker-id write their own shard
# (shards/ID/) of one archive, a dump without one writes the root, and
# every dump starts where the union of root and shards ends (no record
# archived twice); readers (ls, cat, verify, restore) see the union as one
# archive; two writers of one shard are refused; shards that overlap (a
# shard made from another archive's files) never make a reader return a
# record twice; the same on s3://.
source "$(dirname "$0")/lib.sh"

if [[ -z ${KTAPE_TEST_S3:-} || -z ${AWS_ENDPOINT_URL:-} ]]; then
    echo "FAIL: no S3 server: KTAPE_TEST_S3 and AWS_ENDPOINT_URL are not set (tools/s3-local)" >&2
    exit 1
fi

t="it-shards-$RUN_ID"
create_topic "$t" 4
produced=0
produce() { # count
    seq $((produced + 1)) $((produced + $1)) | awk '{printf "k%d\tv%d\n", $1 % 13, $1}' |
        kcat -P -b "$BS" -t "$t" -K '\t' || fail "kcat could not produce"
    produced=$((produced + $1))
}
# every value 1..produced exactly once, read back through ktape cat
check_once() { # archive what
    local v="${W:-$WORK}/values"
    "$KTAPE" cat -a "$1" -t "$t" -f '%s\n' | sed 's/^v//' | sort -n >"$v" || fail "$2: cat failed"
    local n dups
    n=$(wc -l <"$v")
    dups=$(uniq -d <"$v" | wc -l)
    assert_eq 0 "$dups" "$2: values read twice"
    seq 1 "$produced" | cmp -s - "$v" || fail "$2: cat gives $n values, not 1..$produced"
}

# the cycle on an archive; W: its own files. The directory's and the
# bucket's run side by side (the bucket's waits on S3Proxy's lock settling)
cycle() { # archive files-dir
    local A=$1 W=$2
    mkdir -p "$W"
    produced=0
    # a fresh topic per archive: each run starts from offset 0
    t="it-shards-$RUN_ID-${A%%:*}"
    t=${t//\//-}
    create_topic "$t" 4
    produce 1000
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" -p 0 -p 1 --worker-id w1 --json >"$W/w1.json" ||
        fail "dump into shard w1"
    # w2 takes the whole topic: partitions 0 and 1 are where w1 left them
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --worker-id w2 --json >"$W/w2.json" || fail "dump into shard w2"
    w1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$W/w1.json")
    w2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$W/w2.json")
    ((w1 > 0 && w2 > 0 && w1 + w2 == 1000)) || fail "w1 archived $w1 and w2 $w2 of 1000 records"
    produce 500
    # the root's own writer (a cron dump) continues where the union ends
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --json >"$W/root.json" || fail "dump into the root"
    root=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$W/root.json")
    assert_eq 500 "$root" "records the root's dump archived after the shards"
    check_once "$A" "$A, three writers"
    "$KTAPE" verify -a "$A" >"$W/verify.out" 2>&1 || fail "verify of the union: $(tail -n 5 "$W/verify.out")"
    grep -q ' 1500 records' "$W/verify.out" || fail "verify did not read 1500 records: $(cat "$W/verify.out")"
    "$KTAPE" ls -a "$A" >"$W/ls.out" || fail "ls"
    grep -q ', 1500 records' "$W/ls.out" || fail "ls does not count the union: $(head -n 2 "$W/ls.out")"
    # the workers, in the text, --json and --html alike
    grep -qE "^w1 +ok +[0-9]+ +$w1 +20[0-9-]+T.* $t:0,1\$" "$W/ls.out" || fail "ls's line of w1: $(tail -n 3 "$W/ls.out")"
    "$KTAPE" ls -a "$A" --json >"$W/ls.json" || fail "ls --json"
    python3 - "$W/ls.json" "$t" "$w1" "$w2" <<'PY' || fail "ls --json's workers: $(tail -c 600 "$W/ls.json")"
import json, sys
j, t, w1, w2 = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
w = {x["worker_id"]: x for x in j["workers"]}
assert sorted(w) == ["w1", "w2"], w
assert w["w1"]["records"] == w1 and w["w2"]["records"] == w2, w
assert w["w1"]["partitions"] == f"{t}:0,1" and w["w1"]["partition_count"] == 2, w
assert w["w2"]["partitions"] == f"{t}:2,3" and w["w2"]["partition_count"] == 2, w
for x in w.values():
    assert x["last_run_status"] == "ok" and x["segments"] > 0, x
    assert x["last_commit_ms"] > 0 and x["last_commit"].startswith("20"), x
    assert any(r["run_id"] == x["last_run_id"] for r in j["runs"]), x
PY
    "$KTAPE" ls -a "$A" --html "$W/ls.html" >/dev/null || fail "ls --html"
    grep -q 'data-worker="w1"><td>w1</td><td>ok</td>' "$W/ls.html" || fail "ls --html does not list worker w1"
    grep -q "data-worker=\"w2\">.*$t:2,3</td></tr>" "$W/ls.html" || fail "ls --html does not list worker w2's partitions"
    # a restore reads the union, and records its run in the root
    "$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$t-copy" --create-topics -q || fail "restore of the union"
    got=$(kcat -C -b "$BS" -t "$t-copy" -e -q -f '%s\n' | sort -u | wc -l)
    assert_eq 1500 "$got" "distinct records restored from the union"
    pass "$A: shards w1, w2 and the root hold each record once; ls, cat, verify and restore read the union"
}
cycle "s3://ktape/it-shards-$RUN_ID" "$WORK/s3" &
s3pid=$!
cycle "$WORK/arch" "$WORK/dir"
wait "$s3pid" || fail "the cycle on s3://ktape/it-shards-$RUN_ID failed (above)"

# ---- the rest on the directory ----
A="$WORK/arch"
t="it-shards-$RUN_ID-${A%%:*}"
t=${t//\//-}
[[ -d $A/shards/w1/segments && -d $A/shards/w2/segments && -f $A/shard-ids/w1 ]] || fail "no shard layout under $A"
[[ -f $A/shards/w1/ktape-archive && -f $A/shards/w1/catalog.db ]] || fail "shard w1 is not an archive of its own"
grep -qx 'format_version=3' "$A/ktape-archive" || fail "an archive with shards is not format version 3: $(cat "$A/ktape-archive")"
n=$(sqlite3 "file:$A/catalog.db?mode=ro" "SELECT count(*) || ' ' || group_concat(status) FROM runs WHERE kind = 'restore'")
# ... and ended there: a run end written to the union's private copy would
# leave the root's row 'running'
assert_eq "1 ok" "$n" "restore runs recorded (and ended) in the root's catalog"
# a shard is an archive: readable on its own
"$KTAPE" verify -a "$A/shards/w1" >/dev/null 2>&1 || fail "shard w1 does not verify on its own"

# reindex rebuilds the root and every shard; the union reads the same after it
"$KTAPE" reindex -a "$A" >"$WORK/reindex.out" || fail "reindex of a sharded archive"
grep -q 'and its 2 shard(s)' "$WORK/reindex.out" || fail "reindex did not rebuild the shards: $(cat "$WORK/reindex.out")"
check_once "$A" "after reindex"

# two writers of one shard: the second is refused (exit 3)
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --worker-id w1 --follow -q 2>"$WORK/f.err" &
fpid=$!
# shellcheck disable=SC2064
trap "kill $fpid 2>/dev/null || true; rm -rf '$WORK'" EXIT
for _ in $(seq 50); do [[ -s $A/shards/w1/lock ]] && grep -q pid "$A/shards/w1/lock" && break; sleep 0.1; done
sleep 1
# ls tells the live worker's run by shard w1's lock (its run id in the
# union's numbering), the ended runs from it (issue #15)
for _ in $(seq 50); do
    [[ $(sqlite3 "file:$A/shards/w1/catalog.db?mode=ro" "SELECT count(*) FROM runs WHERE status = 'running'") == 1 ]] && break
    sleep 0.1
done
"$KTAPE" ls -a "$A" --json --html "$WORK/ls3.html" >"$WORK/ls3.json" || fail "ls --json with a running worker"
grep -q 'data-worker="w1"><td>w1</td><td>running</td>' "$WORK/ls3.html" || fail "ls --html does not show w1 running"
python3 - "$WORK/ls3.json" <<'PY' || fail "ls --json with a running worker: $(tail -c 900 "$WORK/ls3.json")"
import json, sys
j = json.load(open(sys.argv[1]))
w = {x["worker_id"]: x for x in j["workers"]}
assert w["w1"]["last_run_status"] == "running" and w["w1"]["last_run_alive"] is True, w["w1"]
assert w["w2"]["last_run_status"] == "ok" and w["w2"]["last_run_alive"] is None, w["w2"]
live = [r for r in j["runs"] if r["alive"] is not None]
assert [r["run_id"] for r in live] == [w["w1"]["last_run_id"]] and live[0]["alive"] is True, live
assert live[0]["run_id"] > 10**9 and live[0]["status"] == "running", live
PY
assert_exit 3 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --worker-id w1 -q
grep -q 'in use by another ktape process' "$WORK/last.err" || fail "the refusal does not name the lock: $(cat "$WORK/last.err")"
kill -TERM "$fpid"
wait "$fpid" || fail "the follower of shard w1 did not end ok at SIGTERM: $(tail -n 3 "$WORK/f.err")"
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --worker-id ../x -q
pass "a second writer of shard w1 is refused (exit 3), a bad worker id is a usage error"

# overlapping shards: a shard made of another archive that holds offsets
# 100..599 of every partition (partly inside w1's/w2's, partly the root's)
B="$WORK/other"
"$KTAPE" dump -b "$BS" -a "$B" -t "$t" --from-offset 100 --to-offset 600 -q || fail "dump of the overlap"
cp -r "$B" "$A/shards/zz"
rm -f "$A/shards/zz/lock"
printf 'ktape shard\nworker_id=zz\n' >"$A/shard-ids/zz"
# and one that only repeats what w1 holds (a copy of it): out of the union
cp -r "$A/shards/w1" "$A/shards/w1copy"
printf 'ktape shard\nworker_id=w1copy\n' >"$A/shard-ids/w1copy"
produced=1500
check_once "$A" "overlapping shards"
"$KTAPE" cat -a "$A" -t "$t" -p 0 --from-offset 50 --to-offset 700 -f '%o\n' >"$WORK/offs"
uniq -d <"$WORK/offs" | grep -q . && fail "an offset of partition 0 read twice"
sort -n -c "$WORK/offs" 2>/dev/null || fail "partition 0 not read in offset order across overlapping shards"
"$KTAPE" ls -a "$A" >"$WORK/ls2.out"
"$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$t-copy2" --create-topics -q || fail "restore of overlapping shards"
got=$(kcat -C -b "$BS" -t "$t-copy2" -e -q -f '%s\n' | wc -l)
assert_eq 1500 "$got" "records restored from overlapping shards (each once)"
pass "overlapping shards: cat and restore return every record once, in offset order"
