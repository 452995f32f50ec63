#!/usr/bin/env bash
# ktape prune on an archive of three dump runs from the real broker:
# --dry-run changes nothing; --keep-runs 1 removes the older segments of
# each partition (never the newest), verify still passes, cat prints the
# kept records, ls shows the new start, the prune is a run, and the next
# incremental dump does not dump the pruned offsets again. Time policies,
# the writer lock and usage errors.
source "$(dirname "$0")/lib.sh"

# Holds the archive's writer lock as another process would (one process,
# so that killing it releases the lock at once).
hold_lock() { # dir
    rm -f "$WORK/locked"
    python3 -c 'import fcntl, sys, time
f = open(sys.argv[1] + "/lock", "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)' "$1" "$WORK/locked" >/dev/null 2>&1 &
    holder=$!
    for _ in $(seq 100); do [[ -e $WORK/locked ]] && return; sleep 0.1; done
    fail "could not take the lock of $1"
}
release_lock() {
    kill "$holder"
    wait "$holder" 2>/dev/null || true
}

A="$WORK/arch"
t="it-prune-$RUN_ID"
create_topic "$t" 2
produce() { # partition first last
    seq "$2" "$3" | sed 's/^/v/' | kcat -P -b "$BS" -t "$t" -p "$1"
}
produce 0 0 99
produce 1 0 49
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" -q || fail "dump 1"
produce 0 100 199
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" -q || fail "dump 2"
produce 0 200 299
produce 1 50 69
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" -q || fail "dump 3"

snapshot() { # -> state of the archive: its files (not SQLite's -wal/-shm) and what ls says
    (cd "$A" && find segments meta ktape-archive -type f | sort | xargs md5sum)
    "$KTAPE" ls -a "$A" --runs
}
snapshot >"$WORK/before"
"$KTAPE" prune -a "$A" --keep-runs 1 --dry-run >"$WORK/dry.out" || fail "prune --dry-run exited $?"
grep -q "^dry run: would remove 3 segment(s), 250 records, .*; 2 kept$" "$WORK/dry.out" || fail "dry run: $(cat "$WORK/dry.out")"
grep -q "  $t gen 0 partition 0: 2 segment(s), offsets 0..199; now starts at 200" "$WORK/dry.out" || fail "dry run p0"
grep -q "  $t gen 0 partition 1: 1 segment(s), offsets 0..49; now starts at 50" "$WORK/dry.out" || fail "dry run p1"
grep -q "would remove segments/$t/g0/p0/00000000000000000000-00000000000000000099.kts" "$WORK/dry.out" || fail "dry run files"
snapshot >"$WORK/after-dry"
diff "$WORK/before" "$WORK/after-dry" >&2 || fail "--dry-run changed the archive"
"$KTAPE" prune -a "$A" --keep-runs 1 --dry-run --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["dry_run"] is True and d["run_id"] is None and d["segments_removed"] == 3 and d["records"] == 250, d
assert [p["new_first_offset"] for p in d["partitions"]] == [200, 50], d' || fail "prune --dry-run --json"
pass "--dry-run shows the plan and changes nothing"

"$KTAPE" prune -a "$A" --keep-runs 1 >"$WORK/prune.out" || fail "prune exited $?"
grep -q "^prune run 4: removed 3 segment(s), 250 records, freed .*; 2 kept$" "$WORK/prune.out" || fail "prune: $(cat "$WORK/prune.out")"
[[ -e $A/segments/$t/g0/p0/00000000000000000000-00000000000000000099.kts ]] && fail "a pruned file is still there"
[[ -e $A/segments/$t/g0/p0/00000000000000000200-00000000000000000299.kts ]] || fail "a kept file is gone"
[[ -e $A/meta/0000000004-prune.ktm ]] || fail "no metadata file for the prune run"
"$KTAPE" verify -a "$A" >/dev/null || fail "verify after prune: $("$KTAPE" verify -a "$A")"
"$KTAPE" ls -a "$A" --runs >"$WORK/ls.out"
grep -Eq "^$t +0 +0 +range +200\.\.299 +100 +100 " "$WORK/ls.out" || fail "ls p0 after prune: $(cat "$WORK/ls.out")"
grep -Eq "^$t +0 +1 +range +50\.\.69 +20 +20 " "$WORK/ls.out" || fail "ls p1 after prune: $(cat "$WORK/ls.out")"
grep -Eq "gap|lost" "$WORK/ls.out" && fail "prune left a gap: $(cat "$WORK/ls.out")"
grep -Eq "^ +4 +prune +.* ok +250 .* removed 3 segments \(250 records" "$WORK/ls.out" || fail "no prune run: $(cat "$WORK/ls.out")"
"$KTAPE" cat -a "$A" -t "$t" -f '%p:%o:%s\n' >"$WORK/cat.out"
assert_eq "120" "$(wc -l <"$WORK/cat.out" | tr -d ' ')" "records after prune"
assert_eq "0:200:v200" "$(head -1 "$WORK/cat.out")" "first kept record"
assert_eq "1:69:v69" "$(tail -1 "$WORK/cat.out")" "last kept record"
pass "--keep-runs 1 removed the older segments; verify, ls and cat agree"

# the next incremental dump starts where the last one ended, not at 0
produce 0 300 309
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --json >"$WORK/dump.json" || fail "dump after prune"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["records"]==10, d' "$WORK/dump.json" ||
    fail "the dump after prune archived again what was pruned: $(cat "$WORK/dump.json")"
"$KTAPE" ls -a "$A" | grep -Eq "^$t +0 +0 +range +200\.\.309 " || fail "ls after the next dump: $("$KTAPE" ls -a "$A")"
pass "the next incremental dump does not dump the pruned offsets again"

# -- time policies
"$KTAPE" prune -a "$A" --keep-days 1 >"$WORK/days.out" || fail "prune --keep-days"
grep -q "removed 0 segment(s), 0 records" "$WORK/days.out" || fail "--keep-days 1 removed recent data: $(cat "$WORK/days.out")"
tomorrow=$(($(date +%s) * 1000 + 86400000))
"$KTAPE" prune -a "$A" --before "@$tomorrow" --json >"$WORK/before.json" || fail "prune --before"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["segments_removed"] == 1 and d["records"] == 100 and d["segments_kept"] == 2, d
assert d["files"][0]["path"].endswith("p0/00000000000000000200-00000000000000000299.kts"), d' "$WORK/before.json" ||
    fail "--before: $(cat "$WORK/before.json")"
"$KTAPE" verify -a "$A" >/dev/null || fail "verify after prune --before"
pass "time policies: only old segments go, never the newest of a partition"

# -- the writer lock, and usage errors
hold_lock "$A"
assert_exit 3 "$KTAPE" prune -a "$A" --keep-runs 1
grep -q "in use by another ktape process" "$WORK/last.err" || fail "lock message: $(cat "$WORK/last.err")"
"$KTAPE" prune -a "$A" --keep-runs 1 --dry-run >/dev/null || fail "a dry run needs no lock"
release_lock
assert_exit 2 "$KTAPE" prune -a "$A"
assert_exit 2 "$KTAPE" prune -a "$A" --keep-runs 1 --keep-days 3
assert_exit 2 "$KTAPE" prune -a "$A" --keep-days 0
assert_exit 2 "$KTAPE" prune -a "$A" --keep-runs many
grep -q "many" "$WORK/last.err" || fail "bad value not named: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" prune -a "$A" --before someday
assert_exit 7 "$KTAPE" prune -a "$WORK/none" --keep-runs 1
"$KTAPE" prune --help | grep -q "Examples:" || fail "prune --help"
pass "lock and usage errors"
