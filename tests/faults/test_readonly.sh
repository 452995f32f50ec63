#!/usr/bin/env bash
# Read-only archives (issue #12) and restore as a reader (issue #13), on a
# real read-only bind mount, against the real broker. Needs root (mount).
source "$KTAPE_SRC/tests/integration/lib.sh"

[[ $(id -u) == 0 ]] || fail "needs root to mount a read-only bind mount"
MNT="$WORK/ro"
mkdir -p "$MNT"
cleanup() {
    # the mount first: rm -rf must not walk into it
    if mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT"; fi
    [[ -z ${PACED_PID:-} ]] || kill "$PACED_PID" 2>/dev/null || true
    # (a failure before its kill -9 left it writing the removed archive)
    [[ -z ${KPID:-} ]] || kill -9 "$KPID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mount_ro() { # dir
    mount --bind "$1" "$MNT" && mount -o remount,bind,ro "$MNT" || fail "cannot mount $1 read-only at $MNT"
}
snapshot() { (cd "$MNT" && find . -printf '%p %s %T@\n' | sort); }

A="$WORK/archive"
T="ft-ro-$RUN_ID"
G="ft-ro-group-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))

# 3 partitions of plain records, and a partition with transaction gaps that
# a consumer group has read part of (for --groups from memory)
create_topic "$T" 3
for i in $(seq 0 299); do printf '%d\t%d\tk%d\tvalue-%d\n' $((i % 3)) $((B + i)) "$i" "$i"; done >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
X="txg-$T"
create_topic "$X" 1
{
    for i in 1 2 3; do printf '0\t%s\tk%d\tv%d\n' $((B + i)) "$i" "$i"; done
    echo "#begin"; printf '0\t%s\tk\taborted-a\n0\t%s\tk\taborted-b\n' $((B + 4)) $((B + 5)); echo "#abort"
    for i in 6 7 8; do printf '0\t%s\tk%d\tv%d\n' $((B + i)) "$i" "$i"; done
} >"$WORK/spec-txg"
produce_spec "$X" "$WORK/spec-txg"
kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$X" --group "$G" --from-beginning --max-messages 4 \
    --timeout-ms 20000 --isolation-level read_committed >"$WORK/g4.out" 2>/dev/null || true
assert_eq 4 "$(wc -l <"$WORK/g4.out")" "the group consumed 4 records"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -t "$X" -q || fail "dump"
[[ ! -e $A/catalog.db-wal ]] || fail "the dump left catalog.db-wal behind (the test needs a clean archive)"

# -- every reader on a read-only mount, nothing created there ----------------------------
mount_ro "$A"
touch "$MNT/probe" 2>/dev/null && fail "$MNT is writable: the mount is not read-only"
snapshot >"$WORK/before"
"$KTAPE" ls -a "$MNT" >"$WORK/ls.out" 2>"$WORK/ls.err" || fail "ls on a read-only archive: $(cat "$WORK/ls.err")"
grep -q "$T" "$WORK/ls.out" || fail "ls does not show $T"
"$KTAPE" ls -a "$MNT" --runs >/dev/null 2>"$WORK/err" || fail "ls --runs: $(cat "$WORK/err")"
"$KTAPE" ls -a "$MNT" --json >/dev/null 2>"$WORK/err" || fail "ls --json: $(cat "$WORK/err")"
"$KTAPE" cat -a "$MNT" -t "$T" --format '%s\n' >"$WORK/cat.out" 2>"$WORK/err" || fail "cat: $(cat "$WORK/err")"
assert_eq 300 "$(wc -l <"$WORK/cat.out")" "records cat prints from the read-only archive"
assert_eq 300 "$(grep -c '^value-' "$WORK/cat.out")" "values cat prints"
"$KTAPE" verify -a "$MNT" >/dev/null 2>"$WORK/err" || fail "verify: $(cat "$WORK/err")"
"$KTAPE" compare -b "$BS" -a "$MNT" -t "$T" >/dev/null 2>"$WORK/err" || fail "compare: $(cat "$WORK/err")"
"$KTAPE" restore -b "$BS" -a "$MNT" -t "$T" --map "$T=ro-copy-$T" --create-topics -q 2>"$WORK/r.err" ||
    fail "restore from the read-only archive: $(cat "$WORK/r.err")"
