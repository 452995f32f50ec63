#!/usr/bin/env bash
# ktape groups: consumer groups that committed after the dump and after the
# restore are set later, translated exactly with the restore's offset maps
# (across records the restore dropped with --drop-keys, and across aborted
# transactions at every source offset): the next record each group reads on
# the target is the one it would read on the source; --dry-run prints the
# plan as kafka-consumer-groups CSV, which Kafka's own tool applies to the
# same offsets; a group active on the target is refused (exit 9), by
# --dry-run too.
source "$(dirname "$0")/lib.sh"

B=$((($(date +%s) - 60) * 1000))
T="grp-$RUN_ID"
create_topic "$T" 2
# partition 0: k0 k1 k2 erased k4 k5 k6 erased k8 k9; partition 1: m0 m1 m2
{
    for i in 0 1 2 3 4 5 6 7 8 9; do
        k=k$i
        [[ $i == 3 || $i == 7 ]] && k=erased
        printf '0\t%s\t%s\tv%d\n' $((B + i)) "$k" "$i"
    done
    for i in 0 1 2; do printf '1\t%s\tm%d\tw%d\n' $((B + i)) "$i" "$i"; done
} >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
printf 'erased\n' >"$WORK/keys"
A="$WORK/archive"
D="dst-$T"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump 1"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$D" --create-topics --drop-keys "$WORK/keys" -q ||
    fail "restore"

# the groups commit only now, after the dump and the restore (set with
# Kafka's own tool): G1 at 4 (after the dropped record 3), G2 at 8 (after
# the dropped 7) and partition 1 at 3 (the end), G3 at 1
G="grp-g-$RUN_ID"
# (one call of the tool for many: each call is a JVM start)
setgroups() { # csv-file group...
    local f=$1 g gargs=()
    shift
    for g in "$@"; do gargs+=(--group "$g"); done
    kcli kafka-consumer-groups --bootstrap-server "$BS" "${gargs[@]}" --reset-offsets --from-file "$f" \
        --execute >"$WORK/setgroups.out" 2>&1 || fail "could not set $*: $(tail -3 "$WORK/setgroups.out")"
}
printf '%s\n' "$G-1,$T,0,4" "$G-2,$T,0,8" "$G-2,$T,1,3" "$G-3,$T,0,1" >"$WORK/src-groups.csv"
setgroups "$WORK/src-groups.csv" "$G-1" "$G-2" "$G-3"
# not yet in the archive: nothing to set
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G-" --dry-run >"$WORK/none.csv" 2>"$WORK/none.err" || fail "groups before dump 2"
[[ ! -s $WORK/none.csv ]] || fail "a plan before the groups were archived: $(cat "$WORK/none.csv")"
grep -q "^0 consumer group(s)" "$WORK/none.err" || fail "before dump 2: $(cat "$WORK/none.err")"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump 2 (archives the groups)"

# -- the plan, in kafka-consumer-groups' CSV ----------------------------------------------
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G-" --dry-run >"$WORK/plan.csv" 2>"$WORK/plan.err" ||
    fail "groups --dry-run: $(cat "$WORK/plan.err")"
# target: k0 0, k1 1, k2 2, k4 3, k5 4, k6 5, k8 6, k9 7; m0..m2 0..2
printf '%s\n' "$G-1,$D,0,3" "$G-2,$D,0,6" "$G-2,$D,1,3" "$G-3,$D,0,1" >"$WORK/want.csv"
assert_eq "$(sort "$WORK/want.csv")" "$(sort "$WORK/plan.csv")" "the plan"
[[ -z $(kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G-1" 2>/dev/null |
    awk -v t="$D" '$2==t') ]] || fail "--dry-run set an offset"
pass "--dry-run prints GROUP,TOPIC,PARTITION,OFFSET and sets nothing"

