#!/usr/bin/env bash
# restore --drop-keys and cat --drop-keys: an erasure list keeps the listed
# keys' records out of a restore (Kafka's console consumer sees exactly the
# others), the offset maps and --groups stay exact across the dropped
# records (the next record a translated group reads is the one it would
# have read on the source), --dry-run counts per partition, the run records
# the list's SHA-256 and the count in 'ls --runs', and a bad list is a
# one-line usage error.
source "$(dirname "$0")/lib.sh"

B=$((($(date +%s) - 60) * 1000))
T="drop-$RUN_ID"
create_topic "$T" 2
# partition 0, offsets 0..9: u0 u1 u2 alice u4 (null key) (empty key) bob (00 ff) u9
# partition 1, offsets 0..4: alice c1 bob c3 "alice2"
{
    printf '0\t%s\tu0\tv0\n0\t%s\tu1\tv1\n0\t%s\tu2\tv2\n' $((B + 1)) $((B + 2)) $((B + 3))
    printf '0\t%s\talice\tgone-1\n0\t%s\tu4\tv4\n' $((B + 4)) $((B + 5))
    printf '0\t%s\t-\tnull-key\n0\t%s\t\tempty-key\n' $((B + 6)) $((B + 7))
    printf '0\t%s\tbob\tgone-2\n0\t%s\thex:00ff\tgone-3\n0\t%s\tu9\tv9\n' $((B + 8)) $((B + 9)) $((B + 10))
    printf '1\t%s\talice\tgone-4\n1\t%s\tc1\tw1\n1\t%s\tbob\tgone-5\n' $((B + 1)) $((B + 2)) $((B + 3))
    printf '1\t%s\tc3\tw3\n1\t%s\talice2\tw4\n' $((B + 4)) $((B + 5))
} >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
# what the restore must carry: every line whose value is not gone-*
grep -v 'gone-' "$WORK/spec" >"$WORK/spec-kept"
# the list: CRLF and LF lines, an empty line (ignored: the empty key stays),
# a binary key in base64 (00 ff), a key nobody has
printf 'alice\r\n\nbob\nbase64:AP8=\nnobody\n' >"$WORK/keys"
SUM=$(sha256sum "$WORK/keys" | cut -d' ' -f1)

# consumer groups committed on the source before the dump (inactive, set
# with Kafka's own tool): G1 at partition 0 offset 4 (after the dropped
# alice), G2 at 8 (after the dropped bob, before the dropped 00 ff), G3 at
# partition 1 offset 1 (after the dropped first record)
setgroup() { # group partition offset
    kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$1" --reset-offsets --topic "$T:$2" \
        --to-offset "$3" --execute >/dev/null 2>&1 || fail "could not set $1"
}
G="drop-g-$RUN_ID"
setgroup "$G-1" 0 4
setgroup "$G-2" 0 8
setgroup "$G-3" 1 1
A="$WORK/archive"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump"

# -- --dry-run counts per partition -------------------------------------------------------
"$KTAPE" restore -a "$A" -t "$T" --drop-keys "$WORK/keys" --dry-run >"$WORK/dry.out" || fail "dry run"
grep -q "^$T \[0\] -> $T \[0\]: offsets 0..9, 7 records, .*, 3 dropped by --drop-keys$" "$WORK/dry.out" ||
    fail "dry run p0: $(cat "$WORK/dry.out")"
grep -q "^$T \[1\] -> $T \[1\]: offsets 1..4, 3 records, .*, 2 dropped by --drop-keys$" "$WORK/dry.out" ||
    fail "dry run p1: $(cat "$WORK/dry.out")"
grep -q "^dry run: 10 records, .* would be written; 5 record(s) would be dropped by --drop-keys$" "$WORK/dry.out" ||
    fail "dry run total: $(cat "$WORK/dry.out")"
pass "--dry-run says how many records it would drop per partition"

# -- the restore: exactly the kept records, groups translated exactly -------------------------
D="dst-$T"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$D" --create-topics --drop-keys "$WORK/keys" --groups "^$G-" \
    --json >"$WORK/r.json" 2>"$WORK/r.err" || fail "restore: $(cat "$WORK/r.err")"
python3 - "$WORK/r.json" <<'PY' || fail "restore summary: $(cat "$WORK/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["records"] == 10 and r["dropped"] == 5 and r["consumer_groups"] == 3, r
PY
consume_all "$D" "$WORK/dst.out" 10
witness "$WORK/spec-kept" "$WORK/dst.out"
grep -q gone- "$WORK/dst.out" && fail "a dropped record reached the target"
pass "Kafka's console consumer reads exactly the 10 kept records (null and empty keys kept)"

