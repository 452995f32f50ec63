#!/usr/bin/env bash
# test_kafka_errors.sh - a cluster that is down, gone mid-run, new, or that
# rejects the login: ktape fails within --timeout with one line that says
# why (exit 6), and a fresh cluster takes consumer group offsets at once.
# Also: records behind an open transaction are reported, not called lag 0.
source "$(dirname "$0")/lib.sh"

secs() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f\n", b - a }'; }
# below LIMIT seconds (a float comparison)
under() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# the fresh cluster of the last part starts meanwhile (its JVM takes seconds);
# it is stopped whatever happens
FRESH="$WORK/fresh-broker"
KTAPE_KAFKA_HOME=$FRESH "$KL" start >"$WORK/fresh-start.out" 2>"$WORK/fresh-start.err" &
fresh_pid=$!
cleanup_fresh() {
    wait "$fresh_pid" 2>/dev/null || true
    KTAPE_KAFKA_HOME=$FRESH "$KL" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup_fresh EXIT

T="kerr-$RUN_ID"
G="kerr-g-$RUN_ID"
create_topic "$T" 2
# timestamps of now: tools/test's broker checks retention every 2 s, and
# records older than the 7 days of the default retention would be deleted
now=$(date +%s%3N)
for i in $(seq 0 299); do printf '%d\t%d\tk%d\tv%d\n' $((i % 2)) $((now + i)) "$i" "$i"; done >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
# a consumer group with committed offsets, as an application leaves them
kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$G" --topic "$T" --reset-offsets --to-offset 120 \
    --execute >/dev/null
A="$WORK/archive"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q || fail "dump of the test topic failed"

# -- unreachable broker: fast, one line, exit 6 ----------------------------------------------
# Each of these waits out a deadline (10 s for every broker refusing, or its
# --timeout) and nothing else: they run side by side, each timed on its own,
# each reader on its own copy of the archive.
in_background() { # id command... : $WORK/id.err, $WORK/id.res ("EXIT SECONDS")
    local id=$1
    shift
    (
        t0=$(secs)
        rc=0
        "$@" >"$WORK/$id.out" 2>"$WORK/$id.err" || rc=$?
        echo "$rc $(elapsed "$t0")" >"$WORK/$id.res"
    ) &
    waiting+=($!)
}
waiting=()
result() { # id what: checks exit 6, sets t (seconds), err (stderr file)
    local rc
    read -r rc t <"$WORK/$1.res"
    err=$WORK/$1.err
    [[ $rc == 6 ]] || fail "'$2' exited $rc, expected 6: $(head -c 600 "$err")"
}
check_refused() { # id command-name what
    result "$1" "$3"
    under "$t" 15 || fail "'$3' took ${t}s to report a refused connection (want < 15 s)"
    local lines
    lines=$(wc -l <"$err")
    [[ $lines -le 3 ]] || fail "'$3' printed $lines lines (want at most 3): $(cat "$err")"
    assert_eq "ktape $2: cannot connect to 127.0.0.1:1: Connection refused" "$(tail -n1 "$err")" \
        "final line of $2"
    echo "$3 to 127.0.0.1:1: ${t}s"
}
for i in 1 2 3 4 5 6; do cp -a "$A" "$WORK/a-copy-$i"; done
in_background r1 "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused-1" -t "$T" --timeout 10s
in_background r2 "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused-2" -t "$T" # default --timeout 60s
in_background r3 "$KTAPE" restore -b 127.0.0.1:1 -a "$WORK/a-copy-1" --timeout 10s
in_background r4 "$KTAPE" restore -b 127.0.0.1:1 -a "$WORK/a-copy-2"
in_background r5 "$KTAPE" compare -b 127.0.0.1:1 -a "$WORK/a-copy-3" -t "$T"
# -v shows what librdkafka said
in_background rv "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused-v" --timeout 3s -v
# (checked below, after the SASL and transaction cases that run meanwhile)

# -- wrong SASL password: says so -----------------------------------------------------------
[[ -n ${KTAPE_TEST_SASL_BOOTSTRAP:-} ]] ||
    fail "KTAPE_TEST_SASL_BOOTSTRAP is not set: start the broker with 'tools/kafka-local start --sasl'"
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=ktape\nsasl.password=wrong\n' \
    >"$WORK/bad.properties"
for cmd in dump restore compare; do
    t0=$(secs)
    assert_exit 6 "$KTAPE" "$cmd" -b "$KTAPE_TEST_SASL_BOOTSTRAP" -a "$A" -t "$T" -F "$WORK/bad.properties" \
        --timeout 10s
    t=$(elapsed "$t0")
    under "$t" 5 || fail "$cmd with a wrong password took ${t}s"
    last=$(tail -n1 "$WORK/last.err")
    [[ $last == "ktape $cmd: authentication failed: Invalid username or password"* ]] ||
        fail "$cmd with a wrong password: final line '$last'"
done
grep -q sup3r "$WORK/last.err" && fail "a password reached stderr"
pass "wrong SASL password: 'authentication failed: Invalid username or password', exit 6"

# -- open transaction: not readable is not lag 0 ---------------------------------------------
TX="kerr-tx-$RUN_ID"
create_topic "$TX" 1
# three committed records (each with its commit marker), then four in a
# transaction testprod leaves open: last stable offset 6, high watermark 10
printf '0\t%d\tk1\tv1\n0\t%d\tk2\tv2\n0\t%d\tk3\tv3\n#begin\n0\t%d\tk4\tv4\n0\t%d\tk5\tv5\n0\t%d\tk6\tv6\n0\t%d\tk7\tv7\n' \
    $now $((now + 1)) $((now + 2)) $((now + 3)) $((now + 4)) $((now + 5)) $((now + 6)) >"$WORK/tx.spec"
"$KTAPE_TESTPROD" "$BS" "$TX" <"$WORK/tx.spec" >/dev/null 2>"$WORK/testprod.err" || fail "testprod failed"
high=$(kcli kafka-get-offsets --bootstrap-server "$BS" --topic "$TX" 2>/dev/null | cut -d: -f3)
assert_eq 10 "$high" "high watermark with the open transaction"
"$KTAPE" dump -b "$BS" -a "$WORK/a-tx" -t "$TX" >"$WORK/tx.out" 2>"$WORK/tx.err" || fail "dump with an open transaction failed"
grep -q 'lag now: 0 readable records, 4 not yet readable (open transactions)' "$WORK/tx.out" ||
    fail "summary does not report the unreadable records: $(cat "$WORK/tx.out")"
grep -q "warning: $TX \[0\]: 4 record(s) up to the high watermark 10 are not readable yet" "$WORK/tx.err" ||
    fail "no warning about the open transaction: $(cat "$WORK/tx.err")"
json=$("$KTAPE" dump -b "$BS" -a "$WORK/a-tx" -t "$TX" --json 2>/dev/null)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if (d["lag"], d["unreadable"]) == (0, 4) else 1)' \
    "$json" || fail "JSON lag/unreadable wrong: $json"