# the groups' committed offsets as Kafka's own tool describes them, read
# once for several groups (a JVM start each would be slow)
describe() { # group...
    local g gargs=()
    for g in "$@"; do gargs+=(--group "$g"); done
    kcli kafka-consumer-groups --bootstrap-server "$BS" --describe "${gargs[@]}" >"$WORK/describe.out" 2>/dev/null || true
}
committed() { # group topic partition, from the last describe
    awk -v g="$1" -v t="$2" -v p="$3" '$1==g && $2==t && $3==p {print $4}' "$WORK/describe.out"
}
# -- Kafka's own tool applies the plan: the same offsets -------------------------------------
kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$G-1" --group "$G-2" --group "$G-3" \
    --reset-offsets --from-file "$WORK/plan.csv" --execute >"$WORK/apply.out" 2>&1 ||
    fail "kafka-consumer-groups --from-file: $(tail -3 "$WORK/apply.out")"
describe "$G-1" "$G-2" "$G-3"
got="$(committed "$G-1" "$D" 0) $(committed "$G-2" "$D" 0) $(committed "$G-2" "$D" 1) $(committed "$G-3" "$D" 0)"
assert_eq "3 6 3 1" "$got" "offsets applied by kafka-consumer-groups --from-file"
pass "kafka-consumer-groups --reset-offsets --from-file applies the plan"

# -- ktape groups sets the same offsets ------------------------------------------------------
for g in 1 2 3; do
    kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$G-$g" --delete-offsets --topic "$D" \
        >/dev/null 2>&1 || fail "delete the offsets of $G-$g"
done
describe "$G-1" "$G-2" "$G-3"
for g in 1 2 3; do
    [[ -z $(committed "$G-$g" "$D" 0) ]] || fail "$G-$g still has an offset"
done
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G-" >"$WORK/set.out" 2>"$WORK/set.err" ||
    fail "groups: $(cat "$WORK/set.err")"
grep -q "^3 consumer group(s), 4 partition offset(s) set$" "$WORK/set.out" || fail "summary: $(cat "$WORK/set.out")"
describe "$G-1" "$G-2" "$G-3"
got="$(committed "$G-1" "$D" 0) $(committed "$G-2" "$D" 0) $(committed "$G-2" "$D" 1) $(committed "$G-3" "$D" 0)"
assert_eq "3 6 3 1" "$got" "offsets set by ktape groups"
# the next record on both sides: the group itself on the target, the
# source from the committed offset
next_in_group() { # group topic
    kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$2" --group "$1" --max-messages 1 \
        --timeout-ms 15000 --property print.key=true --property key.separator='|' 2>/dev/null || true
}
# the two groups' consumers side by side (two JVM starts at once)
next_in_group "$G-1" "$D" >"$WORK/next1" &
n1pid=$!
next_in_group "$G-3" "$D" >"$WORK/next3" &
n3pid=$!
wait "$n1pid" "$n3pid"
assert_eq "k4 v4" "$(kcat -b "$BS" -C -t "$T" -p 0 -o 4 -c 1 -e -f '%k %s' 2>/dev/null)" "source at 4"
assert_eq "k4|v4" "$(cat "$WORK/next1")" "G1's next record on the target"
assert_eq "k8 v8" "$(kcat -b "$BS" -C -t "$T" -p 0 -o 8 -c 1 -e -f '%k %s' 2>/dev/null)" "source at 8"
assert_eq "k1 v1" "$(kcat -b "$BS" -C -t "$T" -p 0 -o 1 -c 1 -e -f '%k %s' 2>/dev/null)" "source at 1"
assert_eq "k1|v1" "$(cat "$WORK/next3")" "G3's next record on the target"
assert_eq "k8 v8" "$(kcat -b "$BS" -C -t "$D" -p 0 -o "$(committed "$G-2" "$D" 0)" -c 1 -e -f '%k %s' 2>/dev/null)" \
    "G2's next record on the target"
pass "groups committed after the dump and the restore translated exactly (4->3, 8->6, 1->1, end->end)"

# -- --offsets FILE: source offsets from a file instead of the archive -------------------------
printf '%s\r\n' "$G-4,$T,0,5" "$G-4,$T,1,2" "$G-5,$T,0,7" >"$WORK/src.csv"
"$KTAPE" groups -b "$BS" -a "$A" --offsets "$WORK/src.csv" --dry-run >"$WORK/fplan.csv" 2>"$WORK/fplan.err" ||
    fail "groups --offsets: $(cat "$WORK/fplan.err")"
