#!/usr/bin/env bash
# dump --follow and the cluster's metadata (issue #15), against the real
# broker: a partition added while following (kafka-topics --alter) is
# archived from its offset 0, a topic created while following that the
# --topic-regex picks is archived whole, with its partition count and
# configs, both within --metadata-interval; a topic deleted while
# following is finished, and created again it is a new generation; the
# consumer groups' offsets are archived as a snapshot every
# --groups-interval; restore --at T puts a group back where the snapshot at
# or before T had it, translated onto the restored records (checked by the
# next record the group reads on the target); groups --at T the same after
# the fact.
source "$(dirname "$0")/lib.sh"

P="fm-$RUN_ID"
A="$WORK/arch"
create_topic "$P-a" 1
# 100 consumer groups with offsets on a topic the follower does not pick:
# it lists every group's offsets each --groups-interval, which must not
# hold up its commits and metadata looks (it did, by ~0.2 s a group, on
# the connection its fetches wait on: a partition added below was seen
# after 25 s, not 2). Made while the follower starts.
create_topic "fmg-$RUN_ID" 1
gargs=()
for i in $(seq 100); do
    printf '%s\n' "fmg-g-$RUN_ID-$i,fmg-$RUN_ID,0,0"
    gargs+=(--group "fmg-g-$RUN_ID-$i")
done >"$WORK/many.csv"
kcli kafka-consumer-groups --bootstrap-server "$BS" "${gargs[@]}" --reset-offsets --from-file "$WORK/many.csv" \
    --execute >"$WORK/many.out" 2>&1 &
gpid=$!
seq 1 10 | awk '{printf "a%d\tva%d\n", $1, $1}' | kcat -P -b "$BS" -t "$P-a" -K '\t' -p 0 ||
    fail "kcat could not produce"

"$KTAPE" dump -b "$BS" -a "$A" --topic-regex "^$P-" --follow --commit-interval 1s \
    --metadata-interval 2s --groups-interval 2s -q 2>"$WORK/follower.err" &
fpid=$!
# shellcheck disable=SC2064
trap "kill -9 $fpid 2>/dev/null || true; rm -rf '$WORK'" EXIT
stop_follower() { # SIGTERM: exit 0 within 10 s, a deleted topic's client included (kt_kafka_topic_gone)
    local rc=0 t0
    t0=$(date +%s%N)
    kill -TERM "$fpid" 2>/dev/null || true
    wait "$fpid" || rc=$?
    stop_ms=$((($(date +%s%N) - t0) / 1000000))
    [[ $rc == 0 ]] || fail "the follower exited $rc: $(tail -n 5 "$WORK/follower.err")"
    ((stop_ms < 10000)) || fail "the follower took $stop_ms ms to stop on SIGTERM"
}
# the archive has N records of TOPIC (partition P), within S seconds
wait_archived() { # topic partition count seconds
    local deadline=$((SECONDS + $4)) n=0
    while ((SECONDS < deadline)); do
        n=$({ "$KTAPE" cat -a "$A" -t "$1" -p "$2" -f '%o\n' 2>/dev/null || true; } | wc -l)
        ((n >= $3)) && return 0
        kill -0 "$fpid" 2>/dev/null || fail "the follower died: $(tail -n 5 "$WORK/follower.err")"
        sleep 0.3
    done
    fail "$1 [$2]: $n of $3 records archived after $4 s"
}
wait_archived "$P-a" 0 10 20
wait "$gpid" || fail "could not make the 100 groups: $(tail -n 3 "$WORK/many.out")"

# -- a partition added while following: archived from its offset 0 --------------------------
t0=$SECONDS
kcli kafka-topics --bootstrap-server "$BS" --alter --topic "$P-a" --partitions 2 >/dev/null
seq 1 7 | awk '{printf "b%d\tvb%d\n", $1, $1}' | kcat -P -b "$BS" -t "$P-a" -K '\t' -p 1 ||
    fail "kcat could not produce to the new partition"
wait_archived "$P-a" 1 7 15
assert_eq "0 1 2 3 4 5 6" "$("$KTAPE" cat -a "$A" -t "$P-a" -p 1 -f '%o ' | sed 's/ $//')" "offsets of the new partition"
assert_eq "2" "$(sql "$A" "SELECT partitions FROM topic_snapshots WHERE topic = '$P-a'")" "the snapshot's partition count"
pass "a partition added while following is archived from offset 0 ($((SECONDS - t0)) s, --metadata-interval 2s)"

# -- a topic created while following, picked by the regex ------------------------------------
t0=$SECONDS
create_topic "$P-new" 2 --config retention.ms=86400000
{
    printf '0\t%s\tn0\tnv0\n' $(($(date +%s) * 1000))
    printf '1\t%s\tn1\tnv1\n' $(($(date +%s) * 1000))
    printf '1\t%s\tn2\tnv2\n' $(($(date +%s) * 1000))
} >"$WORK/new.spec"
produce_spec "$P-new" "$WORK/new.spec" --plain
create_topic "other-$RUN_ID" 1 # not picked
seq 1 3 | kcat -P -b "$BS" -t "other-$RUN_ID" || fail "kcat could not produce"
wait_archived "$P-new" 1 2 15
wait_archived "$P-new" 0 1 5
assert_eq "n0|nv0 n1|nv1 n2|nv2" "$("$KTAPE" cat -a "$A" -t "$P-new" -f '%k|%s ' | tr ' ' '\n' | sort | paste -sd' ')" \
    "the new topic's records"