pass "open transaction: 4 records not yet readable, reported and warned about"

# -- the unreachable broker, continued --------------------------------------------------------
wait "${waiting[@]}"
check_refused r1 dump "dump --timeout 10s"
for a in a-refused-1 a-refused-2 a-refused-v; do
    [[ ! -e $WORK/$a ]] || fail "a dump that never reached the cluster created its archive $a"
done
check_refused r2 dump "dump (default --timeout 60s)"
check_refused r3 restore "restore --timeout 10s"
check_refused r4 restore "restore (default --timeout 60s)"
check_refused r5 compare "compare (default --timeout 60s)"
result rv "dump --timeout 3s -v"
grep -q '^ktape dump: kafka: .*Connect to ipv4#127.0.0.1:1 failed: Connection refused' "$err" ||
    fail "-v does not show librdkafka's log lines: $(cat "$err")"
pass "refused connections: exit 6 in < 15 s with one line; -v shows librdkafka's lines"

# --timeout shorter than the refused deadline is honoured within 10%: these
# three alone (the fresh broker's JVM has started), a tight deadline
wait "$fresh_pid" || fail "the fresh broker did not start: $(cat "$WORK/fresh-start.err")"
waiting=()
in_background t-dump "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-copy-6" -t "$T" --timeout 4s
in_background t-restore "$KTAPE" restore -b 127.0.0.1:1 -a "$WORK/a-copy-4" -t "$T" --timeout 4s
in_background t-compare "$KTAPE" compare -b 127.0.0.1:1 -a "$WORK/a-copy-5" -t "$T" --timeout 4s
wait "${waiting[@]}"
for cmd in dump restore compare; do
    result "t-$cmd" "$cmd --timeout 4s"
    under "$t" 4.4 || fail "$cmd --timeout 4s took ${t}s"
    above "$t" 3.6 || fail "$cmd --timeout 4s gave up after ${t}s, before its timeout"
    echo "$cmd --timeout 4s: ${t}s"
