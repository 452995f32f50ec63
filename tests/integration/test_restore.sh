#!/usr/bin/env bash
# ktape restore against the real broker, checked by Kafka's own tools.
source "$(dirname "$0")/lib.sh"

A="$WORK/archive"
T="it-rs-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))
count() { kcat -b "$BS" -Q $(for p in $(seq 0 $(($2 - 1))); do printf -- '-t %s:%d:-1 ' "$1" "$p"; done) 2>/dev/null |
    awk '{s+=$NF} END {print s+0}'; }

# -- torture topic round trip into a renamed topic ---------------------------------
create_topic "$T" 3 --config max.message.bytes=2000000
cat >"$WORK/spec" <<SPEC
0	$B	user-1	{"a":1}	h=1	h=2	h=-	=
0	$((B + 5000))	-	later-but-first
0	$((B - 5000))		earlier-but-second
1	$((B + 1000))	user-2	-	x=hex:00ff
1	$((B + 2000))	hex:0001ff	hex:fffe00
2	$((B + 3000))	tx	t1
#begin
2	$((B + 4000))	tx	aborted
#abort
2	$((B + 6000))	tx	t2
#big 1048576 $((B + 7000))
SPEC
produce_spec "$T" "$WORK/spec"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix copy- --create-topics -q 2>"$WORK/r1.err" || fail "restore: $(cat "$WORK/r1.err")"
consume_all "copy-$T" "$WORK/copy.out" 8
witness "$WORK/spec" "$WORK/copy.out"
"$KTAPE" compare -b "$BS" -a "$A" -t "$T" --topic-prefix copy- >/dev/null || fail "compare says the copy differs"
pass "torture round trip (1 MiB value, null/empty, binary, headers, transactions) into copy-$T"

# -- a time window selects by timestamp, in offset order, on out-of-order data -----------
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=win-$T" --create-topics -q \
    --from-time @$((B - 5000)) --to-time @$((B + 5000)) || fail "windowed restore"
# the spec's records with B-5s <= ts < B+5s, in their original order
python3 - "$WORK/spec" "$WORK/spec-win" $((B - 5000)) $((B + 5000)) <<'PY'
import sys
src, dst, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out, skip = [], False
for line in open(src, "rb").read().split(b"\n"):
    if line in (b"#begin",): skip = False; out.append(line); continue
    if not line or line.startswith(b"#"): out.append(line); continue
    ts = int(line.split(b"\t")[1])
    if lo <= ts < hi: out.append(line)
open(dst, "wb").write(b"\n".join(l for l in out if not l.startswith(b"#big")) + b"\n")
PY
consume_all "win-$T" "$WORK/win.out" 5
witness "$WORK/spec-win" "$WORK/win.out"
grep -q "later-but-first" "$WORK/win.out" && fail "a record after the window was restored"
grep -q "earlier-but-second" "$WORK/win.out" || fail "an in-window record after an out-of-window one was skipped"
pass "time window on non-monotonic timestamps"

# -- refusals and plans --------------------------------------------------------------
assert_exit 9 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix copy-
grep -q "already holds records" "$WORK/last.err" || fail "non-empty message"
assert_exit 7 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=missing-$T"
grep -q -- "--create-topics" "$WORK/last.err" || fail "missing target message"
create_topic "small-$T" 1
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=small-$T"
grep -q -- "--partitioning key" "$WORK/last.err" || fail "fewer partitions must suggest key partitioning"
"$KTAPE" restore -a "$A" -t "$T" --map "$T=plan-$T" --dry-run >"$WORK/plan" || fail "dry run"
grep -q "$T \[0\] -> plan-$T \[0\]: offsets 0..6, 4 records, 1.0 MiB" "$WORK/plan" || fail "plan: $(cat "$WORK/plan")"
kcat -b "$BS" -L -t "plan-$T" 2>/dev/null | grep -q "plan-$T\" with [1-9]" && fail "dry run created a topic"
pass "refusals (exit 9, 7, 2) and the dry-run plan"

# -- a target error names topic, partition and offset --------------------------------
create_topic "tiny-$T" 3 --config max.message.bytes=1000
assert_exit 6 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=tiny-$T" --timeout 20s
grep -q "tiny-$T \[0\] (source $T \[0\] offset" "$WORK/last.err" || fail "error does not name the record: $(cat "$WORK/last.err")"
pass "record too large: exit 6 naming the record"

# -- key partitioning matches the Java producer's ----------------------------------------
J="java-$T"
create_topic "$J" 5
for i in $(seq 1 60); do echo "key-$i:value-$i"; done >"$WORK/keys.txt"
kcli kafka-console-producer --bootstrap-server "$BS" --topic "$J" --property parse.key=true \
    --property key.separator=: <"$WORK/keys.txt" >/dev/null 2>&1 || fail "console producer"
