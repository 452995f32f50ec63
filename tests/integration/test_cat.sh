#!/usr/bin/env bash
# ktape cat on records produced by kcat into the real broker: null vs empty
# keys and values, binary bytes, duplicate and null headers in the JSON
# lines; kcat-style --format byte for byte equal to kcat's own output;
# offset and time windows, --key, -n; not-found and usage errors.
source "$(dirname "$0")/lib.sh"

A="$WORK/arch"
tc="it-cat-$RUN_ID"
tw="it-cat-time-$RUN_ID"
create_topic "$tc" 1
create_topic "$tw" 2

# offset 0: duplicate headers; 1: null key and value (-Z); 2: empty key and
# value; 3: binary value with a NUL; 4: a header without a value (null)
printf 'k1:v1\n' | kcat -P -b "$BS" -t "$tc" -K: -H h=a -H h=b
printf ':\n' | kcat -P -b "$BS" -t "$tc" -K: -Z
printf ':\n' | kcat -P -b "$BS" -t "$tc" -K:
printf 'bin:\xff\xfe\x00\x01A\n' | kcat -P -b "$BS" -t "$tc" -K:
printf 'k1:v5\n' | kcat -P -b "$BS" -t "$tc" -K: -H novalue -H 'x=1,2'
for i in $(seq 6 20); do printf 'k%d:value %d\twith tab\n' $((i % 3)) "$i"; done | kcat -P -b "$BS" -t "$tc" -K:
"$KTAPE" dump -b "$BS" -a "$A" -t "$tc" -q || fail "dump $tc"

# -- JSON lines
"$KTAPE" cat -a "$A" -t "$tc" >"$WORK/all.jsonl" || fail "cat exited $?"
python3 - "$WORK/all.jsonl" "$tc" <<'EOF' || fail "JSON lines: $(head -6 "$WORK/all.jsonl")"
import json, sys, base64
lines = open(sys.argv[1], "rb").read().split(b"\n")
assert lines[-1] == b"", "no final newline"
recs = [json.loads(l) for l in lines[:-1]]
assert len(recs) == 20, len(recs)
keys = ["topic", "partition", "offset", "timestamp", "timestamp_type", "key", "value", "headers"]
assert all(list(r) == keys for r in recs), "key order"
assert [r["offset"] for r in recs] == list(range(20))
r0, r1, r2, r3, r4 = recs[:5]
assert r0["topic"] == sys.argv[2] and r0["partition"] == 0
assert r0["key"] == "k1" and r0["value"] == "v1" and r0["headers"] == [["h", "a"], ["h", "b"]], r0
assert r1["key"] is None and r1["value"] is None, r1
assert r2["key"] == "" and r2["value"] == "", r2
assert r3["key"] == "bin" and base64.b64decode(r3["value"]["base64"]) == b"\xff\xfe\x00\x01A", r3
assert r4["headers"] == [["novalue", None], ["x", "1,2"]], r4
assert recs[5]["value"] == "value 6\twith tab"
assert all(r["timestamp_type"] == "CreateTime" and r["timestamp"] > 1600000000000 for r in recs)
EOF
pass "JSON lines: null vs empty, binary as base64, duplicate and null headers"

# -- kcat-style formats, byte for byte against kcat itself
kfmt() { # format -> compare
    "$KTAPE" cat -a "$A" -t "$tc" --format "$1" >"$WORK/kt.out" || fail "cat --format '$1' exited $?"
    kcat -C -b "$BS" -t "$tc" -e -q -f "$1" >"$WORK/kcat.out" 2>/dev/null || fail "kcat -f '$1'"
    cmp "$WORK/kt.out" "$WORK/kcat.out" >/dev/null ||
        fail "--format '$1' differs from kcat: $(diff <(od -c "$WORK/kt.out") <(od -c "$WORK/kcat.out") | head -10)"
}
kfmt '%k\t%s\n'
kfmt '%t|%p|%o|%T|%k|%K|%s|%S|%h\n'
kfmt 'Topic %t [%p] at offset %o: key %k: %s\n'
kfmt '%o %% \x41\\ %h;\r\n'
kfmt '%R%s'
pass "--format output equals kcat -f byte for byte"

# -- offsets (end excluded), key, count
"$KTAPE" cat -a "$A" -t "$tc" --from-offset 2 --to-offset 5 -f '%o\n' >"$WORK/o.out"
assert_eq "2 3 4" "$(tr '\n' ' ' <"$WORK/o.out" | sed 's/ $//')" "--from-offset 2 --to-offset 5"
"$KTAPE" cat -a "$A" -t "$tc" --key k1 -f '%o\n' >"$WORK/k.out"
assert_eq "0 4 6 9 12 15 18" "$(tr '\n' ' ' <"$WORK/k.out" | sed 's/ $//')" "--key k1"
"$KTAPE" cat -a "$A" -t "$tc" --key '' -f '%o\n' >"$WORK/k2.out"
assert_eq "2" "$(cat "$WORK/k2.out")" "--key '' (empty, not null)"
"$KTAPE" cat -a "$A" -t "$tc" -n 3 -f '%o\n' >"$WORK/n.out"
assert_eq "3" "$(wc -l <"$WORK/n.out" | tr -d ' ')" "-n 3"
pass "offset range, --key, -n"

