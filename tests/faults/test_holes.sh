#!/usr/bin/env bash
# Reindex never hides a hole (issue #12). One partition archived in seven
# segments from the real broker, then each kind of damage on its own copy:
#  - a committed segment file deleted: reindex exits 5 and records the
#    offsets as missing; ls (table, --json, --html) shows them, verify exits 5
#    naming them, cat and restore refuse them (exit 4), restore --allow-gaps
#    writes exactly the rest (counted by Kafka's own console consumer);
#  - a damaged footer, a damaged header: every record still read, before and
#    after reindex, by ktape cat and restore;
#  - a truncated file: its complete blocks are kept, the rest is missing;
#  - a damaged run metadata file: verify names it, reindex exits 5;
#  - a range skipped at the end of a partition is a gap at once.
source "$KTAPE_SRC/tests/integration/lib.sh"

N=30000
topic="fault-holes-$RUN_ID"
create_topic "$topic" 1
seq 0 $((N - 1)) | awk '{printf "k%d:value-%d-padding-padding-padding-padding\n", $1 % 50, $1}' |
    kcat -P -b "$BS" -t "$topic" -K: || fail "kcat could not produce"
A="$WORK/arch"
"$KTAPE" dump -b "$BS" -a "$A" -t "$topic" --segment-size 256K --block-size 32K -q || fail "dump"
P="$A/segments/$topic/g0/p0"
mapfile -t segs < <(ls "$P")
((${#segs[@]} >= 5)) || fail "expected several segments, got ${#segs[@]}"
mid=${segs[2]} # a middle segment
mid_first=$((10#${mid%%-*}))
mid_last=${mid#*-}
mid_last=$((10#${mid_last%.kts}))
mid_count=$((mid_last - mid_first + 1))

copy() { rm -rf "$WORK/$1" && cp -a "$A" "$WORK/$1" && echo "$WORK/$1"; }
poke() { printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; } # file pos hexbyte
count_cat() { "$KTAPE" cat -a "$1" -t "$topic" -f '%o\n' 2>/dev/null | wc -l; }

# ---- a deleted segment ----
B=$(copy deleted)
rm "$B/segments/$topic/g0/p0/$mid"
assert_exit 5 "$KTAPE" reindex -a "$B"
grep -q "1 missing range(s), $mid_count offset(s)" "$WORK/last.out" || fail "reindex did not report the hole: $(cat "$WORK/last.out")"
"$KTAPE" ls -a "$B" >"$WORK/ls.txt" || fail "ls exited $?"
grep -Eq "^$topic +0 +0 +missing +$mid_first\.\.$mid_last +$mid_count " "$WORK/ls.txt" ||
    fail "ls does not show the missing range: $(cat "$WORK/ls.txt")"
grep -q "segments/$topic/g0/p0/$mid: segment file is gone" "$WORK/ls.txt" || fail "ls does not name the file"
"$KTAPE" ls -a "$B" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = d["topics"][0]["partitions"][0]
m = p["missing"]
assert len(m) == 1 and m[0]["first_offset"] == int(sys.argv[1]) and m[0]["last_offset"] == int(sys.argv[2]), m
assert m[0]["path"].endswith(sys.argv[3]), m
assert d["totals"]["missing_offsets"] == int(sys.argv[2]) - int(sys.argv[1]) + 1
assert all(not (r["first_offset"] <= int(sys.argv[1]) <= r["last_offset"]) for r in p["ranges"]), p["ranges"]
' "$mid_first" "$mid_last" "$mid" || fail "ls --json does not list the missing range"
"$KTAPE" ls -a "$B" --html "$WORK/ls.html" >/dev/null || fail "ls --html"
grep -q "class=\"span missing\" data-kind=\"missing\"" "$WORK/ls.html" || fail "the HTML timeline has no missing span"
assert_exit 5 "$KTAPE" verify -a "$B"
grep -q "^missing .*$mid.*offsets $mid_first\.\.$mid_last" "$WORK/last.out" || fail "verify does not name the hole: $(cat "$WORK/last.out")"
assert_exit 4 "$KTAPE" cat -a "$B" -t "$topic" -f '%o\n'
(($(wc -l <"$WORK/last.out") == N - mid_count)) || fail "cat did not print every readable record"
grep -q "missing range" "$WORK/last.err" || fail "cat did not say why: $(cat "$WORK/last.err")"
dst="$topic.restored"
assert_exit 4 "$KTAPE" restore -b "$BS" -a "$B" -t "$topic" --map "$topic=$dst" --create-topics -q
grep -q "allow-gaps" "$WORK/last.err" || fail "restore did not name --allow-gaps: $(cat "$WORK/last.err")"
"$KTAPE" restore -b "$BS" -a "$B" -t "$topic" --map "$topic=$dst" --create-topics --allow-gaps -q 2>"$WORK/r.err" ||
    fail "restore --allow-gaps exited $?: $(cat "$WORK/r.err")"
consume_all "$dst" "$WORK/dst.txt" $((N - mid_count))
(($(wc -l <"$WORK/dst.txt") == N - mid_count)) || fail "the target holds $(wc -l <"$WORK/dst.txt") records, expected $((N - mid_count))"
# a second reindex finds the same hole: the claim lives in the run's file
assert_exit 5 "$KTAPE" reindex -a "$B"
pass "a deleted segment is a missing range everywhere"

# ---- a damaged footer ----
C=$(copy footer)
f="$C/segments/$topic/g0/p0/$mid"
poke "$f" $(($(stat -c %s "$f") - 10)) ff
(($(count_cat "$C") == N)) || fail "cat before reindex lost records of a file with a damaged footer"
"$KTAPE" reindex -a "$C" 2>"$WORK/reindex.err" || fail "reindex of a damaged footer exited $?"
grep -q "$mid is damaged" "$WORK/reindex.err" || fail "reindex did not name the damaged file"
(($(count_cat "$C") == N)) || fail "a damaged footer cost records after reindex"
assert_exit 5 "$KTAPE" verify -a "$C"
grep -q "^footer .*$mid.*still read" "$WORK/last.out" || fail "verify's footer report: $(cat "$WORK/last.out")"
pass "a damaged footer costs no record"

# ---- a damaged header ----
E=$(copy header)
poke "$E/segments/$topic/g0/p0/$mid" 30 01
(($(count_cat "$E") == N)) || fail "cat lost records of a file with a damaged header"
"$KTAPE" reindex -a "$E" 2>/dev/null || fail "reindex of a damaged header exited $?"
(($(count_cat "$E") == N)) || fail "a damaged header cost records after reindex"
dst2="$topic.header"
"$KTAPE" restore -b "$BS" -a "$E" -t "$topic" --map "$topic=$dst2" --create-topics -q || fail "restore (damaged header)"
consume_all "$dst2" "$WORK/dst2.txt" $N
(($(wc -l <"$WORK/dst2.txt") == N)) || fail "restore of a damaged header wrote $(wc -l <"$WORK/dst2.txt") records"
assert_exit 5 "$KTAPE" verify -a "$E"
grep -q "^header .*$mid" "$WORK/last.out" || fail "verify does not report the header"
pass "a damaged header costs no record"

# ---- a truncated file ----
D=$(copy truncated)
f="$D/segments/$topic/g0/p0/$mid"
truncate -s $(($(stat -c %s "$f") / 2)) "$f"
assert_exit 5 "$KTAPE" reindex -a "$D"
sqlite3 "file:$D/catalog.db?mode=ro" "SELECT first_offset, last_offset FROM missing_ranges" >"$WORK/miss.txt"
IFS='|' read -r mf ml <"$WORK/miss.txt"
((ml == mid_last && mf > mid_first && mf < mid_last)) || fail "missing range $(cat "$WORK/miss.txt"), segment $mid_first..$mid_last"
assert_exit 4 "$KTAPE" cat -a "$D" -t "$topic" -f '%o\n'
(($(wc -l <"$WORK/last.out") == N - (ml - mf + 1))) || fail "cat after reindex of a truncated file"
pass "a truncated file keeps its complete blocks"

# ---- a damaged file the catalog does not know: the next dump indexes it ----
R=$(copy recovered)
last=${segs[-1]}
# as after a crash between the rename and the catalog's commit
sqlite3 "$R/catalog.db" "PRAGMA foreign_keys=ON; DELETE FROM segments WHERE path = 'segments/$topic/g0/p0/$last'"
f="$R/segments/$topic/g0/p0/$last"
truncate -s $(($(stat -c %s "$f") / 2)) "$f"
assert_exit 5 "$KTAPE" verify -a "$R"
grep -q "^extra .*$last.*the next dump indexes it" "$WORK/last.out" || fail "verify's advice: $(cat "$WORK/last.out")"
"$KTAPE" dump -b "$BS" -a "$R" -t "$topic" -q 2>"$WORK/rec.err" || fail "dump after the damage: $(cat "$WORK/rec.err")"
grep -q "1 damaged segment file(s) the catalog did not know: their readable blocks are indexed" "$WORK/rec.err" ||
    fail "the dump did not say what it did with the damaged file: $(cat "$WORK/rec.err")"
"$KTAPE" ls -a "$R" | grep -Eq "^$topic +0 +0 +missing .*" || fail "the damaged file's lost tail is not listed as missing"
pass "a damaged file the catalog did not know is indexed by the next dump, as verify said"

# ---- a damaged run metadata file ----
F=$(copy meta)
m=$(ls "$F/meta" | head -n1)
poke "$F/meta/$m" 40 01
assert_exit 5 "$KTAPE" verify -a "$F"
grep -q "^meta .*meta/$m" "$WORK/last.out" || fail "verify does not check metadata files: $(cat "$WORK/last.out")"
assert_exit 5 "$KTAPE" reindex -a "$F"
grep -q "meta/$m" "$WORK/last.err" || fail "reindex did not name the damaged metadata file"
pass "a damaged metadata file is reported"

# ---- a range skipped at the end of a partition ----
t2="fault-gapend-$RUN_ID"
create_topic "$t2" 1
seq 0 99 | kcat -P -b "$BS" -t "$t2"
G="$WORK/gapend"
"$KTAPE" dump -b "$BS" -a "$G" -t "$t2" --to-offset 10 -q || fail "dump --to-offset"
"$KTAPE" dump -b "$BS" -a "$G" -t "$t2" --from-offset 1000 -q 2>/dev/null || fail "dump --from-offset"
"$KTAPE" ls -a "$G" | grep -Eq "^$t2 +0 +0 +gap +10\.\.99 " || fail "a skipped end is not a gap: $("$KTAPE" ls -a "$G")"
pass "a skipped range is a gap as soon as it is skipped"