assert_eq "2" "$(sql "$A" "SELECT partitions FROM topic_snapshots WHERE topic = '$P-new'")" "the new topic's partitions"
assert_eq "86400000" "$(sql "$A" "SELECT value FROM topic_configs WHERE topic = '$P-new' AND name = 'retention.ms'")" \
    "the new topic's config"
assert_eq "0" "$(sql "$A" "SELECT count(*) FROM segments WHERE topic = 'other-$RUN_ID'")" "a topic the regex does not pick"
pass "a topic created while following is archived with its partitions and configs ($((SECONDS - t0)) s)"

# -- consumer group snapshots every --groups-interval ------------------------------------------
G="fm-g-$RUN_ID"
setgroup() { # group topic:partition offset
    kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$1" --reset-offsets --topic "$2" \
        --to-offset "$3" --execute >/dev/null 2>&1 || fail "could not set $1"
}
snap_offset() { # group partition -> offsets of every snapshot, oldest first
    sql "$A" "SELECT committed_offset FROM group_snapshots WHERE group_id = '$1' AND topic = '$P-a'
              AND partition = $2 ORDER BY taken_ms" | paste -sd' '
}
wait_snapshot() { # group partition offset
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        [[ " $(snap_offset "$1" "$2")" == *" $3" ]] && return 0
        sleep 0.3
    done
    fail "no snapshot of $1 at $3 within 30 s (--groups-interval 2s): $(snap_offset "$1" "$2")"
}
setgroup "$G" "$P-a:0" 3
wait_snapshot "$G" 0 3
T1=$(($(date +%s%3N) + 1))
sleep 1
# after T1: more records, and the group moves on to 8
seq 11 15 | awk '{printf "a%d\tva%d\n", $1, $1}' | kcat -P -b "$BS" -t "$P-a" -K '\t' -p 0 ||
    fail "kcat could not produce"
setgroup "$G" "$P-a:0" 8
wait_snapshot "$G" 0 8
wait_archived "$P-a" 0 15 15
snaps=$(sql "$A" "SELECT count(DISTINCT taken_ms) FROM group_snapshots WHERE group_id = '$G'")
((snaps >= 2)) || fail "expected snapshots at two times, found $snaps"
# group_offsets keeps the latest capture only
assert_eq "8" "$(sql "$A" "SELECT committed_offset FROM group_offsets WHERE group_id = '$G' AND partition = 0")" \
    "group_offsets: the latest capture"
pass "group offsets archived every --groups-interval ($snaps snapshots; 3, then 8)"

# -- a topic deleted while following, then created again: a new generation -----------------
kcli kafka-topics --bootstrap-server "$BS" --delete --topic "$P-new" >/dev/null
deadline=$((SECONDS + 30))
until grep -q "topic $P-new was deleted while following" "$WORK/follower.err"; do
    ((SECONDS < deadline)) || fail "no warning about the deleted topic: $(cat "$WORK/follower.err")"
    sleep 0.3
done
until create_topic "$P-new" 1 2>/dev/null; do # until the broker has finished deleting it
    ((SECONDS < deadline)) || fail "could not create $P-new again"
    sleep 1
done
printf '0\t%s\tr1\trv1\n0\t%s\tr2\trv2\n' $(($(date +%s) * 1000)) $(($(date +%s) * 1000)) >"$WORK/re.spec"
produce_spec "$P-new" "$WORK/re.spec" --plain
deadline=$((SECONDS + 30))
until [[ $(sql "$A" "SELECT coalesce(sum(records), 0) FROM segments WHERE topic = '$P-new' AND generation = 1") == 2 ]]; do
    ((SECONDS < deadline)) || fail "the recreated topic is not archived as generation 1: $(sql "$A" "SELECT generation, partition, records FROM segments WHERE topic = '$P-new'")"
    sleep 0.3
done
assert_eq "3" "$(sql "$A" "SELECT sum(records) FROM segments WHERE topic = '$P-new' AND generation = 0")" \
    "the old generation's records"
grep -q "topic $P-new was deleted and recreated while following" "$WORK/follower.err" ||
    fail "no warning about the new generation: $(cat "$WORK/follower.err")"
pass "a topic deleted while following is finished with a warning; created again, it is generation 1"

stop_follower
grep -v "topic $P-new was deleted" "$WORK/follower.err" | grep -q "warning" &&
    fail "the follower warned: $(cat "$WORK/follower.err")"
pass "SIGTERM after a topic was deleted: exit 0 in $stop_ms ms"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"