committed() { # group topic partition
    kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$1" 2>/dev/null |
        awk -v t="$2" -v p="$3" '$2==t && $3==p {print $4}'
}
# the next record each group reads: on the target from its translated
# offset (Kafka's console consumer in the group itself), and on the source
# the first kept record from its committed offset on
next_in_group() { # group topic
    kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$2" --group "$1" --max-messages 1 \
        --timeout-ms 15000 --property print.key=true --property key.separator='|' 2>/dev/null || true
}
assert_eq 3 "$(committed "$G-1" "$D" 0)" "G1 (source 4, after the dropped alice at 3)"
assert_eq 6 "$(committed "$G-2" "$D" 0)" "G2 (source 8, after bob at 7, before 00 ff at 8)"
assert_eq 0 "$(committed "$G-3" "$D" 1)" "G3 (source 1, after the dropped alice at 0)"
assert_eq "u4|v4" "$(next_in_group "$G-1" "$D")" "G1's next record on the target"
assert_eq "u9|v9" "$(next_in_group "$G-2" "$D")" "G2's next record on the target"
assert_eq "c1|w1" "$(next_in_group "$G-3" "$D")" "G3's next record on the target"
# the source's next records from the same offsets are the same ones
assert_eq "u4 v4" "$(kcat -b "$BS" -C -t "$T" -p 0 -o 4 -c 1 -e -f '%k %s' 2>/dev/null)" "source at 4"
assert_eq "c1 w1" "$(kcat -b "$BS" -C -t "$T" -p 1 -o 1 -c 1 -e -f '%k %s' 2>/dev/null)" "source at 1"
pass "groups committed after dropped records land on the next kept record (4->3, 8->6, 1->0)"

# -- the run records the list: checksum and count, never the list ---------------------------------
"$KTAPE" ls -a "$A" --runs >"$WORK/runs.out"
grep -q "restore .*drop-keys sha256:$SUM (4 keys): 5 records dropped" "$WORK/runs.out" ||
    fail "ls --runs: $(cat "$WORK/runs.out")"
grep -rqa "nobody" "$A" && fail "the erasure list was copied into the archive"
pass "the run records the list's SHA-256 (as sha256sum prints it) and the count; the list is not stored"

# -- with a selection and the original pace, and with a rate --------------------------------
P="paced-$T"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$P" --create-topics --drop-keys "$WORK/keys" -p 0 \
    --from-offset 2 --pace original --speed 1000 -q || fail "paced restore"
# %K is the key's length: -1 null, 0 empty
assert_eq "2:u2 2:u4 -1: 0: 2:u9" "$(kcat -b "$BS" -C -t "$P" -p 0 -e -f '%K:%k\n' 2>/dev/null | xargs)" \
    "paced, from offset 2"
Q="rated-$T"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$Q" --create-topics --drop-keys "$WORK/keys" --rate-msgs 50 \
    --partitioning key -q || fail "rated restore"
assert_eq 10 "$(kcat -b "$BS" -C -t "$Q" -e -f '%k\n' 2>/dev/null | wc -l)" "rated by-key restore"
kcat -b "$BS" -C -t "$Q" -e -f '%s\n' 2>/dev/null | grep -q gone- && fail "rated restore wrote a dropped record"
pass "--drop-keys with -p/--from-offset and --pace original, and with --rate-msgs and --partitioning key"

# -- cat --drop-keys ---------------------------------------------------------------------------
"$KTAPE" cat -a "$A" -t "$T" --drop-keys "$WORK/keys" --format '%p %o %s\n' >"$WORK/cat.out" || fail "cat"
assert_eq "0 0 v0|0 1 v1|0 2 v2|0 4 v4|0 5 null-key|0 6 empty-key|0 9 v9|1 1 w1|1 3 w3|1 4 w4" \
    "$(paste -sd'|' "$WORK/cat.out")" "cat --drop-keys"
pass "cat --drop-keys prints the kept records, source offsets kept"

# -- a bad list: one line, exit 2, nothing written --------------------------------------------
printf 'alice\nbase64:not*base64\n' >"$WORK/bad-keys"
for cmd in "restore -b $BS" "cat"; do
    assert_exit 2 "$KTAPE" $cmd -a "$A" -t "$T" --drop-keys "$WORK/bad-keys"
    grep -q "bad-keys line 2: not valid base64" "$WORK/last.err" || fail "$cmd bad base64: $(cat "$WORK/last.err")"
    assert_eq 1 "$(wc -l <"$WORK/last.err")" "$cmd: one line"
    assert_exit 2 "$KTAPE" $cmd -a "$A" -t "$T" --drop-keys "$WORK/no-such-file"
    grep -q "no-such-file" "$WORK/last.err" || fail "$cmd unreadable: $(cat "$WORK/last.err")"
    assert_eq 1 "$(wc -l <"$WORK/last.err")" "$cmd: one line"
done
assert_exit 2 "$KTAPE" compare -b "$BS" -a "$A" -t "$T" --drop-keys "$WORK/keys"
grep -q "drop-keys is an option of ktape restore" "$WORK/last.err" || fail "compare: $(cat "$WORK/last.err")"
pass "a bad or unreadable list is a one-line error with exit 2 (restore and cat); compare refuses the option"