# 5 (k5) -> 4; 7 (dropped) -> the next kept, k8 at 6; partition 1: 2 -> 2
assert_eq "$G-4,$D,0,4|$G-4,$D,1,2|$G-5,$D,0,6" "$(sort "$WORK/fplan.csv" | paste -sd'|')" "plan from --offsets"
printf '%s\n' "$G-4,$T,zero,5" >"$WORK/bad.csv"
assert_exit 2 "$KTAPE" groups -b "$BS" -a "$A" --offsets "$WORK/bad.csv" --dry-run
grep -q "bad.csv line 1: expected GROUP,TOPIC,PARTITION,OFFSET" "$WORK/last.err" || fail "bad file: $(cat "$WORK/last.err")"
pass "--offsets FILE: the source offsets from kafka-consumer-groups' CSV; a bad line is exit 2"

# -- --from-cluster: the live source cluster's offsets now (never archived) ---------------------
printf '%s\n' "$G-6,$T,0,7" "$G-6,$T,1,1" >"$WORK/src6.csv"
setgroups "$WORK/src6.csv" "$G-6"
"$KTAPE" groups -b "$BS" -a "$A" --from-cluster "$BS" --groups "^$G-6\$" >"$WORK/cl.out" 2>"$WORK/cl.err" ||
    fail "groups --from-cluster: $(cat "$WORK/cl.err")"
describe "$G-6"
got="$(committed "$G-6" "$D" 0) $(committed "$G-6" "$D" 1)"
assert_eq "6 1" "$got" "offsets set from the source cluster (7, dropped -> 6; 1 -> 1)"
assert_eq "k8 v8" "$(kcat -b "$BS" -C -t "$D" -p 0 -o 6 -c 1 -e -f '%k %s' 2>/dev/null)" "target at 6"
assert_exit 2 "$KTAPE" groups -b "$BS" -a "$A" --from-cluster "$BS" --offsets "$WORK/src.csv"
pass "--from-cluster: the source cluster's current offsets translated exactly"

# -- a group active on the target is refused, named -------------------------------------------
# (its member: kcat's balanced consumer, which says when the group gave it
# its partitions; no JVM start)
timeout 60 kcat -b "$BS" -G "$G-2" "$D" >/dev/null 2>"$WORK/member.err" &
cpid=$!
for _ in $(seq 1 150); do
    grep -q "rebalanced.*assigned:" "$WORK/member.err" && break
    sleep 0.2
done
grep -q "rebalanced.*assigned:" "$WORK/member.err" || fail "kcat did not join $G-2: $(cat "$WORK/member.err")"
rc=0
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G-2\$" 2>"$WORK/active.err" || rc=$?
rcd=0
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G-2\$" --dry-run >"$WORK/active.csv" 2>"$WORK/active-dry.err" || rcd=$?
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
assert_eq 9 "$rc" "exit code for an active group ($(cat "$WORK/active.err"))"
# one line names the group and why (librdkafka's own log is only counted)
assert_eq 1 "$(grep -c "consumer group $G-2.*has active members on the target" "$WORK/active.err")" \
    "the refusal: $(cat "$WORK/active.err")"
# the plan refuses it too: a plan that prints is one that can be applied
assert_eq 9 "$rcd" "--dry-run's exit code for an active group ($(cat "$WORK/active-dry.err"))"
assert_eq 1 "$(grep -c "consumer group $G-2 has active members on the target (1, state Stable)" \
    "$WORK/active-dry.err")" "the plan's refusal: $(cat "$WORK/active-dry.err")"
[[ ! -s $WORK/active.csv ]] || fail "a plan line for an active group: $(cat "$WORK/active.csv")"
pass "a group active on the target is refused naming it (exit 9), by --dry-run too"

