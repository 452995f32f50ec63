#!/usr/bin/env bash
# A follower killed (SIGKILL, by KTAPE_TEST_CRASH) at each point of a
# compaction's swap (issue #15): after the merged file is written under
# tmp/, after it is in segments/ beside its parts, after the catalog swapped
# them, after the first part was removed. At each point, before any writer
# touches the archive: cat prints every committed record exactly once,
# verify finds nothing but the leftover files (kind "extra"), reindex of a
# copy indexes each record once with no missing range. Then the follower
# starts again (recovery removes the leftovers) and archives the rest:
# every produced record exactly once by the catalog, cat and the broker's
# high watermarks, verify clean, no file the catalog does not list, and
# reindex the same.
source "$KTAPE_SRC/tests/integration/lib.sh"
source "$KTAPE_SRC/tests/faults/fault_lib.sh"

producer() { # topic seconds: 20 records every 0.1 s
    local i n=$(($2 * 10))
    for ((i = 0; i < n; i++)); do
        seq $((i * 20 + 1)) $((i * 20 + 20)) | awk '{printf "k%d\tv%d\n", $1 % 7, $1}'
        sleep 0.1
    done | kcat -P -b "$BS" -t "$1" -K '\t' -X linger.ms=5
}

follow() { # archive topic [env...]
    local a=$1 t=$2
    shift 2
    env "$@" "$KTAPE" dump -b "$BS" -a "$a" -t "$t" --follow --commit-interval 200ms --compact-fanout 4 -q \
        2>>"$WORK/follower.err" &
    fpid=$!
}

kinds_other_than_extra() { # verify --json file
    python3 -c 'import json,sys; print(" ".join(sorted({p["kind"] for p in json.load(open(sys.argv[1]))["problems"]} - {"extra"})))' "$1"
}

# One crash point, in a subshell of its own: its topic, archive, follower
# and files (WORK is the point's own directory, for fault_lib's checks
# too); exits non-zero on the first failure.
crash_point() { # point
    local point=$1
    WORK="$WORK/$point"
    mkdir -p "$WORK"
    # (the main shell's EXIT trap is not a subshell's; not local: the trap
    # runs after the function returned)
    fpid= ppid=
    trap 'kill -9 $fpid $ppid 2>/dev/null || true' EXIT
    T="fault-compact-$point-$RUN_ID"
    A="$WORK/arch"
    create_topic "$T" 1
    producer "$T" 4 &
    ppid=$!
    follow "$A" "$T" KTAPE_TEST_CRASH=$point
    rc=0
    for ((s = 0; s < 150; s++)); do
        kill -0 "$fpid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$fpid" 2>/dev/null && fail "$point: the follower did not reach the crash point in 15 s"
    wait "$fpid" || rc=$?
    assert_eq 137 "$rc" "$point: the follower's exit status (killed by SIGKILL)"
    committed=$(sql "$A" "select coalesce(sum(records), 0) from segments")
    ((committed > 0)) || fail "$point: nothing committed before the crash"

    # a reader at once: every committed record once
    "$KTAPE" cat -a "$A" -t "$T" -f '%o\n' >"$WORK/cat.out" 2>"$WORK/cat.err" || fail "$point: cat: $(cat "$WORK/cat.err")"
    assert_eq "$committed" "$(wc -l <"$WORK/cat.out")" "$point: records cat prints after the crash"
    assert_eq "$committed" "$(sort -u "$WORK/cat.out" | wc -l)" "$point: distinct offsets cat prints after the crash"
    # verify: the leftovers are extra files, nothing else is wrong
    "$KTAPE" verify -a "$A" --json >"$WORK/verify.json" 2>/dev/null || true
    assert_eq "" "$(kinds_other_than_extra "$WORK/verify.json")" "$point: kinds of problems verify finds other than extra files"
    extra=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["extra_files"])' "$WORK/verify.json")
    # reindex of a copy as the crash left it
    cp -a "$A" "$WORK/copy"
    "$KTAPE" reindex -a "$WORK/copy" >"$WORK/reindex.out" 2>&1 || fail "$point: reindex: $(cat "$WORK/reindex.out")"
    assert_eq 0 "$(sql "$WORK/copy" "select count(*) from missing_ranges")" "$point: missing ranges after reindex"
    "$KTAPE" cat -a "$WORK/copy" -t "$T" -f '%o\n' >"$WORK/cat.out" || fail "$point: cat after reindex"
    assert_eq "$committed" "$(wc -l <"$WORK/cat.out")" "$point: records after reindex"
    assert_eq "$committed" "$(sort -u "$WORK/cat.out" | wc -l)" "$point: distinct offsets after reindex"
    rm -rf "$WORK/copy"

    # the next writer recovers and archives the rest
    follow "$A" "$T"
    wait "$ppid" || fail "$point: the producer failed"
    total=$(hw_sum "$T" 1)
    deadline=$((SECONDS + 20))
    while (($(sql "$A" "select coalesce(sum(records), 0) from segments") < total && SECONDS < deadline)); do sleep 0.3; done
    kill -TERM "$fpid"
    wait "$fpid" || fail "$point: the restarted follower failed: $(tail -3 "$WORK/follower.err")"
    check_archive_exact "$A" "$T" 1
    check_run_accounting "$A"
    assert_eq "$(sql "$A" "select count(*) from segments")" "$(find "$A/segments" -name '*.kts' | wc -l)" \
        "$point: segment files = catalog rows after recovery"
    cp -a "$A" "$WORK/copy"
    "$KTAPE" reindex -a "$WORK/copy" >"$WORK/reindex.out" 2>&1 || fail "$point: reindex: $(cat "$WORK/reindex.out")"
    assert_eq 0 "$(sql "$WORK/copy" "select count(*) from missing_ranges")" "$point: missing ranges after the final reindex"
    check_archive_exact "$WORK/copy" "$T" 1
    rm -rf "$WORK/copy"
    pass "$point: killed there with $committed records committed ($extra leftover file(s)); cat, verify, reindex agree; the next follower archived all $total exactly once"
}

# The four points are independent (each its own topic, archive and
# follower): they run side by side, in about a third of the time one after
# the other took.
points=(compact-written compact-placed compact-swapped compact-removing)
pids=()
for point in "${points[@]}"; do
    (crash_point "$point") &
    pids+=($!)
done
failed=()
for i in "${!points[@]}"; do
    wait "${pids[$i]}" || failed+=("${points[$i]}")
done
((${#failed[@]} == 0)) || fail "crash points that failed (above): ${failed[*]}"
