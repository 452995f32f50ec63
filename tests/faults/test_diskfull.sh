#!/usr/bin/env bash
# A full disk (issue #12): a dump that fills an 8 MiB tmpfs fails with one
# line naming the path, the archive stays consistent, readers keep working,
# reindex fails leaving the old catalog, and after space is freed verify
# passes and the next dump resumes. Needs root (mount).
source "$KTAPE_SRC/tests/integration/lib.sh"

[[ $(id -u) == 0 ]] || fail "needs root to mount a tmpfs"
MNT="$WORK/small"
mkdir -p "$MNT"
cleanup() {
    if mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=8m tmpfs "$MNT" || fail "cannot mount a tmpfs at $MNT"

A="$MNT/archive"
T="ft-full-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))
N=1600
# 1600 random (incompressible) 8 KiB values: 12.5 MiB, more than the tmpfs holds
create_topic "$T" 2
python3 - "$N" "$B" >"$WORK/spec" <<'PY'
import os, sys
n, b = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(f"{i % 2}\t{b + i}\tk{i}\thex:{os.urandom(8192).hex()}")
PY
produce_spec "$T" "$WORK/spec" --plain

# -- the dump that fills the disk -----------------------------------------------------
rc=0
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q --segment-size 512K 2>"$WORK/dump.err" || rc=$?
assert_eq 1 "$rc" "exit code of a dump that filled the disk ($(cat "$WORK/dump.err"))"
assert_eq 1 "$(wc -l <"$WORK/dump.err")" "lines of the error"
grep -Eq "no space left on device writing $MNT/archive/[^ ]+" "$WORK/dump.err" ||
    fail "the error does not name the path: $(cat "$WORK/dump.err")"
pass "dump on a full disk: exit 1, $(cat "$WORK/dump.err")"
# the dump removed its unfinished segment: fill the disk again, to the last block
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null && fail "dd filled no disk"
assert_eq 0 "$(df --output=avail "$MNT" | tail -1 | tr -d ' ')" "free space on the filled disk"

# -- readers on the full disk ---------------------------------------------------------------
"$KTAPE" ls -a "$A" >"$WORK/ls.out" 2>"$WORK/err" || fail "ls on a full disk: $(cat "$WORK/err")"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>"$WORK/err" || fail "verify on a full disk: $(cat "$WORK/err" "$WORK/verify.out")"
"$KTAPE" cat -a "$A" -t "$T" --format '%k\n' >"$WORK/cat.out" 2>"$WORK/err" || fail "cat on a full disk: $(cat "$WORK/err")"
have=$(wc -l <"$WORK/cat.out")
[[ $have -gt 0 && $have -lt $N ]] || fail "records archived before the disk filled: $have"
assert_eq "$have" "$(sort -u "$WORK/cat.out" | wc -l)" "distinct records cat prints"
pass "ls, verify, cat on the full disk ($have of $N records archived)"

# -- reindex on the full disk fails and keeps the old catalog -------------------------------
sum_before=$(sha256sum "$A/catalog.db" | cut -d' ' -f1)
rc=0
"$KTAPE" reindex -a "$A" 2>"$WORK/ri.err" || rc=$?
assert_eq 1 "$rc" "exit code of reindex on a full disk ($(cat "$WORK/ri.err"))"
grep -q "no space left on device writing $MNT/archive/" "$WORK/ri.err" || fail "reindex message: $(cat "$WORK/ri.err")"
grep -q "damaged" "$WORK/ri.err" && fail "reindex calls the catalog damaged: $(cat "$WORK/ri.err")"
assert_eq "$sum_before" "$(sha256sum "$A/catalog.db" | cut -d' ' -f1)" "catalog.db after the failed reindex"
[[ ! -e $A/tmp/catalog.db.reindex ]] || fail "reindex left its new catalog in tmp/"
"$KTAPE" cat -a "$A" -t "$T" --format '%k\n' 2>/dev/null | wc -l >"$WORK/n"
assert_eq "$have" "$(cat "$WORK/n")" "records readable after the failed reindex"
pass "reindex on the full disk: exit 1, $(tail -1 "$WORK/ri.err"); the old catalog kept"

# -- space freed: consistent, and the next dump resumes ---------------------------------------
rm "$MNT/filler"
mount -o remount,size=64m "$MNT" || fail "cannot grow the tmpfs"
"$KTAPE" verify -a "$A" >/dev/null 2>"$WORK/err" || fail "verify after space was freed: $(cat "$WORK/err")"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q 2>"$WORK/err" || fail "the next dump: $(cat "$WORK/err")"
"$KTAPE" verify -a "$A" >/dev/null 2>"$WORK/err" || fail "verify after the next dump: $(cat "$WORK/err")"
"$KTAPE" cat -a "$A" -t "$T" --format '%k\n' >"$WORK/cat2.out" 2>"$WORK/err" || fail "cat: $(cat "$WORK/err")"
assert_eq "$N" "$(wc -l <"$WORK/cat2.out")" "records archived after the resumed dump"
assert_eq "$N" "$(sort -u "$WORK/cat2.out" | wc -l)" "distinct records (none twice)"
"$KTAPE" compare -b "$BS" -a "$A" -t "$T" >/dev/null 2>"$WORK/err" || fail "compare with the topic: $(cat "$WORK/err")"
pass "after space was freed: verify passes, the next dump resumed, all $N records once, compare agrees"
