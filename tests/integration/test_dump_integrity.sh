#!/usr/bin/env bash
# Integrity defects of issue #12 against the real broker: inverted ranges
# are refused (dump and restore), a dead broker leaves no archive behind
# (and an existing one untouched), and the runs table counts what a run
# committed, also for a failed run and a crashed one (which reindex knows).
source "$(dirname "$0")/lib.sh"

T="it-integrity-$RUN_ID"
create_topic "$T" 2
seq 1 200 | kcat -P -b "$BS" -t "$T" || fail "kcat produce"
A="$WORK/archive"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "first dump"
ends_before=$(sql "$A" "select group_concat(done_end) from (select done_end from partition_runs order by partition)")

# -- inverted ranges: exit 2, one line naming the values, nothing changes ---------
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" --from-offset 100 --to-offset 50
assert_eq 1 "$(wc -l <"$WORK/last.err")" "lines of the inverted offset message"
grep -q -- "--to-offset 50 must be greater than --from-offset 100" "$WORK/last.err" ||
    fail "inverted offsets message: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" --from-offset 7 --to-offset 7
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" --from-time 2026-01-02T00:00:00Z --to-time 2026-01-01T00:00:00Z
assert_eq 1 "$(wc -l <"$WORK/last.err")" "lines of the inverted time message"
grep -q -- "--to-time 2026-01-01T00:00:00Z must be later than --from-time 2026-01-02T00:00:00Z" "$WORK/last.err" ||
    fail "inverted times message: $(cat "$WORK/last.err")"
assert_eq 1 "$(sql "$A" "select count(*) from runs")" "runs after refused dumps"
assert_eq "$ends_before" "$(sql "$A" "select group_concat(done_end) from (select max(done_end) done_end from partition_runs group by partition order by partition)")" \
    "incremental start after refused dumps"
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=never-$T" \
    --from-time 2026-01-02T00:00:00Z --to-time 2026-01-01T00:00:00Z
assert_eq 1 "$(wc -l <"$WORK/last.err")" "lines of restore's inverted time message"
grep -q -- "--to-time 2026-01-01T00:00:00Z must be later than --from-time 2026-01-02T00:00:00Z" "$WORK/last.err" ||
    fail "restore inverted times message: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=never-$T" --from-offset 9 --to-offset 3
grep -q -- "--to-offset 3 must be greater than --from-offset 9" "$WORK/last.err" ||
    fail "restore inverted offsets message: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=never-$T" --speed 10
assert_eq 1 "$(wc -l <"$WORK/last.err")" "lines of the --speed message"
grep -q -- "--speed 10 needs --pace original" "$WORK/last.err" || fail "--speed message: $(cat "$WORK/last.err")"
kcat -b "$BS" -L -t "never-$T" 2>/dev/null | grep -q "topic \"never-$T\" with [1-9]" && fail "a refused restore created a topic"
pass "inverted ranges and --speed without --pace exit 2 with one line naming the values"

# -- an unreachable cluster: no archive created, an existing one untouched ---------
assert_exit 6 "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/never" -t "$T" --timeout 3s
[[ -e $WORK/never ]] && fail "a dump to an unreachable broker created $WORK/never: $(ls -la "$WORK/never")"
sum_before=$(cd "$A" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum)
assert_exit 6 "$KTAPE" dump -b 127.0.0.1:1 -a "$A" -t "$T" --timeout 3s
assert_eq "$sum_before" "$(cd "$A" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum)" \
    "files of an existing archive after a dump to an unreachable broker"
pass "an unreachable broker (exit 6) creates no archive and leaves an existing one untouched"

