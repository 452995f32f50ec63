#!/usr/bin/env bash
# test_kafka_errors.sh - a cluster that is down, gone mid-run, new, or that
# rejects the login: ktape fails within --timeout with one line that says
# why (exit 6), and a fresh cluster takes consumer group offsets at once.
# Also: records behind an open transaction are reported, not called lag 0.
source "$(dirname "$0")/lib.sh"

secs() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(secs)"; }
# below LIMIT seconds (a float comparison)
under() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }
above() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$1" "$2"; }

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
check_refused() { # command args... (stderr in $WORK/last.err)
    local t0 t
    t0=$(secs)
    assert_exit 6 "$@"
    t=$(elapsed "$t0")
    under "$t" 15 || fail "'$*' took ${t}s to report a refused connection (want < 15 s)"
    local lines
    lines=$(wc -l <"$WORK/last.err")
    [[ $lines -le 3 ]] || fail "'$*' printed $lines lines (want at most 3): $(cat "$WORK/last.err")"
    assert_eq "ktape $2: cannot connect to 127.0.0.1:1: Connection refused" "$(tail -n1 "$WORK/last.err")" \
        "final line of $2"
    echo "$2 to 127.0.0.1:1: ${t}s"
}
check_refused "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused" -t "$T" --timeout 10s
[[ ! -e $WORK/a-refused ]] || fail "a dump that never reached the cluster created its archive"
check_refused "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused" -t "$T" # default --timeout 60s
check_refused "$KTAPE" restore -b 127.0.0.1:1 -a "$A" --timeout 10s
check_refused "$KTAPE" restore -b 127.0.0.1:1 -a "$A"
check_refused "$KTAPE" compare -b 127.0.0.1:1 -a "$A" -t "$T"
# -v shows what librdkafka said
assert_exit 6 "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/a-refused" --timeout 3s -v
grep -q '^ktape dump: kafka: .*Connect to ipv4#127.0.0.1:1 failed: Connection refused' "$WORK/last.err" ||
    fail "-v does not show librdkafka's log lines: $(cat "$WORK/last.err")"
pass "refused connections: exit 6 in < 15 s with one line; -v shows librdkafka's lines"

# --timeout shorter than the refused deadline is honoured within 10%
for cmd in dump restore compare; do
    t0=$(secs)
    assert_exit 6 "$KTAPE" "$cmd" -b 127.0.0.1:1 -a "$A" -t "$T" --timeout 4s
    t=$(elapsed "$t0")
    under "$t" 4.4 || fail "$cmd --timeout 4s took ${t}s"
    above "$t" 3.6 || fail "$cmd --timeout 4s gave up after ${t}s, before its timeout"
done
pass "--timeout 4s: dump, restore and compare give up after 4 s (within 10%)"

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

# -- a fresh cluster: group offsets at once, then killed mid-restore -------------------------
FRESH="$WORK/fresh-broker"
cleanup_fresh() { KTAPE_KAFKA_HOME=$FRESH "$KL" stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup_fresh EXIT
BS2=$(KTAPE_KAFKA_HOME=$FRESH "$KL" start | tail -n1)
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
sleep 4
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
