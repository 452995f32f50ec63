#!/usr/bin/env bash
# SIGTERM and SIGINT during a big dump and a big restore: the process stops
# within 5 s with exit 130 (docs/ktape.1), what it completed is committed
# (the dump's open segments, the restore's delivered records), and the same
# command run again continues to the end with every record exactly once.
source "$KTAPE_SRC/tests/integration/lib.sh"
source "$KTAPE_SRC/tests/faults/fault_lib.sh"

T="fault-signal-$RUN_ID"
P=3
# a signal stops one run, so the long variant's millions add nothing here
# (a dump reads two million of these records a second since issue #19: a
# fixed delay of 1-2 s came after the end of one of 4M, so the dump's
# signal is timed from its first written bytes, below)
((FAULT_RECORDS > 4000000)) && FAULT_RECORDS=4000000
fill_topic "$T" "$P" "$FAULT_RECORDS"

# Starts a command in the background, sends SIG after DELAY, and checks the
# stop: exit 130 within 5 s. Sets STOP_MS. With READY_DIR set, DELAY counts
# from the first non-empty file in that directory (a dump's segment being
# written in ARCHIVE/tmp), at most 20 s from the start.
stop_with() { # SIG delay errfile command...
    local sig=$1 delay=$2 err=$3 i
    shift 3
    "$@" 2>"$err" &
    local pid=$!
    if [[ -n ${READY_DIR:-} ]]; then
        for ((i = 0; i < 1000; i++)); do
            [[ -n $(find "$READY_DIR" -type f -size +0 2>/dev/null | head -1) ]] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        ((i < 1000)) || fail "'$*' wrote nothing in $READY_DIR in 20 s"
    fi
    sleep "$delay"
    kill -0 "$pid" 2>/dev/null || fail "'$*' ended before SIG$sig was sent: $(tail -3 "$err")"
    local t0 rc=0
    t0=$(now_ms)
    kill -"$sig" "$pid"
    wait "$pid" || rc=$?
    STOP_MS=$(($(now_ms) - t0))
    assert_eq 130 "$rc" "exit code after SIG$sig ($(tail -2 "$err"))"
    ((STOP_MS <= 5000)) || fail "SIG$sig: stopped after $STOP_MS ms, more than 5 s"
}

# -- dump -----------------------------------------------------------------------------
# The default commit interval (30 s) and segment size (256M) commit nothing
# before the signal: what the archive holds after it, the stop committed.
# The signal comes 0.1-0.5 s after the dump began to write its segments, of
# the 1.5 s or more it takes to write 4M records here.
for sig in TERM INT; do
    A="$WORK/archive-$sig"
    READY_DIR="$A/tmp" stop_with "$sig" "$(rand_delay 100 500)" "$WORK/dump-$sig.err" \
        "$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q
    got=$(sql "$A" "select coalesce(sum(records), 0) from segments")
    ((got > 0 && got < FAULT_RECORDS)) || fail "SIG$sig: $got records committed by the stopped dump"
    assert_eq "interrupted $got" "$(sql "$A" "select status||' '||records from runs where run_id = 1")" "the stopped run"
    [[ -f $A/meta/0000000001-dump.ktm ]] || fail "no metadata file for the stopped dump"
    "$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q 2>"$WORK/dump2-$sig.err" || fail "dump after SIG$sig: $(tail -3 "$WORK/dump2-$sig.err")"
    grep -q "marked crashed" "$WORK/dump2-$sig.err" && fail "the stopped dump was taken for a crash"
    check_archive_exact "$A" "$T" "$P"
    check_run_accounting "$A"
    pass "dump: SIG$sig stopped it in $STOP_MS ms with exit 130 and $got records committed; the next run completed it"
done

# -- restore ----------------------------------------------------------------------------
# The first 400000 offsets of each partition (1.2M records): capped at
# 400000 records/s the run lasts 3 s at least, so that the signal (at most
# 2 s in) lands inside it, in a third of the time that all 4M took at
# 250000/s, the compare too.
A="$WORK/archive-TERM"
TO=400000
for sig in TERM INT; do
    C="$T-copy-$sig"
    create_topic "$C" "$P"
    cmd=("$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$C" --to-offset "$TO" -q --rate-msgs 400000)
    stop_with "$sig" "$(rand_delay 800 2000)" "$WORK/restore-$sig.err" "${cmd[@]}"
    got=$(hw_sum "$C" "$P")
    ((got > 0 && got < P * TO)) || fail "SIG$sig: $got records in $C after the stopped restore"
    "${cmd[@]}" 2>"$WORK/restore2-$sig.err" || fail "restore after SIG$sig: $(tail -3 "$WORK/restore2-$sig.err")"
    grep -q "continuing the interrupted restore" "$WORK/restore2-$sig.err" || fail "the restore after SIG$sig did not continue"
    # every selected record exactly once: the high watermarks, then compare
    # of the same selection (a record past it would be extra in the cluster)
    for ((p = 0; p < P; p++)); do
        assert_eq "$TO" "$(kcat -b "$BS" -Q -t "$C:$p:-1" 2>/dev/null | awk '{print $NF}')" "records in $C [$p] by its high watermark"
    done
    "$KTAPE" compare -b "$BS" -a "$A" -t "$T" --map "$T=$C" --to-offset "$TO" >"$WORK/compare.out" 2>&1 ||
        fail "ktape compare: $(tail -5 "$WORK/compare.out")"
    pass "restore: SIG$sig stopped it in $STOP_MS ms with exit 130 after $got of $((P * TO)) records; the next run completed it, compare equal"
done
