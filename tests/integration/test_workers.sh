#!/usr/bin/env bash
# dump --follow --worker-group (issue #20), against the real broker and
# S3Proxy: 3 workers of one consumer group archive a 12-partition topic
# into one bucket archive under a steady producer; one is killed with
# kill -9, a 4th joins, one is stopped with SIGTERM, all while producing,
# and a restore reads the archive during the rebalance. At the end every
# produced record is in the archive exactly once (ktape cat), verify
# passes, no offset of a partition is in two shards, the group's committed
# offsets are the partitions' ends, and the restore saw each record once.
# Prints the hand-over time: from the kill to the dead worker's partitions
# being archived by the others.
source "$(dirname "$0")/lib.sh"

if [[ -z ${KTAPE_TEST_S3:-} || -z ${AWS_ENDPOINT_URL:-} ]]; then
    echo "FAIL: no S3 server: KTAPE_TEST_S3 and AWS_ENDPOINT_URL are not set (tools/s3-local)" >&2
    exit 1
fi

t="it-workers-$RUN_ID"
G="ktape-it-workers-$RUN_ID"
A="${KTAPE_WORKERS_ARCHIVE:-s3://ktape/it-workers-$RUN_ID}"
create_topic "$t" 12
declare -A wpid
start_worker() { # id
    # the broker's least session timeout (group.min.session.timeout.ms):
    # the operator's -X, not ktape's 10 s, decides when a dead one's
    # partitions move (checked at the hand-over below)
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --worker-group "$G" --worker-id "$1" \
        --commit-interval 1s --compact-fanout 0 --metrics-file "$WORK/$1.prom" -X session.timeout.ms=6000 \
        -q 2>>"$WORK/$1.err" &
    wpid[$1]=$!
}
cleanup() {
    for p in "${wpid[@]}" ${ppid_:-}; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# the producer: 100 records every 0.1 s, values 1, 2, 3, ... in order
produced_file="$WORK/produced"
echo 0 >"$produced_file"
producer() {
    local n=0
    while [[ ! -f $WORK/stop-producing ]]; do
        seq $((n + 1)) $((n + 100)) | awk '{printf "k%d\tv%d\n", $1 % 97, $1}' |
            kcat -P -b "$BS" -t "$t" -K '\t' || exit 1
        n=$((n + 100))
        echo "$n" >"$produced_file"
        sleep 0.1
    done
}
producer &
ppid_=$!

# the partitions the metrics of workers W... say they own, one a line
owned() { # worker...
    local w
    for w in "$@"; do
        if [[ -f $WORK/$w.prom ]]; then awk -F'"' '/^ktape_dump_partition_owner/ {print $4}' "$WORK/$w.prom"; fi
    done | sort
}
# until the workers' metrics (written at each commit) split the 12
# partitions between them, each some and none twice: the group is settled
# and each has committed what it owns (instead of fixed sleeps)
wait_owned() { # seconds worker...
    local deadline=$((SECONDS + $1)) w
    shift
    while ((SECONDS < deadline)); do
        if [[ $(owned "$@" | sort -u | wc -l) == 12 && -z $(owned "$@" | uniq -d) ]]; then
            for w in "$@"; do [[ -n $(owned "$w") ]] || continue 2; done
            return 0
        fi
        sleep 0.2
    done
    fail "workers $* do not own the 12 partitions after a while: $(for w in "$@"; do echo "$w: $(owned "$w" | paste -sd,)"; done)"
}
commit_ts() { awk '$1 == "ktape_dump_last_commit_timestamp_seconds" {print $2}' "$WORK/$1.prom" 2>/dev/null; }
# SIGTERM: exit 0, within 10 s (a rebalance that ended inside the
# member's close once held it for 30 s)
stop_worker() { # id
    local t0=$SECONDS
    kill -TERM "${wpid[$1]}"
    wait "${wpid[$1]}" || fail "$1 did not end ok at SIGTERM: $(tail -n 3 "$WORK/$1.err")"
    unset "wpid[$1]"
    ((SECONDS - t0 <= 10)) || fail "$1 took $((SECONDS - t0)) s to stop at SIGTERM"
}

for w in w1 w2 w3; do start_worker "$w"; done
wait_owned 60 w1 w2 w3
# and w2 commits what it owns once more: its last 5 s before the kill
# hold commits of each of its partitions (the hand-over below)
c=$(commit_ts w2)
for _ in $(seq 50); do [[ $(commit_ts w2) != "$c" ]] && break; sleep 0.1; done
# kill -9: its partitions go to the others after the session timeout (6 s)
kill -9 "${wpid[w2]}"
wait "${wpid[w2]}" 2>/dev/null || true
unset 'wpid[w2]'
t_kill=$(date +%s%3N)
start_worker w4
# a restore while the group rebalances
"$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$t-copy" --create-topics -q 2>"$WORK/restore.err" &
rpid=$!
# the rebalance ends once w2's session timed out: w1, w3 and w4 own all
wait_owned 60 w1 w3 w4
stop_worker w3
wait "$rpid" || fail "the restore during the rebalance failed: $(tail -n 3 "$WORK/restore.err")"
# w3's partitions handed over, still under the producer
wait_owned 60 w1 w4
touch "$WORK/stop-producing"
wait "$ppid_" || fail "the producer failed"
ppid_=
produced=$(cat "$produced_file")
# everything archived within a few commit intervals
got=0
for _ in $(seq 60); do
    got=$("$KTAPE" cat -a "$A" -t "$t" -f '%s\n' 2>/dev/null | wc -l)
    ((got >= produced)) && break
    sleep 1
done
((got == produced)) || fail "the archive holds $got of $produced records (w1: $(tail -n 2 "$WORK/w1.err"))"
# the metrics say who owns what: w1 and w4 hold the 12 partitions between them
owned w1 w4 >"$WORK/owned"
assert_eq 12 "$(sort -u "$WORK/owned" | wc -l)" "partitions w1's and w4's metrics say they own"
assert_eq 0 "$(uniq -d <"$WORK/owned" | wc -l)" "partitions two workers' metrics claim"
grep -q 'worker="w4"' "$WORK/w4.prom" || fail "w4's metrics do not name it"
# the dead worker comes back (its machine restarted): its shard's
# uncommitted tail, if any, is removed; it takes partitions again (its
# metrics of before the kill are moved away: the new ones are read)
mv "$WORK/w2.prom" "$WORK/w2-killed.prom"
start_worker w2
wait_owned 60 w1 w2 w4
for w in w1 w2 w4; do stop_worker "$w"; done

"$KTAPE" cat -a "$A" -t "$t" -f '%s\n' | sed 's/^v//' | sort -n >"$WORK/values"
assert_eq 0 "$(uniq -d <"$WORK/values" | wc -l)" "records read twice"
seq 1 "$produced" | cmp -s - "$WORK/values" || fail "cat does not give 1..$produced exactly once"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify: $(tail -n 5 "$WORK/verify.out")"
"$KTAPE" ls -a "$A" >"$WORK/ls.out"
for w in w1 w2 w3 w4; do
    grep -qE "^$w +ok +[0-9]+ +[0-9]+ +20[0-9-]+T" "$WORK/ls.out" || fail "ls does not show worker $w: $(tail -n 6 "$WORK/ls.out")"
done
# no offset in two shards: each shard read on its own
: >"$WORK/shard-offsets"
for w in w1 w2 w3 w4; do
    "$KTAPE" cat -a "$A/shards/$w" -t "$t" -f '%p %o\n' >>"$WORK/shard-offsets" 2>/dev/null || true
done
assert_eq "$produced" "$(wc -l <"$WORK/shard-offsets")" "offsets in the shards together"
assert_eq 0 "$(sort "$WORK/shard-offsets" | uniq -d | wc -l)" "offsets held by two shards"
used=$(for w in w1 w2 w3 w4; do "$KTAPE" cat -a "$A/shards/$w" -t "$t" -f '%p\n' 2>/dev/null | sort -u | wc -l; done |
    paste -sd' ')
# the group's offsets are the archived ends (lag 0 everywhere)
kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null |
    awk -v t="$t" '$2 == t {lag += $6; n++} END {print n, lag}' >"$WORK/lag"
assert_eq "12 0" "$(cat "$WORK/lag")" "partitions with a committed offset, and their total lag"
# the restore read a consistent archive: no record twice
kcat -C -b "$BS" -t "$t-copy" -e -q -f '%s\n' | sort >"$WORK/restored"
assert_eq 0 "$(uniq -d <"$WORK/restored" | wc -l)" "records the restore wrote twice"
restored=$(wc -l <"$WORK/restored")
((restored > 0)) || fail "the restore during the rebalance wrote nothing"
# hand-over: from the kill to the first commit, by another shard, of each
# partition w2 was archiving (the shards' published catalogs)
s3_get() { # key file
    curl -sS --fail --aws-sigv4 "aws:amz:${AWS_REGION}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        -o "$2" "$AWS_ENDPOINT_URL/ktape/$1"
}
for w in w1 w2 w3 w4; do
    if [[ $A == s3://ktape/* ]]; then
        s3_get "${A#s3://ktape/}/shards/$w/catalog.db" "$WORK/$w.db" || fail "no catalog of shard $w"
    else
        sqlite3 "$A/shards/$w/catalog.db" ".backup '$WORK/$w.db'"
    fi
done
handover=$(python3 - "$WORK" "$t_kill" <<'PY'
import sqlite3, sys
work, t_kill = sys.argv[1], int(sys.argv[2])
def q(w, sql, *a):
    return sqlite3.connect(f"{work}/{w}.db").execute(sql, a).fetchall()
# what w2 was archiving: partitions it committed in its last 5 s
held = {p for (p,) in q("w2", "SELECT DISTINCT partition FROM segments WHERE committed_ms BETWEEN ? AND ?",
                        t_kill - 5000, t_kill)}
first = {}
for w in ("w1", "w3", "w4"):
    for p, c in q(w, "SELECT partition, min(committed_ms) FROM segments WHERE committed_ms > ? GROUP BY partition",
                  t_kill):
        if p in held:
            first[p] = min(first.get(p, c), c)
print(len(held), max(first.values()) - t_kill if held and len(first) == len(held) else -1)
PY
)
# what w2's restart removed of its shard (written after its last commit
# before the kill -9, archived again by the group): the warning and the
# metrics agree
read -r rm_files rm_offsets < <(sed -n 's/.*removed \([0-9]*\) segment file(s) no catalog listed (\([0-9]*\) offset.*/\1 \2/p' \
    "$WORK/w2.err" | tail -n 1 | grep . || echo 0 0)
assert_eq "$rm_files" "$(awk '$1 == "ktape_dump_unlisted_removed_files" {print $2}' "$WORK/w2.prom")" \
    "w2's metrics' removed files (the warning says $rm_files)"
assert_eq "$rm_offsets" "$(awk '$1 == "ktape_dump_unlisted_removed_offsets" {print $2}' "$WORK/w2.prom")" \
    "w2's metrics' removed offsets (the warning says $rm_offsets)"
echo "w2's restart after kill -9 removed $rm_files unlisted segment file(s), $rm_offsets offset(s): written twice"
echo "produced $produced records; shards' partitions (w1 w2 w3 w4): $used; restore wrote $restored"
echo "hand-over after kill -9: w2's partitions, and ms from the kill until the last of them was committed by another worker: $handover"
read -r hn hms <<<"$handover"
((hn > 0 && hms > 0)) || fail "w2's partitions were not taken over ($handover)"
# 6 s of session, a rebalance and a 1 s commit; ktape's own 10 s session
# could not be under 10 s
((hms < 10000)) || fail "w2's partitions were committed by others $hms ms after its kill: -X session.timeout.ms=6000 did not apply"
pass "4 workers, a kill -9 and a SIGTERM under a steady producer: every record once, verify clean, no offset in two shards, group offsets at the ends"