done
pass "--timeout 4s: dump, restore and compare give up after 4 s (within 10%)"

# -- a fresh cluster: group offsets at once, then killed mid-restore -------------------------
BS2=$(tail -n1 "$WORK/fresh-start.out")
[[ $BS2 == 127.0.0.1:* ]] || fail "the fresh broker did not start: $BS2"
"$KTAPE" restore -b "$BS2" -a "$A" --create-topics --groups -q --timeout 60s 2>"$WORK/fresh.err" ||
    fail "restore --groups into a fresh cluster failed: $(tail -3 "$WORK/fresh.err")"
# Kafka's own tool: the group's committed offsets on the new cluster
kcli kafka-consumer-groups --bootstrap-server "$BS2" --describe --group "$G" 2>/dev/null >"$WORK/describe.out"
for p in 0 1; do
    off=$(awk -v t="$T" -v p="$p" '$2 == t && $3 == p {print $4}' "$WORK/describe.out")
    assert_eq 120 "$off" "committed offset of $G on $T [$p] in the fresh cluster"
done
pass "restore --create-topics --groups into a fresh cluster: offsets set on the first run"

# the cluster goes away while records are being written: --timeout, not minutes
"$KTAPE" restore -b "$BS2" -a "$A" --map "$T=$T-again" --create-topics --rate-msgs 20 --timeout 5s -q \
    2>"$WORK/killed.err" &
pid=$!
# until the restore is writing: records (20 a second, 15 s of them) in the target
for _ in $(seq 100); do
    n=$(kcat -b "$BS2" -Q -t "$T-again:0:-1" -t "$T-again:1:-1" 2>/dev/null | awk '{s += $NF} END {print s + 0}' || true)
    ((n > 0)) && break
    sleep 0.2
done
((n > 0)) || fail "the restore wrote nothing within 20 s: $(cat "$WORK/killed.err")"
kill -0 "$pid" 2>/dev/null || fail "the restore ended before the cluster went away: $(cat "$WORK/killed.err")"
t0=$(secs) # the broker shuts down cleanly within a few seconds of this
KTAPE_KAFKA_HOME=$FRESH "$KL" stop >/dev/null
rc=0
wait "$pid" || rc=$?
t=$(elapsed "$t0")
[[ $rc == 6 ]] || fail "restore into a cluster that went away exited $rc: $(cat "$WORK/killed.err")"
under "$t" 15 || fail "restore took ${t}s after the cluster was stopped (--timeout 5s)"
last=$(tail -n1 "$WORK/killed.err")
[[ $last == *"cannot connect to 127.0.0.1:"*"Connection refused"* ]] || fail "final line '$last'"
[[ $(wc -l <"$WORK/killed.err") -le 3 ]] || fail "more than 3 lines: $(cat "$WORK/killed.err")"
echo "restore failed ${t}s after the broker was told to stop: $last"
pass "cluster gone mid-restore: exit 6 within --timeout 5s, saying why"