# -- across aborted transactions ------------------------------------------------------------
# The source holds committed records, aborted ones and the markers of both;
# the archive and the target hold the committed records only. A group
# committed on an aborted record, on a marker or at the end reads on the
# target the record it would read on the source (read_committed).
X="grptx-$RUN_ID"
create_topic "$X" 1
{
    printf '0\t%s\ta0\tc0\n0\t%s\ta1\tc1\n' $((B + 0)) $((B + 1))
    printf '#begin\n0\t%s\tx0\td0\n0\t%s\tx1\td1\n#abort\n' $((B + 2)) $((B + 3))
    printf '0\t%s\ta2\tc2\n' $((B + 4))
    printf '#begin\n0\t%s\tx2\td2\n#abort\n' $((B + 5))
    printf '0\t%s\ta3\tc3\n0\t%s\ta4\tc4\n' $((B + 6)) $((B + 7))
} >"$WORK/tx.spec"
produce_spec "$X" "$WORK/tx.spec"
src_next() { # offset: the source's next committed record from there, "-" at the end
    local r
    r=$(kcat -b "$BS" -C -t "$X" -p 0 -o "$1" -c 1 -e -X isolation.level=read_committed -f '%k %s' 2>/dev/null)
    echo "${r:--}"
}
# every offset of the source, records, markers and aborted ones alike
hw=$(kcat -b "$BS" -Q -t "$X:0:-1" 2>/dev/null | awk '{print $NF}')
[[ $hw -ge 13 ]] || fail "the transactional source has $hw offsets, want >= 13"
# offsets of the aborted records, as read_uncommitted sees them
aborted=$(kcat -b "$BS" -C -t "$X" -p 0 -o beginning -e -X isolation.level=read_uncommitted -f '%o %k\n' 2>/dev/null |
    awk '$2 ~ /^x/ {print $1}' | paste -sd' ')
[[ $(wc -w <<<"$aborted") == 3 ]] || fail "aborted records at: '$aborted'"
DX="dst-$X"
"$KTAPE" dump -b "$BS" -a "$A" -t "$X" -q || fail "dump of the transactional topic"
"$KTAPE" restore -b "$BS" -a "$A" -t "$X" --map "$X=$DX" --create-topics -q || fail "restore of the transactional topic"
assert_eq 5 "$(kcat -b "$BS" -C -t "$DX" -e -f '%k\n' 2>/dev/null | grep -c '^a')" "records on the target"
# one group at every source offset, committed after the dump and the
# restore (by Kafka's tool, in one call: a JVM start each would be slow)
GX="grptx-g-$RUN_ID"
gargs=()
for off in $(seq 0 "$hw"); do
    printf '%s\n' "$GX-$off,$X,0,$off"
    gargs+=(--group "$GX-$off")
done >"$WORK/tx-src.csv"
kcli kafka-consumer-groups --bootstrap-server "$BS" "${gargs[@]}" --reset-offsets --from-file "$WORK/tx-src.csv" \
    --execute >"$WORK/tx-set.out" 2>&1 || fail "set the source groups: $(tail -3 "$WORK/tx-set.out")"
"$KTAPE" dump -b "$BS" -a "$A" -t "$X" -q || fail "dump 2 of the transactional topic (archives the groups)"
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$GX-" >"$WORK/tx.out" 2>"$WORK/tx.err" ||
    fail "groups across transactions: $(cat "$WORK/tx.err")"
kcli kafka-consumer-groups --bootstrap-server "$BS" --describe "${gargs[@]}" >"$WORK/tx-dst.txt" 2>/dev/null || true
for off in $(seq 0 "$hw"); do
    dst=$(awk -v g="$GX-$off" -v t="$DX" '$1==g && $2==t && $3==0 {print $4}' "$WORK/tx-dst.txt")
    [[ -n $dst ]] || fail "$GX-$off has no offset on the target"
    want=$(src_next "$off")
    got=$(kcat -b "$BS" -C -t "$DX" -p 0 -o "$dst" -c 1 -e -f '%k %s' 2>/dev/null)
    assert_eq "$want" "${got:--}" "next record of a group at source offset $off (target offset $dst)"
done
pass "groups at every offset of a transactional source (records, markers, aborted $aborted, end $hw) translated exactly"
