#!/usr/bin/env bash
# dump --follow under kill -9 (issue #15): a producer writes at a fixed rate
# (1000 records/s) while the follower runs; the follower is killed with
# kill -9 at random moments and started again at once each time. In the end
# every produced record is in the archive exactly once, verify passes, and
# every record was durable within the commit interval + 2 s of its
# production: segments.committed_ms of its segment minus its timestamp
# (CreateTime, set by the producer on this machine's clock).
#
# The commit time is the segment's committed_ms, or when a reader polling
# the catalog every 100 ms first saw the offset listed if that is earlier:
# compaction gives a merged segment the newest commit time of its parts, and
# a segment that recovery indexed after a kill has none.
#
# Downtime is not the follower's delay: a record produced before a kill and
# not committed yet, or produced while no follower ran, waits for the next
# run, so when a follower started between a record's production and its
# commit, the record's clock starts at that start (runs.started_ms). What
# this leaves out is the restart itself up to the run's record (process
# start, the cluster's first answer, opening and recovering the archive);
# the largest raw delay of those records is printed beside it.
#
# Short by default (12 s, 3 kills); tools/test --long (KTAPE_FAULTS_LONG=1)
# runs the issue's 60 s with 10 kills.
source "$KTAPE_SRC/tests/integration/lib.sh"
source "$KTAPE_SRC/tests/faults/fault_lib.sh"

if [[ ${KTAPE_FAULTS_LONG:-0} == 1 ]]; then
    SECONDS_RUN=${KTAPE_FOLLOW_SECONDS:-60}
    KILLS=${KTAPE_FOLLOW_KILLS:-10}
else
    SECONDS_RUN=${KTAPE_FOLLOW_SECONDS:-12}
    KILLS=${KTAPE_FOLLOW_KILLS:-3}
fi
RATE=1000
INTERVAL_MS=2000
SLACK_MS=2000

T="fault-follow-$RUN_ID"
A="$WORK/arch"
create_topic "$T" 3 --config message.timestamp.type=CreateTime

start_follower() {
    "$KTAPE" dump -b "$BS" -a "$A" -t "$T" --follow --commit-interval "${INTERVAL_MS}ms" -q \
        2>>"$WORK/follower.err" &
    fpid=$!
}

# kill moments, at least 2 s apart, between 1.5 s and the end - 1.5 s
kill_ms=$(python3 -c '
import random, sys
r = random.Random(int(sys.argv[1])); n = int(sys.argv[2]); end = int(sys.argv[3]) * 1000
while True:
    ks = sorted(r.randrange(1500, end - 1500) for _ in range(n))
    if all(b - a >= 2000 for a, b in zip(ks, ks[1:])):
        print(" ".join(map(str, ks))); break' "$FAULT_SEED" "$KILLS" "$SECONDS_RUN")
echo "follower killed at ms: $kill_ms (of ${SECONDS_RUN} s at $RATE records/s)"

# the producer: one kcat reading lines paced at RATE per second
python3 -c '
import sys, time
rate, secs = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic(); n = 0
while n < rate * secs:
    due = int((time.monotonic() - t0) * rate) + 1
    while n < min(due, rate * secs):
        n += 1
        sys.stdout.write("k%d\tv%d\n" % (n % 13, n))
    sys.stdout.flush()
    time.sleep(0.005)' "$RATE" "$SECONDS_RUN" | kcat -P -b "$BS" -t "$T" -K '\t' -X linger.ms=5 &
ppid_=$!

# a reader polling the catalog every 100 ms: when each offset was first
# listed (the commit time of a segment that compaction merged later, or that
# recovery indexed after a kill)
python3 - "$A/catalog.db" "$T" "$WORK/seen" "$WORK/poll.stop" <<'PYEOF' &
import os, sqlite3, sys, time
db, topic, out, stop = sys.argv[1:5]
last = {}
with open(out, "w") as f:
    # (a test that failed removed the directory: stop too)
    while not os.path.exists(stop) and os.path.isdir(os.path.dirname(out)):
        rows = []
        if os.path.exists(db):
            try:
                c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=1)
                rows = c.execute("select partition, max(last_offset) from segments where topic=? "
                                 "group by partition", (topic,)).fetchall()
                c.close()
            except sqlite3.Error:
                pass
        now = int(time.time() * 1000)
        for p, m in rows:
            if m is not None and m > last.get(p, -1):
                last[p] = m
                f.write("%d %d %d\n" % (p, m, now))
        f.flush()
        time.sleep(0.1)
PYEOF
poller=$!
fpid=
trap 'kill -9 $fpid $poller 2>/dev/null || true; rm -rf "$WORK"' EXIT
t0=$(now_ms)
start_follower
for k in $kill_ms; do
    now=$(($(now_ms) - t0))
    ((k > now)) && sleep "$(printf '%d.%03d' $(((k - now) / 1000)) $(((k - now) % 1000)))"
    kill -9 "$fpid" 2>/dev/null || fail "the follower was not running at ${k} ms: $(tail -n 3 "$WORK/follower.err")"
    wait "$fpid" 2>/dev/null || true
    start_follower