assert_eq 1 "$(grep -c 'not recorded' "$WORK/r.err")" "the warning that the run is not recorded, once"
grep -q "cannot be continued" "$WORK/r.err" || fail "the warning does not say the run cannot be continued: $(cat "$WORK/r.err")"
consume_all "ro-copy-$T" "$WORK/copy.out" 300
witness "$WORK/spec" "$WORK/copy.out"
# --groups translates from the run's maps, kept in memory
"$KTAPE" restore -b "$BS" -a "$MNT" -t "$X" --map "$X=ro-restored-$X" --create-topics --groups "$G" -q \
    2>"$WORK/g.err" || fail "restore --groups from the read-only archive: $(cat "$WORK/g.err")"
got=$(kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null |
    awk -v t="ro-restored-$X" '$2==t {print $4}')
assert_eq 4 "$got" "group offset translated from memory (source 11 -> target 4)"
snapshot >"$WORK/after"
diff "$WORK/before" "$WORK/after" >/dev/null || fail "readers changed the read-only archive: $(diff "$WORK/before" "$WORK/after")"
pass "ls, ls --runs, cat, verify, compare, restore (+ --groups) on a read-only mount; no file created"

# a writer is refused with what failed, not 'damaged'
assert_exit 1 "$KTAPE" dump -b "$BS" -a "$MNT" -t "$T" -q
grep -qi "read-only file" "$WORK/last.err" || fail "dump on a read-only archive: $(cat "$WORK/last.err")"
grep -q "damaged" "$WORK/last.err" && fail "a healthy catalog called damaged: $(cat "$WORK/last.err")"
umount "$MNT"
pass "dump on a read-only archive: $(head -1 "$WORK/last.err")"

# -- a snapshot taken while a writer had committed changes in the WAL -----------------------
S="$WORK/snap"
cp -a "$A" "$S"
# a connection that commits and dies without checkpointing leaves a non-empty -wal
python3 - "$S/catalog.db" <<'PY'
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("INSERT OR REPLACE INTO archive(key, value) VALUES ('ft-ro-probe', 'in-the-wal')")
os._exit(0)
PY
[[ -s $S/catalog.db-wal && -e $S/catalog.db-shm ]] || fail "the WAL setup did not leave -wal and -shm"
mount_ro "$S"
snapshot >"$WORK/before"
"$KTAPE" ls -a "$MNT" >/dev/null 2>"$WORK/err" || fail "ls with -wal and -shm on a read-only mount: $(cat "$WORK/err")"
"$KTAPE" cat -a "$MNT" -t "$T" --format '%s\n' 2>"$WORK/err" | wc -l >"$WORK/n" || true
assert_eq 300 "$(cat "$WORK/n")" "cat with a WAL on a read-only mount"
snapshot >"$WORK/after"
diff "$WORK/before" "$WORK/after" >/dev/null || fail "readers changed the read-only archive: $(diff "$WORK/before" "$WORK/after")"
umount "$MNT"
# without -shm SQLite cannot read the WAL read-only: exactly that, in one line
rm "$S/catalog.db-shm"
mount_ro "$S"
assert_exit 1 "$KTAPE" ls -a "$MNT"
assert_eq 1 "$(wc -l <"$WORK/last.err")" "lines of the message"
grep -q "catalog.db-wal holds changes not yet in catalog.db" "$WORK/last.err" ||
    fail "message for an unreadable WAL: $(cat "$WORK/last.err")"
grep -q "damaged" "$WORK/last.err" && fail "a healthy catalog called damaged: $(cat "$WORK/last.err")"
umount "$MNT"
pass "a -wal on a read-only mount: read with its -shm; without: $(cat "$WORK/last.err")"

# -- a directory without write permission, as an ordinary user --------------------------
P="$WORK/perm"
cp -a "$A" "$P"
chmod 755 "$WORK"
chmod -R a+rX "$P"
chmod a-w "$P"
(cd "$P" && find . | sort) >"$WORK/before"
runuser -u nobody -- "$KTAPE" ls -a "$P" >/dev/null 2>"$WORK/err" || fail "ls in a read-only directory: $(cat "$WORK/err")"
runuser -u nobody -- "$KTAPE" verify -a "$P" >/dev/null 2>"$WORK/err" || fail "verify in a read-only directory: $(cat "$WORK/err")"
rc=0
runuser -u nobody -- "$KTAPE" dump -b "$BS" -a "$P" -t "$T" -q 2>"$WORK/err" || rc=$?
assert_eq 1 "$rc" "exit code of dump without write permission"
grep -qi "permission denied" "$WORK/err" || fail "dump without permission: $(cat "$WORK/err")"
(cd "$P" && find . | sort) >"$WORK/after"
diff "$WORK/before" "$WORK/after" >/dev/null || fail "files created in a read-only directory: $(diff "$WORK/before" "$WORK/after")"
chmod u+w "$P"
pass "a directory without write permission (user nobody): readers work, dump says $(head -1 "$WORK/err")"