# -- run accounting: a failed run counts what it committed ----------------------------
# A plain file where partition 1's segment directory belongs makes every
# commit of partition 1 fail (as a full disk would), while partition 0's
# segments commit.
F="it-integrity-fail-$RUN_ID"
create_topic "$F" 2
kcli kafka-producer-perf-test --topic "$F" --num-records 60000 --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="$BS" acks=1 linger.ms=20 batch.size=500000 >/dev/null 2>&1 || fail "perf-test"
AF="$WORK/archive-fail"
"$KTAPE" dump -b "$BS" -a "$AF" -t "$T" -q || fail "dump to create $AF"
mkdir -p "$AF/segments/$F/g0"
echo "not a directory" >"$AF/segments/$F/g0/p1"
rc=0
"$KTAPE" dump -b "$BS" -a "$AF" -t "$F" --segment-size 64K --json >"$WORK/fail.json" 2>"$WORK/fail.err" || rc=$?
[[ $rc != 0 ]] || fail "a dump whose commits fail exited 0"
committed=$(sql "$AF" "select coalesce(sum(records), 0) from segments where run_id = 2")
((committed > 0)) || fail "partition 0 committed nothing: $(cat "$WORK/fail.err")"
# one partition's failure does not stop the other: all of partition 0 is in
p0=$(kcat -C -b "$BS" -t "$F" -p 0 -e -q | wc -l)
assert_eq "$p0" "$(sql "$AF" "select coalesce(sum(records), 0) from segments where run_id = 2 and partition = 0")" \
    "records of partition 0 archived while partition 1 failed"
grep -q "1 partition(s) failed, the first: .*p1.*the other 1 were dumped" "$WORK/fail.err" ||
    fail "the final error does not sum up the failed partition: $(cat "$WORK/fail.err")"
assert_eq "failed $committed" "$(sql "$AF" "select status||' '||records from runs where run_id = 2")" "runs row of the failed run"
assert_eq "$(sql "$AF" "select sum(file_bytes) from segments where run_id = 2")" "$(sql "$AF" "select bytes from runs where run_id = 2")" "bytes of the failed run"
assert_eq "$committed" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$WORK/fail.json")" \
    "records in the failed run's --json summary"
pass "a failed run claims the $committed records it committed"

# -- run accounting: a crashed run counts its segments, and reindex knows it ----------
K="it-integrity-kill-$RUN_ID"
create_topic "$K" 1
kcli kafka-producer-perf-test --topic "$K" --num-records 1000000 --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="$BS" acks=1 linger.ms=20 batch.size=1000000 >/dev/null 2>&1 || fail "perf-test"
AK="$WORK/archive-kill"
"$KTAPE" dump -b "$BS" -a "$AK" -t "$T" -q || fail "dump to create $AK"
"$KTAPE" dump -b "$BS" -a "$AK" -t "$K" -q --segment-size 256K &
pid=$!
for _ in $(seq 400); do
    n=$(sql "$AK" "select count(*) from segments where run_id = 2" 2>/dev/null || echo 0)
    ((n >= 3)) && break
    sleep 0.02
done
kill -9 "$pid" 2>/dev/null || fail "the dump ended before it could be killed"
wait "$pid" 2>/dev/null || true
((n >= 3)) || fail "the dump committed no segment before it was killed"
"$KTAPE" ls -a "$AK" >/dev/null || fail "ls"
# the next writer open (any dump) finds the run crashed
"$KTAPE" dump -b "$BS" -a "$AK" -t "$T" -q || fail "dump after the kill"
seg=$(sql "$AK" "select sum(records)||' '||sum(file_bytes) from segments where run_id = 2")
assert_eq "crashed $seg" "$(sql "$AK" "select status||' '||records||' '||bytes from runs where run_id = 2")" \
    "runs row of the crashed run"
[[ $seg != "0 0" && $seg != " " ]] || fail "the crashed run committed nothing"
ls "$AK/meta/" | grep -qx "0000000002-dump.ktm" || fail "no metadata file for the crashed run: $(ls "$AK/meta")"
"$KTAPE" ls -a "$AK" --runs >"$WORK/runs.txt" || fail "ls --runs"
rm -f "$AK"/catalog.db*
"$KTAPE" reindex -a "$AK" >/dev/null 2>"$WORK/reindex.err" || fail "reindex: $(cat "$WORK/reindex.err")"
assert_eq "crashed $seg" "$(sql "$AK" "select status||' '||records||' '||bytes from runs where run_id = 2")" \
    "the crashed run after reindex"
pass "a crashed run counts its committed segments ($seg), its metadata file lets reindex keep it"