kcat -b "$BS" -C -t "$J" -e -f '%k %p\n' 2>/dev/null | sort >"$WORK/java-parts"
assert_eq 60 "$(wc -l <"$WORK/java-parts")" "java-produced records"
S="src-$T"
create_topic "$S" 2
for i in $(seq 1 60); do printf '%d\t%s\tkey-%d\tv\n' $((i % 2)) $((B + i)) "$i"; done >"$WORK/spec-keys"
produce_spec "$S" "$WORK/spec-keys" --plain
A2="$WORK/archive-keys"
"$KTAPE" dump -b "$BS" -a "$A2" -t "$S" -q || fail "dump keys"
create_topic "bykey-$T" 5
"$KTAPE" restore -b "$BS" -a "$A2" -t "$S" --map "$S=bykey-$T" --partitioning key -q || fail "restore by key"
kcat -b "$BS" -C -t "bykey-$T" -e -f '%k %p\n' 2>/dev/null | sort >"$WORK/ktape-parts"
diff "$WORK/java-parts" "$WORK/ktape-parts" >/dev/null || fail "key partitioning differs from Java's: $(diff "$WORK/java-parts" "$WORK/ktape-parts" | head -5)"
pass "--partitioning key puts all 60 keys where Kafka's Java producer does"

# -- consumer group offsets across transaction gaps ------------------------------------------
G="it-rs-group-$RUN_ID"
X="txg-$T"
create_topic "$X" 1
{
    for i in 1 2 3; do printf '0\t%s\tk%d\tv%d\n' $((B + i)) "$i" "$i"; done
    echo "#begin"; printf '0\t%s\tk\taborted-a\n0\t%s\tk\taborted-b\n' $((B + 4)) $((B + 5)); echo "#abort"
    for i in 6 7 8; do printf '0\t%s\tk%d\tv%d\n' $((B + i)) "$i" "$i"; done
} >"$WORK/spec-txg"
produce_spec "$X" "$WORK/spec-txg"
# source offsets: v1 0, v2 2, v3 4, (aborted 6, 7, marker 8), v6 9, v7 11, v8 13
kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$X" --group "$G" --from-beginning --max-messages 4 \
    --timeout-ms 20000 --isolation-level read_committed >"$WORK/g4.out" 2>/dev/null || true
assert_eq 4 "$(wc -l <"$WORK/g4.out")" "the group consumed 4 records"
committed=$(kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null | awk -v t="$X" '$2==t {print $4}')
# after v1 v2 v3 v6 the Java consumer commits its position: past v6 (9) and
# the commit marker after it (10), so 11
assert_eq 11 "$committed" "source committed offset"
A3="$WORK/archive-groups"
"$KTAPE" dump -b "$BS" -a "$A3" -t "$X" -q || fail "dump groups"
"$KTAPE" restore -b "$BS" -a "$A3" -t "$X" --map "$X=restored-$X" --create-topics --groups "$G" -q 2>"$WORK/g.err" ||
    fail "restore --groups: $(cat "$WORK/g.err")"
# target offsets: v1 0, v2 1, v3 2, v6 3, v7 4, v8 5; source 11 -> first record >= 11 is v7 -> 4
got=$(kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null | awk -v t="restored-$X" '$2==t {print $4}')
assert_eq 4 "$got" "translated group offset on the target"
# translation also works after the restore, from the catalog's maps
assert_eq 6 "$(sql "$A3" "select sum(records) from restore_maps")" "offset maps recorded"
pass "group offsets translated across transaction gaps (source 11 -> target 4)"

# -- rate limit: accurate and smooth ---------------------------------------------------------
R="rate-$T"
create_topic "$R" 1
produce_random "$R" 6000 100
A4="$WORK/archive-rate"
"$KTAPE" dump -b "$BS" -a "$A4" -t "$R" -q || fail "dump rate"
create_topic "rated-$R" 1 --config message.timestamp.type=LogAppendTime
t0=$(date +%s.%N)
"$KTAPE" restore -b "$BS" -a "$A4" -t "$R" --map "$R=rated-$R" --rate-msgs 500 -q || fail "rate restore"
t1=$(date +%s.%N)
# the broker's append times show the rate over the whole run and in every second
kcat -b "$BS" -C -t "rated-$R" -e -f '%T\n' 2>/dev/null >"$WORK/append-times"
python3 - "$WORK/append-times" 500 <<'PY' || fail "rate not accurate"
import sys
ts = sorted(int(x) for x in open(sys.argv[1]) if x.strip())
rate = float(sys.argv[2])
span = (ts[-1] - ts[0]) / 1000.0
overall = (len(ts) - 1) / span
print("rate: %d records in %.2f s = %.1f/s (target %d)" % (len(ts), span, overall, rate))
assert abs(overall - rate) / rate < 0.05, "overall rate off by more than 5%"
def windows(width_ms):
    """records in every window [t, t + width) that starts at a record"""
    j, out = 0, []
    for i in range(len(ts)):
        while j < len(ts) and ts[j] < ts[i] + width_ms: j += 1
        if ts[i] + width_ms <= ts[-1]:
            out.append(j - i)
    return out
