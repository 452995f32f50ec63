# fault_lib.sh - shared by the fault tests (bash, sourced after
# tests/integration/lib.sh): sizes of the short and the long run, a
# reproducible random source, and the exactly-once checks of an archive and
# of a restored topic against Kafka's own high watermarks.

# tools/test --long sets KTAPE_FAULTS_LONG=1: more kills, more records.
if [[ ${KTAPE_FAULTS_LONG:-0} == 1 ]]; then
    FAULT_KILLS=${KTAPE_FAULTS_KILLS:-20}
    FAULT_RECORDS=${KTAPE_FAULTS_RECORDS:-6000000}
else
    FAULT_KILLS=${KTAPE_FAULTS_KILLS:-3}
    # enough that a dump is still running after the kills' 3.5 s (a dump
    # reads a million of these in about a second since issue #19)
    FAULT_RECORDS=${KTAPE_FAULTS_RECORDS:-4000000}
fi
# the kill instants are random; the seed is printed so that a failure can be
# replayed with KTAPE_FAULTS_SEED
FAULT_SEED=${KTAPE_FAULTS_SEED:-$(($(date +%s%N) % 32768))}
RANDOM=$FAULT_SEED
echo "fault test $TEST_NAME: seed $FAULT_SEED, $FAULT_KILLS kills, $FAULT_RECORDS records (KTAPE_FAULTS_SEED replays it)"

now_ms() { date +%s%3N; }
# A random delay in seconds between lo and hi milliseconds, e.g. "1.234".
rand_delay() { # lo_ms hi_ms
    local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# Fills a topic fast with kcat (not transactional: offsets 0..n-1 are the
# records): null keys and values of 100 random capital letters, as Kafka's
# perf producer sends them (the archive compresses them alike, 60%), in
# about half its time (no JVM). Setup only: the high watermarks check the
# count.
fill_topic() { # topic partitions records
    create_topic "$1" "$2"
    # 75 random bytes are 100 base64 characters, a line each, mapped onto
    # A-Z; (the pipe's SIGPIPE is outside what pipefail checks)
    kcat -P -b "$BS" -t "$1" -X linger.ms=20 -X batch.size=1000000 -X acks=1 2>"$WORK/fill.err" \
        < <(head -c $(($3 * 75)) /dev/urandom | base64 -w 100 | tr '[:lower:][:digit:]+/' 'A-ZA-JKL') ||
        fail "kcat could not fill $1: $(tail -3 "$WORK/fill.err")"
    assert_eq "$3" "$(hw_sum "$1" "$2")" "records in $1 by its high watermarks"
}

# Sum of the partitions' high watermarks, read from the broker by kcat.
hw_sum() { # topic partitions
    local args=() p
    for ((p = 0; p < $2; p++)); do args+=(-t "$1:$p:-1"); done
    kcat -b "$BS" -Q "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}

# Every offset of the topic in the archive exactly once, by the catalog, by
# ktape cat and against the broker's high watermarks; verify clean; no
# temporary file left.
check_archive_exact() { # archive topic partitions
    local a=$1 t=$2 parts=$3 p hw
    for ((p = 0; p < parts; p++)); do
        hw=$(kcat -b "$BS" -Q -t "$t:$p:-1" 2>/dev/null | awk '{print $NF}')
        assert_eq "$hw" "$(sql "$a" "select coalesce(sum(records), 0) from segments where topic='$t' and partition=$p")" \
            "catalog records of $t [$p] (high watermark $hw)"
        assert_eq "$hw" "$(sql "$a" "select coalesce(max(last_offset) + 1, 0) from segments where topic='$t' and partition=$p")" \
            "end of $t [$p] in the catalog"
    done
    assert_eq 0 "$(sql "$a" "select count(*) from segments x join segments y on x.topic=y.topic and x.generation=y.generation and x.partition=y.partition and x.segment_id<y.segment_id and x.first_offset<=y.last_offset and y.first_offset<=x.last_offset")" \
        "overlapping segments"
    "$KTAPE" cat -a "$a" -t "$t" --format '%p %o\n' >"$WORK/cat.out" 2>"$WORK/cat.err" || fail "ktape cat: $(head -3 "$WORK/cat.err")"
    local total
    total=$(hw_sum "$t" "$parts")
    assert_eq "$total" "$(wc -l <"$WORK/cat.out")" "records printed by ktape cat"
    # (bytewise: twice as fast as the locale's collation on millions of lines)
    assert_eq "$total" "$(LC_ALL=C sort -u "$WORK/cat.out" | wc -l)" "distinct (partition, offset) printed by ktape cat"
    "$KTAPE" verify -a "$a" >"$WORK/verify.out" 2>&1 || fail "ktape verify: $(tail -5 "$WORK/verify.out")"
    [[ -z $(ls -A "$a/tmp") ]] || fail "temporary files left in $a/tmp: $(ls "$a/tmp")"
    rm -f "$WORK/cat.out"
}

# The runs table says what the catalog holds: each dump run's records are
# those of the segments it committed.
check_run_accounting() { # archive
    assert_eq "" "$(sql "$1" "select r.run_id||': '||r.records||' != '||coalesce(s.n, 0) from runs r left join (select run_id, sum(records) n from segments group by run_id) s on s.run_id = r.run_id where r.kind = 'dump' and r.records != coalesce(s.n, 0)")" \
        "dump runs whose records differ from their segments"
}

# A restored topic holds every source record exactly once: its high
# watermarks against the archive's counts, then ktape compare.
# With TO_OFFSET, the restore took each partition's offsets below it (a
# topic that kcat filled: offsets are records).
check_restore_exact() { # archive source target partitions [to_offset]
    local p want range=()
    [[ -z ${5:-} ]] || range=(--to-offset "$5")
    for ((p = 0; p < $4; p++)); do
        want=${5:-$(sql "$1" "select coalesce(sum(records), 0) from segments where topic='$2' and partition=$p")}
        assert_eq "$want" "$(kcat -b "$BS" -Q -t "$3:$p:-1" 2>/dev/null | awk '{print $NF}')" \
            "records in $3 [$p] by its high watermark"
    done
    "$KTAPE" compare -b "$BS" -a "$1" -t "$2" --map "$2=$3" "${range[@]}" >"$WORK/compare.out" 2>&1 ||
        fail "ktape compare: $(tail -5 "$WORK/compare.out")"
}