# -- time windows: three batches a second apart into two partitions
for b in 1 2 3; do
    for i in $(seq 1 12); do echo "p$((i % 2)):b$b-$i"; done | kcat -P -b "$BS" -t "$tw" -K: -p -1
    sleep 1.2
done
"$KTAPE" dump -b "$BS" -a "$A" -t "$tw" -q || fail "dump $tw"
"$KTAPE" cat -a "$A" -t "$tw" >"$WORK/tw.jsonl"
read -r from to < <(python3 - "$WORK/tw.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
b2 = [r["timestamp"] for r in recs if r["value"].startswith("b2-")]
print(min(b2), max(b2) + 1)
EOF
)
"$KTAPE" cat -a "$A" -t "$tw" --from-time "@$from" --to-time "@$to" >"$WORK/win.jsonl"
python3 - "$WORK/tw.jsonl" "$WORK/win.jsonl" "$from" "$to" <<'EOF' || fail "time window"
import json, sys
alls = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
lo, hi = int(sys.argv[3]), int(sys.argv[4])
want = [r for r in alls if lo <= r["timestamp"] < hi]
assert got == want, (len(got), len(want))
assert len(got) == 12 and all(r["value"].startswith("b2-") for r in got)
# partition by partition, each in offset order
assert [(r["partition"], r["offset"]) for r in got] == sorted((r["partition"], r["offset"]) for r in got)
EOF
"$KTAPE" cat -a "$A" -t "$tw" --to-time "@$from" -f '%s\n' | grep -vq '^b1-' && fail "--to-time let a later record through"
pass "time window selects exactly the records in it, partition by partition"

# -- timestamps that go back (set by the producer: testprod, lib.sh)
to="it-cat-ooo-$RUN_ID"
create_topic "$to" 1
base=$(($(date +%s) * 1000 - 3600000))
for d in 1000 5000 2000 7000 3000 9000 4000 4999 5000; do
    printf '0\t%d\tk\tts+%d\n' $((base + d)) "$d"
done >"$WORK/ooo.spec"
produce_spec "$to" "$WORK/ooo.spec"
"$KTAPE" dump -b "$BS" -a "$A" -t "$to" -q || fail "dump $to"
"$KTAPE" cat -a "$A" -t "$to" --from-time "@$((base + 2000))" --to-time "@$((base + 5000))" -f '%s ' >"$WORK/ooo.out"
assert_eq "ts+2000 ts+3000 ts+4000 ts+4999 " "$(cat "$WORK/ooo.out")" "window on timestamps that go back"
"$KTAPE" cat -a "$A" -t "$to" --from-time "@$((base + 6000))" -f '%s ' >"$WORK/ooo2.out"
assert_eq "ts+7000 ts+9000 " "$(cat "$WORK/ooo2.out")" "--from-time past most records"
"$KTAPE" cat -a "$A" -t "$to" -f '%o\n' | sort -c -n || fail "records not in offset order"
pass "time window on out-of-order timestamps"

# -- all topics, -p, errors
"$KTAPE" cat -a "$A" -f '%t\n' | sort -u >"$WORK/topics.out"
assert_eq "3" "$(wc -l <"$WORK/topics.out" | tr -d ' ')" "cat without -t prints every topic"
"$KTAPE" cat -a "$A" -t "$tw" -p 1 -f '%p\n' | sort -u >"$WORK/p.out"
assert_eq "1" "$(cat "$WORK/p.out")" "-p 1"
assert_exit 7 "$KTAPE" cat -a "$A" -t "nope-$RUN_ID"
grep -q "archived topics: $tc, $to, $tw" "$WORK/last.err" || fail "missing topic message: $(cat "$WORK/last.err")"
assert_exit 7 "$KTAPE" cat -a "$A" -t "$tc" -p 7
grep -q "no archived partition 7" "$WORK/last.err" || fail "missing partition message: $(cat "$WORK/last.err")"
assert_exit 7 "$KTAPE" cat -a "$A" -t "$tc" --generation 3
assert_exit 2 "$KTAPE" cat -a "$A" -t "$tc" --format '%q'
grep -q "%q" "$WORK/last.err" || fail "bad format message: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" cat -a "$A" -t "$tc" --from-offset 5 --to-offset 5
assert_exit 2 "$KTAPE" cat -a "$A" -t "$tc" --from-time yesterday
grep -q "yesterday" "$WORK/last.err" || fail "bad time message: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" cat -a "$A" -n 0
assert_exit 7 "$KTAPE" cat -a "$WORK/nothing-here"
"$KTAPE" cat --help | grep -q "Examples:" || fail "cat --help"
# a reader that goes away early is no error
"$KTAPE" cat -a "$A" -t "$tc" | head -1 >/dev/null
pass "partition filter, not-found and usage errors"