# accuracy: every 10 s window within 5% of the rate
w10 = windows(10000)
print("10 s windows: %d..%d records (target %d)" % (min(w10), max(w10), rate * 10))
assert all(abs(n - rate * 10) <= rate * 10 * 0.05 for n in w10), "a 10 s window is off by more than 5%"
# smoothness: no one-second bursts (producer batching moves a few records)
w1 = windows(1000)
print("1 s windows: %d..%d records" % (min(w1), max(w1)))
assert max(w1) <= rate * 1.15 and min(w1) >= rate * 0.85, "uneven within a second"
PY
pass "--rate-msgs 500: every 10 s window within 5%, every second within 15%"

# -- original pace, sped up ------------------------------------------------------------------
P="pace-$T"
create_topic "$P" 1
printf '0\t%s\ta\t1\n0\t%s\ta\t2\n0\t%s\ta\t3\n0\t%s\ta\t4\n' "$B" $((B + 2000)) $((B + 4000)) $((B + 8000)) >"$WORK/spec-pace"
produce_spec "$P" "$WORK/spec-pace" --plain
A5="$WORK/archive-pace"
"$KTAPE" dump -b "$BS" -a "$A5" -t "$P" -q || fail "dump pace"
create_topic "paced-$P" 1 --config message.timestamp.type=LogAppendTime
"$KTAPE" restore -b "$BS" -a "$A5" -t "$P" --map "$P=paced-$P" --pace original --speed 4 -q || fail "paced restore"
kcat -b "$BS" -C -t "paced-$P" -e -f '%T\n' 2>/dev/null >"$WORK/pace-times"
python3 - "$WORK/pace-times" <<'PY' || fail "pace not kept"
import sys
ts = [int(x) for x in open(sys.argv[1]) if x.strip()]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print("gaps at speed 4:", gaps, "(expected 500 500 1000 ms)")
for got, want in zip(gaps, [500, 500, 1000]):
    assert abs(got - want) <= 150, (got, want)
PY
pass "--pace original --speed 4 keeps the timing (2 s gaps play as 0.5 s)"

# -- kill -9 in the middle, then the same command: no record twice --------------------------
Q="resume-$T"
create_topic "$Q" 3
produce_random "$Q" 300000 200
A6="$WORK/archive-resume"
"$KTAPE" dump -b "$BS" -a "$A6" -t "$Q" -q || fail "dump resume"
create_topic "back-$Q" 3
cmd=("$KTAPE" restore -b "$BS" -a "$A6" -t "$Q" --map "$Q=back-$Q" -q --rate-msgs 100000)
"${cmd[@]}" &
pid=$!
sleep 1.5
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
partial=$(count "back-$Q" 3)
[[ $partial -gt 0 && $partial -lt 300000 ]] || fail "the kill came too late or too early ($partial records)"
"${cmd[@]}" 2>"$WORK/resume.err" || fail "restore after kill -9: $(cat "$WORK/resume.err")"
grep -q "continuing the interrupted restore" "$WORK/resume.err" || fail "did not resume"
assert_eq 300000 "$(count "back-$Q" 3)" "records in the target after resume"
"$KTAPE" compare -b "$BS" -a "$A6" -t "$Q" --map "$Q=back-$Q" >/dev/null || fail "compare after resume"
pass "kill -9 after $partial records, then resume: 300000 exactly, compare equal"

# -- compare finds an altered record ------------------------------------------------------------
printf '0\t%s\tuser-1\taltered\n' "$B" >"$WORK/spec-alt"
produce_spec "copy-$T" "$WORK/spec-alt" --plain
assert_exit 8 "$KTAPE" compare -b "$BS" -a "$A" -t "$T" --topic-prefix copy-
grep -q "in the cluster but not in the archive" "$WORK/last.out" || fail "compare output: $(cat "$WORK/last.out")"
pass "compare reports a difference with exit 8"
