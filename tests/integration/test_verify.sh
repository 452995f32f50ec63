#!/usr/bin/env bash
# ktape verify on an archive dumped from the real broker: a clean archive
# passes; a flipped byte in a block's data, a truncated segment, a deleted
# segment and unknown files are each reported with file and position and
# exit 5; cat on the damaged archive prints the records before the damaged
# block, then exits 5 naming file, block and byte.
source "$(dirname "$0")/lib.sh"

A="$WORK/arch"
t="it-verify-$RUN_ID"
create_topic "$t" 1
for i in $(seq 1 3000); do printf 'key-%d:value %d %s\n' $((i % 17)) "$i" "$(printf '%0*d' $((i % 50)) 0)"; done |
    kcat -P -b "$BS" -t "$t" -K:
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" -q --block-size 2K --segment-size 16K || fail "dump"

# catalog facts, read with Python's own SQLite (not ktape)
q() { python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"/catalog.db?mode=ro",uri=True); print("\n".join(" ".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$1" "$2"; }
nseg=$(q "$A" "select count(*) from segments")
((nseg >= 3)) || fail "expected several segments, got $nseg"
((nblk = $(q "$A" "select count(*) from blocks"))) && ((nblk > nseg)) || fail "expected several blocks per segment"

"$KTAPE" verify -a "$A" >"$WORK/v.out" || fail "verify of a clean archive exited $?: $(cat "$WORK/v.out")"
grep -Eq "^verified .*: $nseg file\(s\), $nblk block\(s\), 3000 records, .* in [0-9.]+ s \([0-9]+ MB/s\)$" "$WORK/v.out" ||
    fail "summary: $(cat "$WORK/v.out")"
grep -q "^OK: no problems found" "$WORK/v.out" || fail "no OK line"
"$KTAPE" verify -a "$A" --deep --threads 1 >/dev/null || fail "verify --deep of a clean archive"
"$KTAPE" verify -a "$A" --json >"$WORK/v.json" || fail "verify --json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="ok" and d["problems"]==[] and d["records"]==3000, d' \
    "$WORK/v.json" || fail "verify --json content"
pass "a clean archive verifies ($nseg files, $nblk blocks)"

# -- a flipped byte in the data of block 1 of the second segment
cp -a "$A" "$WORK/flip"
read -r seg pos first < <(q "$WORK/flip" "select s.path, b.pos, b.first_offset from blocks b join segments s using(segment_id)
    where b.block_index = 1 order by s.first_offset limit 1 offset 1")
# the zstd data frame follows the block header frame (8 bytes + its frame_size)
python3 - "$WORK/flip/$seg" "$pos" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]) + 4); at = int(sys.argv[2]) + 8 + struct.unpack("<I", f.read(4))[0] + 12
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x40]))
EOF
assert_exit 5 "$KTAPE" verify -a "$WORK/flip"
grep -q "^block   $seg block 1 byte $pos: block data checksum mismatch$" "$WORK/last.out" ||
    fail "flipped byte not reported on its block: $(cat "$WORK/last.out")"
grep -q "^DAMAGED: 1 problem(s): 1 damaged file(s), 0 missing, 0 extra" "$WORK/last.out" || fail "summary: $(cat "$WORK/last.out")"
assert_exit 5 "$KTAPE" verify -a "$WORK/flip" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["problems"]; assert d["status"]=="damaged" and len(p)==1 and p[0]["block"]==1 and p[0]["pos"]==int(sys.argv[2]) and p[0]["error"]=="checksum", d' \
    "$WORK/last.out" "$pos" || fail "verify --json on the damaged archive"
pass "a flipped byte is reported with its file, block and position"

# cat prints everything before the damaged block, then stops with exit 5
rc=0
"$KTAPE" cat -a "$WORK/flip" -t "$t" -f '%o\n' >"$WORK/cat.out" 2>"$WORK/cat.err" || rc=$?
assert_eq 5 "$rc" "cat exit code at a damaged block"
assert_eq "$first" "$(wc -l <"$WORK/cat.out" | tr -d ' ')" "records printed before the damaged block"
assert_eq "$((first - 1))" "$(tail -1 "$WORK/cat.out")" "last record printed"
grep -q "file $WORK/flip/$seg, block 1, byte $pos" "$WORK/cat.err" || fail "cat does not say where: $(cat "$WORK/cat.err")"
# and a range after the damage is still readable
"$KTAPE" cat -a "$WORK/flip" -t "$t" --from-offset 2900 -f '%o\n' | wc -l | grep -qx 100 || fail "cat after the damage"
pass "cat stops at the damaged block after printing the $first records before it"

