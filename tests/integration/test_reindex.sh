#!/usr/bin/env bash
# ktape reindex: an archive of several dumps from the real broker (with a
# gap, two topics, headers) loses its catalog.db; reindex rebuilds it from
# the segment and metadata files, and ls, ls --runs, ls --json and cat
# print exactly what they printed before. The writer lock and errors.
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
t1="it-reindex-a-$RUN_ID"
t2="it-reindex-b-$RUN_ID"
create_topic "$t1" 2
create_topic "$t2" 1
for i in $(seq 0 199); do echo "k$((i % 5)):v$i"; done | kcat -P -b "$BS" -t "$t1" -K: -H src=it
seq 0 99 | kcat -P -b "$BS" -t "$t2"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t1" -t "$t2" -q || fail "dump 1"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t2" -q --from-offset 50 || fail "dump 2 (all archived already)"
seq 100 199 | kcat -P -b "$BS" -t "$t2"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t1" -t "$t2" -q || fail "dump 3"
seq 200 299 | kcat -P -b "$BS" -t "$t2"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t2" -q --from-offset 250 || fail "dump 4 (leaves a gap)"

views() { # dir -> everything ls and cat say
    "$KTAPE" ls -a "$1" -t "$t1" -t "$t2" --runs | sed 1d # line 1 names the directory
    "$KTAPE" ls -a "$1" -t "$t1" -t "$t2" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("archive"); print(json.dumps(d, sort_keys=True, indent=1))'
    "$KTAPE" cat -a "$1" -t "$t1" -t "$t2"
    "$KTAPE" cat -a "$1" -t "$t2" --from-offset 40 --to-offset 260 -f '%p %o %k %s %h\n'
}
views "$A" >"$WORK/before"
grep -Eq "^$t2 +0 +0 +gap +200\.\.249 " "$WORK/before" || fail "the archive should have a gap: $(head -20 "$WORK/before")"
before_id=$(grep -o '"archive_id": "[0-9a-f]*"' "$WORK/before")

rm -f "$A/catalog.db" "$A/catalog.db-wal" "$A/catalog.db-shm"
assert_exit 5 "$KTAPE" ls -a "$A" # a missing catalog is a damaged archive (exit 5)
grep -q "reindex" "$WORK/last.err" || fail "ls without a catalog does not suggest reindex: $(cat "$WORK/last.err")"
"$KTAPE" reindex -a "$A" >"$WORK/reindex.out" || fail "reindex exited $?"
nseg=$(find "$A/segments" -name '*.kts' | wc -l)
nmeta=$(find "$A/meta" -name '*.ktm' | wc -l)
grep -qx "reindexed $A: $nseg segment(s), $nmeta run(s)" "$WORK/reindex.out" || fail "reindex said: $(cat "$WORK/reindex.out")"
views "$A" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "ls/cat differ after reindex (diff above)"
grep -q "$before_id" "$WORK/after" || fail "the archive id changed"
"$KTAPE" verify -a "$A" >/dev/null || fail "verify after reindex"
pass "reindex rebuilt a catalog that ls and cat cannot tell from the original"

# a damaged catalog is rebuilt the same way
head -c 4096 /dev/urandom >"$A/catalog.db"
rm -f "$A/catalog.db-wal" "$A/catalog.db-shm"
"$KTAPE" reindex -a "$A" --json >"$WORK/reindex.json" || fail "reindex over a damaged catalog"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d=={"command":"reindex","segments":int(sys.argv[2]),"runs":int(sys.argv[3]),"damaged_files":0,"unreadable_files":0,"bad_meta_files":0,"missing_ranges":0,"missing_offsets":0}, d' \
    "$WORK/reindex.json" "$nseg" "$nmeta" || fail "reindex --json: $(cat "$WORK/reindex.json")"
views "$A" >"$WORK/after2"
diff "$WORK/before" "$WORK/after2" >&2 || fail "ls/cat differ after reindexing a damaged catalog"
pass "a damaged catalog is rebuilt too"

# the next incremental dump continues where the archive ended
seq 300 309 | kcat -P -b "$BS" -t "$t2"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t2" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["records"]==10, d' ||
    fail "the dump after reindex did not resume where the archive ended"
pass "dump resumes after reindex"

# -- segment files of format 1 (written by older ktape) stay readable: a
# frozen version 1 vector placed in the archive is indexed, printed exactly
# as its vector says, and verified, beside the format 2 files of the dumps
v1dir="$A/segments/system-metrics/g0/p2"
mkdir -p "$v1dir"
cp "$KTAPE_SRC/format/vectors/v1/multiblock.kts" "$v1dir/00000000000000001000-00000000000000001398.kts"
"$KTAPE" reindex -a "$A" >/dev/null || fail "reindex with a format 1 segment"
"$KTAPE" cat -a "$A" -t system-metrics >"$WORK/v1.jsonl" || fail "cat of a format 1 segment"
cmp "$WORK/v1.jsonl" "$KTAPE_SRC/format/vectors/v1/multiblock.jsonl" >&2 ||
    fail "the format 1 segment prints differently from its vector"
"$KTAPE" verify -a "$A" >/dev/null || fail "verify of an archive with format 1 and 2 segments"
"$KTAPE" cat -a "$A" -t "$t2" --from-offset 300 -f '%s\n' | tr '\n' ' ' | grep -qx "300 301 302 303 304 305 306 307 308 309 " ||
    fail "format 2 records after adding a format 1 file"
pass "format 1 segments are read, printed and verified beside format 2 ones"

hold_lock "$A"
assert_exit 3 "$KTAPE" reindex -a "$A"
release_lock
assert_exit 7 "$KTAPE" reindex -a "$WORK"
assert_exit 2 "$KTAPE" reindex
assert_exit 2 "$KTAPE" reindex -a "$A" extra
"$KTAPE" reindex --help | grep -q "Example:" || fail "reindex --help"
pass "lock, not an archive, usage errors"
