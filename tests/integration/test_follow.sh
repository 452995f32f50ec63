#!/usr/bin/env bash
# dump --follow (issue #15), against the real broker: a producer writes
# continuously for 10 s while the follower runs, the follower is killed with
# kill -9 at two random moments and started again each time; at the end
# every produced record is in the archive exactly once and verify passes.
# Readers see each commit while it runs; a record produced at the end is
# readable within the commit interval + 2 s; a second writer is refused;
# SIGTERM commits and exits 0 within 5 s; the metrics file is rewritten at
# every commit. ls --runs tells the killed follower's run (still 'running'
# in the catalog until the next writer marks it crashed) as dead and the
# live one as alive, on a read-only view of the archive.
source "$(dirname "$0")/lib.sh"

t="it-follow-$RUN_ID"
A="$WORK/arch"
create_topic "$t" 3
INTERVAL=2

start_follower() {
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --commit-interval "${INTERVAL}s" -q \
        --metrics-file "$WORK/ktape.prom" \
        2>>"$WORK/follower.err" &
    fpid=$!
}
# ls on a read-only view of the archive. As root a read-only bind mount in
# a mount namespace of its own: the same inodes, so the lock a live
# follower holds is seen through it. Else a copy without write permission
# for the dead run (copy live: mode "live"; a live follower's lock is not
# in a copy, so that ls reads $A itself).
ro_ls() { # dead|live, ls arguments
    local mode=$1
    shift
    if [[ $(id -u) == 0 ]]; then
        mkdir -p "$WORK/ro"
        unshare -m sh -c 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"' \
            _ "$A" "$WORK/ro" "$KTAPE" ls -a "$WORK/ro" "$@"
    elif [[ $mode == dead ]]; then
        rm -rf "$WORK/ro" && cp -a "$A" "$WORK/ro" && chmod -R a-w "$WORK/ro" || fail "cannot copy $A"
        local rc=0
        "$KTAPE" ls -a "$WORK/ro" "$@" || rc=$?
        chmod -R u+w "$WORK/ro"
        return $rc
    else
        "$KTAPE" ls -a "$A" "$@"
    fi
}
last_dump_run() { # ls --runs output file -> "STATUS: ROW" of the newest dump run
    awk '$2 == "dump" { last = $5 ": " $0 } END { print last }' "$1"
}
json_runs() { # ls --json output file -> "status:alive" of each dump run
    python3 -c 'import json, sys
print(" ".join("%s:%s" % (r["status"], {True: "true", False: "false", None: "null"}[r["alive"]])
               for r in json.load(open(sys.argv[1]))["runs"] if r["kind"] == "dump"))' "$1"
}
# after the first kill -9: the run is 'running' in the catalog, and dead
check_dead_run() {
    ro_ls dead --runs --html "$WORK/ls-dead.html" >"$WORK/ls-dead.out" 2>"$WORK/ls.err" ||
        fail "ls --runs read-only: $(cat "$WORK/ls.err")"
    [[ $(last_dump_run "$WORK/ls-dead.out") == "dead: "*"its process is gone"* ]] ||
        fail "ls --runs after kill -9 does not say the run is dead: $(cat "$WORK/ls-dead.out")"
    grep -q '<tr class="dead" data-run="1">' "$WORK/ls-dead.html" || fail "ls --html does not show run 1 as dead"
    ro_ls dead --json >"$WORK/ls-dead.json" 2>"$WORK/ls.err" || fail "ls --json read-only: $(cat "$WORK/ls.err")"
    assert_eq "running:false" "$(json_runs "$WORK/ls-dead.json")" "ls --json runs after kill -9"
}

produced=0
produce_batch() { # count
    local from=$((produced + 1)) to=$((produced + $1))
    seq "$from" "$to" | awk '{printf "k%d\tv%d\n", $1 % 13, $1}' | kcat -P -b "$BS" -t "$t" -K '\t' ||
        fail "kcat could not produce"
    produced=$to
}

start_follower
# 10 s of records, 100 every 0.1 s, the follower killed at 2 random moments
# (tests/faults/test_follow.sh kills it 10 times in 60 s with tools/test
# --long, and checks every record's delay)
kills=$(python3 -c 'import random; print(" ".join(str(x) for x in sorted(random.sample(range(10, 90), 2))))')
send() { # first last
    seq "$1" "$2" | awk '{printf "k%d\tv%d\n", $1 % 13, $1}' | kcat -P -b "$BS" -t "$t" -K '\t'
}
for tick in $(seq 1 100); do
    send $((produced + 1)) $((produced + 100)) &
    pp=$!
    produced=$((produced + 100))
    if [[ " $kills " == *" $tick "* ]]; then
        kill -9 "$fpid" 2>/dev/null || true
        wait "$fpid" 2>/dev/null || true
        [[ -n ${dead_checked:-} ]] || check_dead_run
        dead_checked=1
        start_follower
    fi
    wait "$pp" || fail "kcat could not produce"
    sleep 0.1
