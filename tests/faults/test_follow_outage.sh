#!/usr/bin/env bash
# dump --follow rides out a broker that stops answering (issue #15): a GC
# pause, a network partition, a broker restarted by its operator. A
# follower is the one ktape process that runs for months, so an outage of
# its cluster must cost it nothing but time: it stays up, /health says 503
# while it cannot commit what the cluster has, and once the broker answers
# again it archives what was produced before, during and after the outage,
# every record exactly once, and still stops cleanly on SIGTERM.
#
# The outage is SIGSTOP of the broker's JVM (a broker of the test's own, so
# that the other tests' broker never stops): its sockets stay open and
# nothing answers, the hardest case for a client (no connection refused to
# act on). Short by default (a 15 s outage); tools/test --long: 30 s.
source "$KTAPE_SRC/tests/integration/lib.sh"
source "$KTAPE_SRC/tests/faults/fault_lib.sh"

if [[ ${KTAPE_FAULTS_LONG:-0} == 1 ]]; then
    OUTAGE_S=${KTAPE_OUTAGE_SECONDS:-30}
else
    OUTAGE_S=${KTAPE_OUTAGE_SECONDS:-15}
fi
INTERVAL=1s

OWN="$WORK/own-broker"
fpid=
cleanup() {
    # the broker is the test's own and its data goes with WORK: kill -9,
    # no graceful shutdown to wait for (about 2 s)
    [[ -f $OWN/kafka.pid ]] && kill -9 "$(cat "$OWN/kafka.pid")" 2>/dev/null
    [[ -n $fpid ]] && kill -9 "$fpid" 2>/dev/null
    KTAPE_KAFKA_HOME=$OWN "$KL" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
BS2=$(KTAPE_KAFKA_HOME=$OWN "$KL" start | tail -n1)
[[ $BS2 == 127.0.0.1:* ]] || fail "the test's own broker did not start: $BS2"
BROKER_PID=$(cat "$OWN/kafka.pid")

T="fault-outage-$RUN_ID"
"$KTAPE_TESTPROD" "$BS2" --create "$T" 3 || fail "could not create the topic $T"
A="$WORK/arch"
PORT=$((20000 + RANDOM % 20000))
produce() { # first last
    seq "$1" "$2" | awk '{printf "k%d\tv%d\n", $1 % 7, $1}' |
        kcat -P -b "$BS2" -t "$T" -K '\t' -X linger.ms=5 -X enable.idempotence=true ||
        fail "kcat could not produce $1..$2"
}
kafka_records() { # what the broker holds: the sum of the high watermarks
    local s=0 p hw
    for p in 0 1 2; do
        hw=$(kcat -b "$BS2" -Q -t "$T:$p:-1" 2>/dev/null | awk '{print $NF}')
        s=$((s + hw))
    done
    echo "$s"
}
# (no archive yet, or none of the topic: 0)
archived() { { "$KTAPE" cat -a "$A" -t "$T" -f '%s\n' 2>/dev/null || true; } | wc -l; }
wait_archived() { # count seconds what
    local deadline=$((SECONDS + $2)) got=0
    while ((SECONDS < deadline)); do
        got=$(archived)
        ((got >= $1)) && return 0
        sleep 0.5
    done
    fail "$3: the archive has $got of $1 records after $2 s: $(tail -n 5 "$WORK/follower.err")"
}
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/health" || true; }

"$KTAPE" dump -b "$BS2" -a "$A" -t "$T" --follow --commit-interval "$INTERVAL" \
    --metrics-listen "127.0.0.1:$PORT" 2>"$WORK/follower.err" &
fpid=$!
produce 1 2000
wait_archived 2000 30 "before the outage"
assert_eq 200 "$(health)" "/health before the outage"

# -- the broker stops answering ---------------------------------------------------------
kill -STOP "$BROKER_PID"
t_stop=$SECONDS
sick=
while ((SECONDS - t_stop < OUTAGE_S)); do
    kill -0 "$fpid" 2>/dev/null || fail "the follower died $((SECONDS - t_stop)) s into the outage: $(tail -n 5 "$WORK/follower.err")"
    [[ -z $sick && $(health) == 503 ]] && sick=$((SECONDS - t_stop))
    sleep 1
done
echo "outage of ${OUTAGE_S} s: /health 503 after ${sick:-never} s"
kill -CONT "$BROKER_PID"
# with nothing to commit an idle follower is healthy: 503 is for a follower
# that cannot reach its cluster
[[ -n $sick ]] || fail "/health never said 503 during a ${OUTAGE_S} s outage"

# -- after it: what the cluster took at once, then more -----------------------------------
produce 2001 3000
sleep 2
produce 3001 4000
wait_archived 4000 60 "after the outage"
deadline=$((SECONDS + 30))
while [[ $(health) != 200 ]] && ((SECONDS < deadline)); do sleep 0.5; done
assert_eq 200 "$(health)" "/health after the outage"
kill -TERM "$fpid"
rc=0
t0=$SECONDS
wait "$fpid" || rc=$?
fpid=
assert_eq 0 "$rc" "the follower's exit code on SIGTERM after the outage ($(tail -n 3 "$WORK/follower.err"))"
((SECONDS - t0 <= 5)) || fail "SIGTERM took $((SECONDS - t0)) s"

# exactly once, and every record there (the broker holds each once: an
# idempotent producer)
assert_eq 4000 "$(kafka_records)" "records the broker holds"
"$KTAPE" cat -a "$A" -t "$T" -f '%s\n' | sed 's/^v//' | sort -n >"$WORK/values"
assert_eq 4000 "$(wc -l <"$WORK/values")" "records archived"
assert_eq 4000 "$(uniq <"$WORK/values" | wc -l)" "distinct records archived"
assert_eq "1 4000" "$(head -n 1 "$WORK/values") $(tail -n 1 "$WORK/values")" "first and last record"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify: $(tail -n 5 "$WORK/verify.out")"
pass "a follower rode out a ${OUTAGE_S} s broker outage (SIGSTOP): 503 after ${sick} s, every record once, exit 0"