# -- a truncated segment
cp -a "$A" "$WORK/trunc"
seg2=$(q "$WORK/trunc" "select path from segments order by first_offset limit 1")
size=$(stat -c %s "$WORK/trunc/$seg2")
truncate -s $((size - 100)) "$WORK/trunc/$seg2"
assert_exit 5 "$KTAPE" verify -a "$WORK/trunc"
grep -q "^size    $seg2: file has $((size - 100)) bytes, the catalog says $size (truncated)" "$WORK/last.out" ||
    fail "truncation not reported: $(cat "$WORK/last.out")"
grep -q "^footer  $seg2 byte $((size - 100)): no footer: the file is truncated" "$WORK/last.out" ||
    fail "missing footer not reported: $(cat "$WORK/last.out")"
# cut inside its last block: cat prints the complete blocks, then exit 5
read -r sfirst slast bfirst bpos < <(q "$WORK/trunc" "select s.first_offset, s.last_offset, b.first_offset, b.pos
    from blocks b join segments s using(segment_id) where s.path = '$seg2' order by b.block_index desc limit 1")
truncate -s $((bpos + 100)) "$WORK/trunc/$seg2"
assert_exit 5 "$KTAPE" verify -a "$WORK/trunc"
rc=0
"$KTAPE" cat -a "$WORK/trunc" -t "$t" --from-offset "$sfirst" --to-offset $((slast + 1)) -f '%o\n' >"$WORK/cat.out" \
    2>"$WORK/cat.err" || rc=$?
assert_eq 5 "$rc" "cat exit code on a segment cut short"
assert_eq "$((bfirst - sfirst))" "$(wc -l <"$WORK/cat.out" | tr -d ' ')" "records printed before the cut"
grep -q "offsets $bfirst..$slast of this segment" "$WORK/cat.err" || fail "cat does not say what is missing: $(cat "$WORK/cat.err")"
grep -q "file $WORK/trunc/$seg2" "$WORK/cat.err" || fail "cat does not name the file: $(cat "$WORK/cat.err")"
# a range before the cut reads fine
"$KTAPE" cat -a "$WORK/trunc" -t "$t" --from-offset "$sfirst" --to-offset "$bfirst" -f '%o\n' >/dev/null ||
    fail "cat of the intact part of a cut segment"
pass "a truncated segment is reported; cat stops where it is cut"

# -- a deleted segment, and files the catalog does not know
cp -a "$A" "$WORK/gone"
rm "$WORK/gone/$seg2"
dir=$(dirname "$seg2")
cp "$WORK/gone/$seg" "$WORK/gone/$dir/00000000000099999999-00000000000099999999.kts"
echo hello >"$WORK/gone/segments/notes.txt"
assert_exit 5 "$KTAPE" verify -a "$WORK/gone"
grep -q "^missing $seg2: the catalog lists this file but it does not exist" "$WORK/last.out" ||
    fail "missing file not reported: $(cat "$WORK/last.out")"
grep -q "^extra   $dir/00000000000099999999-00000000000099999999.kts: a segment file the catalog does not list" \
    "$WORK/last.out" || fail "extra segment not reported: $(cat "$WORK/last.out")"
grep -q "^extra   segments/notes.txt: not a segment file" "$WORK/last.out" || fail "extra file not reported"
grep -q "^DAMAGED: 3 problem(s): 0 damaged file(s), 1 missing, 2 extra" "$WORK/last.out" || fail "summary: $(cat "$WORK/last.out")"
pass "missing and extra files are reported"

# -- errors
assert_exit 7 "$KTAPE" verify -a "$WORK/none"
assert_exit 2 "$KTAPE" verify -a "$A" --threads 0
assert_exit 2 "$KTAPE" verify
"$KTAPE" verify --help | grep -q "Exit codes: 0 all is well" || fail "verify --help"
pass "usage errors"
