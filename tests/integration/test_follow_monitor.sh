#!/usr/bin/env bash
# Watching a follower (issue #15), against the real broker:
# --metrics-listen serves /metrics (the metrics of --metrics-file, and the
# same names) and /health; lag per partition rises while it is behind and
# falls to 0; /health turns 503 while commits are stuck (another process
# holds catalog.db's write lock) and 200 again once they go through;
# records deleted by retention while it follows are counted as lost, named
# in a warning and in the catalog, and the follower goes on; ls --runs shows
# the running run with its records so far and its last commit; --log-file
# takes stderr and SIGHUP opens it again after logrotate moved it; bad
# addresses are exit 2, a port in use exit 1.
source "$(dirname "$0")/lib.sh"

t="it-fmon-$RUN_ID"
A="$WORK/arch"
create_topic "$t" 1
INTERVAL=1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

# bad --metrics-listen values are usage errors; --log-file in a missing directory fails
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --metrics-listen nope
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --metrics-listen 127.0.0.1:70000
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --metrics-listen ::1:9
assert_exit 1 "$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --log-file "$WORK/no/such/dir/log"
grep -q "cannot open log file" "$WORK/last.err" || fail "log file error: $(cat "$WORK/last.err")"

produce() { # from to
    seq "$1" "$2" | awk '{printf "k%d\tv%d\n", $1 % 7, $1}' | kcat -P -b "$BS" -t "$t" -K '\t' ||
        fail "kcat could not produce"
}
metric() { # name{labels} -> value from /metrics
    curl -sf "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
wait_metric() { # name value seconds
    local end=$((SECONDS + $3)) v=
    while ((SECONDS < end)); do
        v=$(metric "$1")
        [[ $v == "$2" ]] && return 0
        sleep 0.2
    done
    fail "$1 is '$v', expected $2 within $3 s"
}
health() { curl -s -o /dev/null -w '%{http_code}' "$URL/health"; }

produce 1 200
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --commit-interval "${INTERVAL}s" -q \
    --metrics-listen "127.0.0.1:$PORT" --metrics-file "$WORK/ktape.prom" --log-file "$WORK/ktape.log" &
fpid=$!
trap 'kill -9 $fpid 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
assert_eq 200 "$(health)" "/health of a follower that commits"

# a second one on the same port: exit 1, naming the address
assert_exit 1 "$KTAPE" dump -b "$BS" -a "$WORK/arch2" -t "$t" --follow --metrics-listen "127.0.0.1:$PORT"
grep -q "cannot listen on 127.0.0.1:$PORT" "$WORK/last.err" || fail "port in use: $(cat "$WORK/last.err")"

wait_metric "ktape_dump_topic_records{topic=\"$t\"}" 200 15
wait_metric "ktape_dump_partition_lag_records{topic=\"$t\",partition=\"0\"}" 0 5
assert_eq 200 "$(metric "ktape_dump_partition_archived_offset{topic=\"$t\",partition=\"0\"}")" "archived offset"
assert_eq 0 "$(metric ktape_dump_exit_code)" "exit code metric while following"
# ls: the run is running, with what it committed so far and its last commit
"$KTAPE" ls -a "$A" --runs >"$WORK/ls.out"
grep -Eq '^ +1 +dump .* running +200 .* last commit 20[0-9-]+T[0-9:.]+Z \([0-9.]+s ago\)' "$WORK/ls.out" ||
    fail "ls --runs of a running follower: $(tail -n 2 "$WORK/ls.out")"
"$KTAPE" ls -a "$A" --runs --json | python3 -c '
import json, sys, time
r = json.load(sys.stdin)["runs"][0]
assert r["status"] == "running" and r["records"] == 200, r
assert 0 < time.time() * 1000 - r["last_commit_ms"] < 10000, r' || fail "ls --runs --json of a running follower"
age=$(metric ktape_dump_seconds_since_last_commit)
python3 -c "import sys; sys.exit(0 if 0 <= $age <= $INTERVAL + 1 else 1)" ||
    fail "seconds since the last commit: $age (interval ${INTERVAL}s)"
# the textfile has the same metrics
grep -v '^#' "$WORK/ktape.prom" | sed 's/[ {].*//' | sort -u >"$WORK/file.names"
curl -sf "$URL/metrics" | grep -v '^#' | sed 's/[ {].*//' | sort -u >"$WORK/http.names"
diff "$WORK/file.names" "$WORK/http.names" >/dev/null ||
    fail "the textfile and /metrics differ: $(diff "$WORK/file.names" "$WORK/http.names" | head -5)"
grep -q "^ktape_dump_partition_lag_records{topic=\"$t\",partition=\"0\"} " "$WORK/ktape.prom" ||
    fail "no partition lag in the textfile: $(head -c 600 "$WORK/ktape.prom")"
curl -sf -o /dev/null "$URL/nothing" && fail "/nothing answered 2xx"
curl -s -D - -o /dev/null "$URL/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
    fail "/metrics is not Prometheus text"

# the follower stopped (SIGSTOP) while 300 records arrive: once it runs again
# the partition's end moves to 500 and its lag goes back to 0
kill -STOP "$fpid"
produce 201 500
kill -CONT "$fpid"
wait_metric "ktape_dump_partition_end_offset{topic=\"$t\",partition=\"0\"}" 500 10
wait_metric "ktape_dump_partition_lag_records{topic=\"$t\",partition=\"0\"}" 0 10

# commits stuck: another process holds the catalog's write lock while
# records arrive, until /health said 503 (7 s at most; the follower waits
# up to SQLite's 10 s busy timeout)
python3 -c '
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("begin immediate")
open(sys.argv[2], "w").close()
end = time.monotonic() + 7
while time.monotonic() < end and not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
c.execute("rollback")' "$A/catalog.db" "$WORK/locked" "$WORK/release" &
lpid=$!
for _ in $(seq 100); do [[ -f $WORK/locked ]] && break; sleep 0.05; done
seen503=0
for i in $(seq 1 30); do
    produce $((500 + i * 10 - 9)) $((500 + i * 10))
    [[ $(health) == 503 ]] && seen503=1
    ((seen503)) && break
    sleep 0.2
done
((seen503)) || fail "/health stayed $(health) while no commit went through for 6 s: $(curl -s "$URL/health")"
touch "$WORK/release"
wait "$lpid"
ok=0
for _ in $(seq 50); do
    [[ $(health) == 200 ]] && ok=1 && break
    sleep 0.2
done
((ok)) || fail "/health is $(health) after the lock was released: $(curl -s "$URL/health")"
kill -0 "$fpid" || fail "the follower died while its commits were stuck: $(tail -n 3 "$WORK/ktape.log")"
produced=$((500 + i * 10))
wait_metric "ktape_dump_topic_records{topic=\"$t\"}" "$produced" 15

# logrotate: the log is moved away, SIGHUP, and the next message goes to a new file
mv "$WORK/ktape.log" "$WORK/ktape.log.1"
kill -HUP "$fpid"
sleep 0.5
kill -0 "$fpid" || fail "SIGHUP ended the follower"
[[ -f $WORK/ktape.log ]] || fail "SIGHUP did not open the log file again"

# retention deletes records the follower has not read: stopped (SIGSTOP) past
# its fetch's wait, 50 records produced and deleted, then it runs again
kill -STOP "$fpid"
sleep 1
produce $((produced + 1)) $((produced + 50))
printf '{"partitions":[{"topic":"%s","partition":0,"offset":%d}],"version":1}' "$t" $((produced + 50)) >"$WORK/del.json"
kcli kafka-delete-records --bootstrap-server "$BS" --offset-json-file "$WORK/del.json" >/dev/null 2>&1 ||
    fail "kafka-delete-records failed"
kill -CONT "$fpid"
wait_metric "ktape_dump_topic_lost_records{topic=\"$t\"}" 50 15
assert_eq 50 "$(metric ktape_dump_lost_records)" "lost records metric"
# and it goes on
produce $((produced + 51)) $((produced + 60))
wait_metric "ktape_dump_partition_archived_offset{topic=\"$t\",partition=\"0\"}" $((produced + 60)) 15
wait_metric "ktape_dump_topic_records{topic=\"$t\"}" $((produced + 10)) 5
grep -q "deleted by retention while this dump read them" "$WORK/ktape.log" ||
    fail "the retention warning is not in the reopened log: $(cat "$WORK/ktape.log")"
grep -q "deleted by retention" "$WORK/ktape.log.1" && fail "the warning went to the rotated log"

# SIGTERM: the run ends; data was lost, so exit 4 as a batch dump's
kill -TERM "$fpid"
rc=0
wait "$fpid" || rc=$?
assert_eq 4 "$rc" "exit code of a follower that lost records"
assert_eq "$produced-$((produced + 50))" \
    "$(sql "$A" "select lost_from||'-'||lost_end from partition_runs where topic='$t' and lost_from is not null")" \
    "lost range in the catalog"
grep -q '^ktape_dump_exit_code 4$' "$WORK/ktape.prom" || fail "final metrics: $(grep exit_code "$WORK/ktape.prom")"
"$KTAPE" cat -a "$A" -t "$t" -f '%s\n' 2>/dev/null | sed 's/^v//' >"$WORK/values"
assert_eq $((produced + 10)) "$(sort -u "$WORK/values" | wc -l)" "records archived (all but the 50 deleted)"
pass "follow monitoring: /metrics = textfile, lag, /health 503 while commits were stuck, lost records counted and the follower went on, SIGHUP reopened the log"