done
echo "produced $produced records; the follower was killed at ticks $kills"

# readers see what is committed while the follower runs; all of it within
# the commit interval (+ the fetch and the catalog's commit)
deadline=$((SECONDS + INTERVAL + 20))
got=0
while ((SECONDS < deadline)); do
    got=$("$KTAPE" cat -a "$A" -t "$t" -f '%s\n' 2>/dev/null | wc -l)
    ((got == produced)) && break
    sleep 0.5
done
if ((got != produced)); then
    kill -0 "$fpid" 2>/dev/null && alive="running" || alive="not running"
    fail "a reader sees $got of $produced records $((INTERVAL + 20)) s after the last (the follower is $alive): $(tail -n 5 "$WORK/follower.err")"
fi

# one more record: readable within the commit interval + 2 s
produced_before=$produced
t0=$(date +%s%N)
produce_batch 1
while :; do
    n=$("$KTAPE" cat -a "$A" -t "$t" -f '%s\n' 2>/dev/null | wc -l)
    ((n > produced_before)) && break
    (($(date +%s%N) - t0 > (INTERVAL + 2) * 1000000000)) &&
        fail "a record produced $((INTERVAL + 2)) s ago is not in the archive yet"
    sleep 0.2
done
delay_ms=$((($(date +%s%N) - t0) / 1000000))
echo "a new record was durable and readable after $delay_ms ms (commit interval ${INTERVAL}s)"

# the metrics file is rewritten at every commit while it runs
# (rewritten again within the interval + 2 s: polled, not slept)
m0=$(stat -c %.9Y "$WORK/ktape.prom")
for _ in $(seq $(((INTERVAL + 2) * 10))); do
    [[ $(stat -c %.9Y "$WORK/ktape.prom") != "$m0" ]] && break
    sleep 0.1
done
[[ $(stat -c %.9Y "$WORK/ktape.prom") != "$m0" ]] ||
    fail "the follower's metrics file was not rewritten within $((INTERVAL + 2)) s (commit interval ${INTERVAL}s)"
age=$(($(date +%s) - $(stat -c %Y "$WORK/ktape.prom")))
((age <= INTERVAL + 2)) || fail "the follower's metrics file is $age s old (commit interval ${INTERVAL}s)"
grep -q '^ktape_dump_exit_code 0$' "$WORK/ktape.prom" || fail "metrics: $(cat "$WORK/ktape.prom")"
grep -Eq '^ktape_dump_records [1-9]' "$WORK/ktape.prom" || fail "metrics count no records: $(cat "$WORK/ktape.prom")"

# the live follower's run is alive, the killed ones were marked crashed by
# the restarts; DIR/lock names the follower
grep -q "^pid $fpid since " "$A/lock" || fail "$A/lock does not name the follower (pid $fpid): $(cat "$A/lock")"
ro_ls live --runs >"$WORK/ls-live.out" 2>"$WORK/ls.err" || fail "ls --runs read-only: $(cat "$WORK/ls.err")"
[[ $(last_dump_run "$WORK/ls-live.out") == "running: "*" last commit "* ]] ||
    fail "ls --runs does not show the live follower as running: $(cat "$WORK/ls-live.out")"
ro_ls live --json >"$WORK/ls-live.json" 2>"$WORK/ls.err" || fail "ls --json read-only: $(cat "$WORK/ls.err")"
assert_eq "crashed:null crashed:null running:true" "$(json_runs "$WORK/ls-live.json")" "ls --json runs"

# a second writer is refused while the follower holds the archive
assert_exit 3 "$KTAPE" dump -b "$BS" -a "$A" -t "$t"

# SIGTERM: commits what is open and exits 0 within 5 s
t0=$(date +%s%N)
kill -TERM "$fpid"
rc=0
wait "$fpid" || rc=$?
stop_ms=$((($(date +%s%N) - t0) / 1000000))
[[ $rc == 0 ]] || fail "the follower exited $rc on SIGTERM: $(tail -n 3 "$WORK/follower.err")"
((stop_ms < 5000)) || fail "the follower took $stop_ms ms to stop on SIGTERM"

# every record exactly once, in each partition's offset order
"$KTAPE" cat -a "$A" -t "$t" -f '%s\n' | sed 's/^v//' | sort -n >"$WORK/values"
assert_eq "$produced" "$(wc -l <"$WORK/values")" "records archived"
assert_eq "$produced" "$(uniq <"$WORK/values" | wc -l)" "distinct records archived"
assert_eq "$produced" "$(tail -n 1 "$WORK/values")" "the last record"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
runs=$("$KTAPE" ls -a "$A" --runs | awk '$2 == "dump"' | wc -l)
((runs == 3)) || fail "expected 3 dump runs (2 killed and the last), found $runs"
pass "follow: $produced records exactly once across 2 kill -9s, readable within ${delay_ms} ms, SIGTERM exit 0 in $stop_ms ms"