# -- restore --at T1: the records up to T1, the group where the snapshot before T1 had it ------
# a2 (offset 1) is dropped, so that the target's offsets differ from the
# source's: the group's 3 (a4) is 2 on the target
D="fm-dst-$RUN_ID"
printf 'a2\n' >"$WORK/keys"
"$KTAPE" restore -b "$BS" -a "$A" -t "$P-a" --map "$P-a=$D" --create-topics --drop-keys "$WORK/keys" \
    --at "@$T1" --groups "^$G\$" >"$WORK/restore.out" 2>"$WORK/restore.err" ||
    fail "restore --at: $(cat "$WORK/restore.err")"
grep -q "consumer groups as of the snapshot taken at" "$WORK/restore.out" || fail "restore --at: $(cat "$WORK/restore.out")"
# partition 0: a1 a3..a10 (a11..a15 came after T1), partition 1: b1..b7
assert_eq "a1 a3 a4 a5 a6 a7 a8 a9 a10" \
    "$(kcat -b "$BS" -C -t "$D" -p 0 -o beginning -e -f '%k ' 2>/dev/null | sed 's/ $//')" "the target's partition 0"
assert_eq "7" "$(kcat -b "$BS" -C -t "$D" -p 1 -o beginning -e -f '%k\n' 2>/dev/null | wc -l)" "the target's partition 1"
committed() { # group topic partition (the tool's describe can come back empty: asked again)
    local got="" try
    for try in 1 2 3; do
        kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$1" --timeout 30000 \
            >"$WORK/describe.out" 2>&1 || true
        got=$(awk -v t="$2" -v p="$3" '$2==t && $3==p {print $4}' "$WORK/describe.out")
        [[ -n $got ]] && break
        sleep 1
    done
    echo "$got"
}
got=$(committed "$G" "$D" 0)
[[ $got == 2 ]] || fail "the group's offset on the target is '$got', expected 2 (the snapshot before T1: 3, a4): $(cat "$WORK/restore.out" "$WORK/restore.err" "$WORK/describe.out")"
assert_eq "a4 va4" "$(kcat -b "$BS" -C -t "$P-a" -p 0 -o 3 -c 1 -e -f '%k %s' 2>/dev/null)" "the source at 3"
next_in_group() { # group topic
    kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$2" --group "$1" --max-messages 1 \
        --timeout-ms 15000 --property print.key=true --property key.separator=' ' 2>/dev/null || true
}
assert_eq "a4 va4" "$(next_in_group "$G" "$D")" "the group's next record on the target"
pass "restore --at T: records up to T, the group at its snapshot before T, translated (source 3 -> target 2, next a4)"

# -- groups --at: the snapshot rule after the fact ---------------------------------------------
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G\$" --at "@$T1" --dry-run >"$WORK/at1.csv" 2>"$WORK/at1.err" ||
    fail "groups --at: $(cat "$WORK/at1.err")"
assert_eq "$G,$D,0,2" "$(cat "$WORK/at1.csv")" "groups --at T1"
grep -q "as of the snapshot taken at" "$WORK/at1.err" || fail "groups --at: $(cat "$WORK/at1.err")"
# now: the latest snapshot, 8 (a9); past the restored records (a9 is at 7 on the target)
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G\$" --at "@$(date +%s%3N)" --dry-run >"$WORK/at2.csv" 2>/dev/null ||
    fail "groups --at now"
assert_eq "$G,$D,0,7" "$(cat "$WORK/at2.csv")" "groups --at now"
# before any snapshot: nothing, with a warning
"$KTAPE" groups -b "$BS" -a "$A" --groups "^$G\$" --at 2001-01-01 --dry-run >"$WORK/at0.csv" 2>"$WORK/at0.err" ||
    fail "groups --at 2001"
[[ ! -s $WORK/at0.csv ]] || fail "a plan from before any snapshot: $(cat "$WORK/at0.csv")"
grep -q "no consumer group snapshot at or before" "$WORK/at0.err" || fail "groups --at 2001: $(cat "$WORK/at0.err")"
# the topic recreated after T1: --at T1 restores the generation of T1 (3 records), not generation 1
"$KTAPE" restore -b "$BS" -a "$A" -t "$P-new" --at "@$T1" --dry-run >"$WORK/gen.out" 2>&1 ||
    fail "restore --at --dry-run: $(cat "$WORK/gen.out")"
grep -q "^dry run: 3 records" "$WORK/gen.out" || fail "restore --at T1 of the recreated topic: $(cat "$WORK/gen.out")"
"$KTAPE" restore -b "$BS" -a "$A" -t "$P-new" --at "@$(date +%s%3N)" --dry-run >"$WORK/gen.out" 2>&1 ||
    fail "restore --at now --dry-run: $(cat "$WORK/gen.out")"
grep -q "^dry run: 2 records" "$WORK/gen.out" || fail "restore --at now of the recreated topic: $(cat "$WORK/gen.out")"
assert_exit 2 "$KTAPE" groups -b "$BS" -a "$A" --at "@$T1" --offsets "$WORK/keys"
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" --at "@$T1" --to-time "@$T1"
pass "groups --at T: the newest snapshot at or before T (3 -> 2 at T1, 8 -> 7 now, none in 2001)"