done
wait "$ppid_" || fail "the producer failed"
produced=$((RATE * SECONDS_RUN))
assert_eq "$produced" "$(hw_sum "$T" 3)" "records produced (high watermarks)"

# all of it is archived within the interval (+ the fetch and the commit)
deadline=$((SECONDS + INTERVAL_MS / 1000 + 20))
got=0
while ((SECONDS < deadline)); do
    got=$("$KTAPE" cat -a "$A" -t "$T" -f '%s\n' 2>/dev/null | wc -l)
    ((got >= produced)) && break
    sleep 0.5
done
((got == produced)) || fail "the archive has $got of $produced records: $(tail -n 5 "$WORK/follower.err")"
kill -TERM "$fpid"
rc=0
wait "$fpid" || rc=$?
assert_eq 0 "$rc" "the follower's exit code on SIGTERM"
touch "$WORK/poll.stop"
wait "$poller" || fail "the catalog poller failed"

# exactly once
"$KTAPE" cat -a "$A" -t "$T" -f '%p %o %T %s\n' >"$WORK/records"
sed 's/.* v//' "$WORK/records" | sort -n >"$WORK/values"
assert_eq "$produced" "$(wc -l <"$WORK/values")" "records archived"
assert_eq "$produced" "$(uniq <"$WORK/values" | wc -l)" "distinct records archived"
assert_eq "$produced" "$(tail -n 1 "$WORK/values")" "the last record"
check_archive_exact "$A" "$T" 3
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify: $(tail -n 5 "$WORK/verify.out")"
runs=$(sql "$A" "select count(*) from runs where kind='dump'")
assert_eq $((KILLS + 1)) "$runs" "dump runs (killed ones and the last)"

# the delay from production to durable commit, record by record
python3 - "$A/catalog.db" "$WORK/records" "$INTERVAL_MS" "$SLACK_MS" "$WORK/seen" "$T" <<'PYEOF' ||
import bisect, sqlite3, sys
db, recs, interval, slack, seen, topic = sys.argv[1:7]
interval, slack = int(interval), int(slack)
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
starts = sorted(ms for (ms,) in c.execute("select started_ms from runs where kind='dump'"))
segs = {}
for p, first, last, committed in c.execute(
        "select partition, first_offset, last_offset, committed_ms from segments where topic=? "
        "order by partition, first_offset", (topic,)):
    segs.setdefault(p, []).append((first, last, committed if committed and committed > 0 else None))
firsts = {p: [x[0] for x in v] for p, v in segs.items()}
# the poller's log: the offsets of partition p up to `last` were first listed at ms
polled = {}
for line in open(seen):
    p, last, ms = map(int, line.split())
    polled.setdefault(p, ([], []))
    polled[p][0].append(last)
    polled[p][1].append(ms)
delays, late = [], []
waited = from_poll = raw_waited = 0
for line in open(recs):
    p, o, ts, _ = line.split(" ", 3)
    p, o, ts = int(p), int(o), int(ts)
    first, last, committed = segs[p][bisect.bisect_right(firsts[p], o) - 1]
    assert first <= o <= last, (p, o)
    # the commit time: the catalog's, or when the poller first saw the offset
    # listed if that is earlier
    lasts, mss = polled.get(p, ([], []))
    k = bisect.bisect_left(lasts, o)
    seen_ms = mss[k] if k < len(lasts) else None
    times = [t for t in (committed, seen_ms) if t is not None]
    if not times:
        late.append("[%d] %d: no commit time" % (p, o))
        continue
    t = min(times)
    if t != committed:
        from_poll += 1
    # a follower (re)started between production and commit: the record
    # waited for a restart, and its delay counts from that start
    j = bisect.bisect_right(starts, t) - 1
    start = ts
    if j >= 0 and starts[j] > ts:
        waited += 1
        raw_waited = max(raw_waited, t - ts)
        start = starts[j]
    d = t - start
    delays.append(d)
    if d > interval + slack:
        late.append("[%d] %d: %d ms (timestamp %d, committed %d)" % (p, o, d, ts, t))
delays.sort()
q = lambda f: delays[min(len(delays) - 1, int(f * len(delays)))]
print("delay produce -> commit over %d records: median %d ms, p99 %d ms, max %d ms (limit %d ms); "
      "%d records waited for a restart (raw delay up to %d ms, counted from the restart); "
      "%d timed by the poller (merged or recovered segments)"
      % (len(delays), q(0.5), q(0.99), delays[-1], interval + slack, waited, raw_waited, from_poll))
if late:
    print("%d records over the limit, the first: %s" % (len(late), "; ".join(late[:5])))
    sys.exit(1)
PYEOF
    fail "records committed too late"
pass "follow: $produced records at $RATE/s, $KILLS kill -9s, every record exactly once and durable within $((INTERVAL_MS + SLACK_MS)) ms of production (downtime excluded)"