# -- restore does not take the writer lock (issue #13) -------------------------------------
# the dump's topic first, so that what runs during the restore is only the
# dump and reindex (under a second here)
T2="ft-ro2-$RUN_ID"
create_topic "$T2" 1
printf '0\t%d\tk\tv\n' "$B" >"$WORK/spec2"
produce_spec "$T2" "$WORK/spec2" --plain
# a rate-limited restore (300 records at 60/s: 5 s) while dumps run
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=paced-$T" --create-topics --rate-msgs 60 -q \
    2>"$WORK/paced.err" &
PACED_PID=$!
for _ in $(seq 100); do
    [[ $(sql "$A" "select count(*) from runs where kind='restore' and status='running'") == 1 ]] && break
    sleep 0.1
done
RID=$(sql "$A" "select run_id from runs where kind='restore' and status='running'")
[[ -n $RID ]] || fail "the restore did not start: $(cat "$WORK/paced.err")"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T2" -q 2>"$WORK/d.err" || fail "dump while a restore runs: $(cat "$WORK/d.err")"
kill -0 "$PACED_PID" 2>/dev/null || fail "the restore ended before the dump did: the test proves nothing"
assert_eq running "$(sql "$A" "select status from runs where run_id=$RID")" "the live restore after the dump's recovery"
assert_exit 3 "$KTAPE" reindex -a "$A"
grep -q "running restore" "$WORK/last.err" || fail "reindex during a restore: $(cat "$WORK/last.err")"
rc=0
wait "$PACED_PID" || rc=$?
PACED_PID=
assert_eq 0 "$rc" "paced restore exit code ($(cat "$WORK/paced.err"))"
assert_eq ok "$(sql "$A" "select status from runs where run_id=$RID")" "the restore's run"
assert_eq ok "$(sql "$A" "select status from runs where kind='dump' order by run_id desc limit 1")" "the dump's run"
[[ -e $A/meta/$(printf '%010d' "$RID")-restore.ktm ]] || fail "meta of the restore run missing"
[[ ! -e $A/live/$(printf '%010d' "$RID").lock ]] || fail "the restore left its live lock file"
consume_all "paced-$T" "$WORK/paced.out" 300
witness "$WORK/spec" "$WORK/paced.out"
pass "dump (exit 0) while a paced restore runs; the restore not marked crashed; both runs recorded"

# -- a killed restore is crashed at the next writer open, and continues ----------------------
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=killed-$T" --create-topics --rate-msgs 20 -q 2>/dev/null &
KPID=$!
# killed once a checkpoint has recorded some records: a paced run
# checkpoints every second (at 20/s its first 256 records take 12.8 s, and
# a restore that looked at the clock only every 256 records recorded none
# within the 10 s)
for _ in $(seq 100); do
    n=$(sql "$A" "select coalesce(max(records),0) from runs where kind='restore' and status='running'")
    [[ $n -gt 0 ]] && break
    sleep 0.1
done
[[ $n -gt 0 ]] || fail "the restore to be killed recorded no checkpoint"
kill -9 "$KPID"
wait "$KPID" 2>/dev/null || true
KID=$(sql "$A" "select run_id from runs where kind='restore' order by run_id desc limit 1")
assert_eq running "$(sql "$A" "select status from runs where run_id=$KID")" "the killed restore before a writer"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T2" -q 2>"$WORK/d.err" || fail "dump after a killed restore: $(cat "$WORK/d.err")"
assert_eq crashed "$(sql "$A" "select status from runs where run_id=$KID")" "the killed restore after a writer's recovery"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=killed-$T" --create-topics -q 2>"$WORK/k.err" ||
    fail "continuing the killed restore: $(cat "$WORK/k.err")"
grep -q "continuing the interrupted restore run $KID" "$WORK/k.err" || fail "not continued: $(cat "$WORK/k.err")"
# none twice: the topic's offsets are its records (an idempotent producer,
# no transactions), so its high watermarks sum to exactly 300; (this
# replaces a console consumer waiting 20 s for a 301st record)
hw=$(kcat -b "$BS" -Q -t "killed-$T:0:-1" -t "killed-$T:1:-1" -t "killed-$T:2:-1" 2>/dev/null |
    awk '{s += $NF} END {print s + 0}')
assert_eq 300 "$hw" "records in killed-$T by its high watermarks"
consume_all "killed-$T" "$WORK/killed.out" 300
witness "$WORK/spec" "$WORK/killed.out"
pass "a killed restore is marked crashed by the next dump and continued exactly"
