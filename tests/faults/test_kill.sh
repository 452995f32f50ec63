#!/usr/bin/env bash
# kill -9 at random instants of one big dump, and of one big restore, each
# restarted after every kill with the same command (the restore's last run
# without its throttle): in the end every record
# is in the archive (and in the restored topic) exactly once, by ktape's own
# catalog, cat and compare and by the broker's high watermarks, and the
# runs table counts what each run committed. Short by default; tools/test
# --long (KTAPE_FAULTS_LONG=1) kills 20 times in a run of millions.
source "$KTAPE_SRC/tests/integration/lib.sh"
source "$KTAPE_SRC/tests/faults/fault_lib.sh"

T="fault-kill-$RUN_ID"
P=3
# a dump reads over a million of these records a second here (issue #19):
# the long run's 20 kills need three times the other tests' records to land
# in it; its restore then takes the first FAULT_RECORDS of them
RECORDS=$FAULT_RECORDS
TO=
if [[ ${KTAPE_FAULTS_LONG:-0} == 1 ]]; then
    RECORDS=$((FAULT_RECORDS * 3))
    TO=$((FAULT_RECORDS / P))
fi
fill_topic "$T" "$P" "$RECORDS"
A="$WORK/archive"

# -- dump ---------------------------------------------------------------------------
# A 100 ms commit interval: each kill loses at most about that much reading.
dump_cmd=("$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q --commit-interval 100ms)
killed=0
finished=0
prev=0
advanced=0
# The kills must land inside the run however fast this machine dumps (a
# dump reads millions of records a second since issue #19): each delay aims
# at an equal share of what is left for the kills still to come, from the
# last killed run's pace, at random within -40%..+40% of that, never under
# 0.25 s (start-up takes about 0.1 s) nor over 3.5 s.
aim=600
for ((i = 1; i <= FAULT_KILLS; i++)); do
    "${dump_cmd[@]}" 2>>"$WORK/dump.err" &
    pid=$!
    delay=$(rand_delay $((aim * 6 / 10)) $((aim * 14 / 10)))
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        # a kill in the few ms between the run's end in the catalog and
        # the process's exit found a finished run
        if [[ $(sql "$A" "select status from runs where kind='dump' order by run_id desc limit 1") == ok ]]; then
            echo "dump run $i had finished when it was killed"
            finished=1
            break
        fi
        killed=$((killed + 1))
    else
        wait "$pid" || fail "dump run $i failed: $(tail -3 "$WORK/dump.err")"
        finished=1
        break
    fi
    now=$(sql "$A" "select coalesce(sum(records), 0) from segments" 2>/dev/null || echo 0)
    ((now >= prev)) || fail "the archive shrank from $prev to $now records after kill $i"
    ((now > prev)) && advanced=$((advanced + 1))
    echo "dump kill $i after ${delay}s: $now of $RECORDS records committed"
    delay_ms=$((10#${delay/./}))
    if ((now > prev && delay_ms > 100)); then
        aim=$(((RECORDS - now) * (delay_ms - 100) / (now - prev) / (FAULT_KILLS - i + 1) + 100))
    else
        aim=$((aim * 3 / 2)) # nothing committed: longer
    fi
    ((aim < 417)) && aim=417   # 0.6 * 417 = 0.25 s
    ((aim > 2500)) && aim=2500 # 1.4 * 2500 = 3.5 s
    prev=$now
done
# issue #12: in the long run, all the kills land inside the one dump
[[ ${KTAPE_FAULTS_LONG:-0} != 1 ]] || ((killed == FAULT_KILLS)) ||
    fail "only $killed of $FAULT_KILLS kills landed before the dump finished: $RECORDS records are too few here"
((killed >= 1)) || fail "no dump was still running when it was killed: the topic is too small"
((prev > 0 || finished)) || fail "$killed killed dumps committed nothing: $(tail -3 "$WORK/dump.err")"
((advanced >= (killed + 1) / 2 || finished)) || fail "only $advanced of $killed killed dumps moved the archive forward"
t0=$(now_ms)
"${dump_cmd[@]}" 2>>"$WORK/dump.err" || fail "dump after $killed kills: $(tail -3 "$WORK/dump.err")"
echo "final dump: $(($(now_ms) - t0)) ms"
check_archive_exact "$A" "$T" "$P"
check_run_accounting "$A"
assert_eq "$killed" "$(sql "$A" "select count(*) from runs where kind='dump' and status='crashed'")" "crashed dump runs"
# the last run finishes; so did one in the loop if the kills came too late
assert_eq $((1 + finished)) "$(sql "$A" "select count(*) from runs where kind='dump' and status='ok'")" "dump runs that finished"
for id in $(sql "$A" "select run_id from runs where kind='dump'"); do
    [[ -f $A/meta/$(printf '%010d' "$id")-dump.ktm ]] || fail "no metadata file for dump run $id"
done
pass "dump killed $killed times ($advanced moved forward), then resumed: $RECORDS records exactly once, verify clean"

# -- restore ------------------------------------------------------------------------
C="$T-copy"
create_topic "$C" "$P"
# throttled so that the kills land inside the run; the last run, which no
# kill interrupts, goes at full speed (twice that here): what a run
# continues is its selection, not its rate
restore_sel=("$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$C" -q ${TO:+--to-offset "$TO"})
restore_cmd=("${restore_sel[@]}" --rate-msgs 250000)
killed=0
for ((i = 1; i <= FAULT_KILLS; i++)); do
    "${restore_cmd[@]}" 2>>"$WORK/restore.err" &
    pid=$!
    delay=$(rand_delay 400 1400)
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        killed=$((killed + 1))
    else
        wait "$pid" || fail "restore run $i failed: $(tail -3 "$WORK/restore.err")"
        break
    fi
    echo "restore kill $i after ${delay}s: $(hw_sum "$C" "$P") of ${TO:+$((TO * P)) of }$RECORDS records in $C"
done
((killed >= 1)) || fail "no restore was still running when it was killed"
t0=$(now_ms)
"${restore_sel[@]}" 2>>"$WORK/restore.err" || fail "restore after $killed kills: $(tail -3 "$WORK/restore.err")"
echo "final restore: $(($(now_ms) - t0)) ms"
grep -q "continuing the interrupted restore" "$WORK/restore.err" || fail "no restore continued an interrupted one"
check_restore_exact "$A" "$T" "$C" "$P" "$TO"
pass "restore killed $killed times, then resumed: ${TO:+$((TO * P)) of }$RECORDS records exactly once, compare equal"
