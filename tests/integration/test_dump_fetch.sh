#!/usr/bin/env bash
# dump keeps librdkafka fetching (issue #19): with many small records the
# consumer queue's message count (queued.min.messages, 100000 by default,
# for all partitions together) was reached long before its byte limit, and
# librdkafka 2.0.2 then fetched nothing until its broker thread next woke,
# up to a second later, however soon ktape had drained the queue. Such a
# dump shows as polls that wait their whole timeout while records are there
# to fetch: the JSON summary's empty_polls, counted here rather than timed.
source "$(dirname "$0")/lib.sh"

T="fetch-$RUN_ID"
create_topic "$T" 2
# 50-byte records, uncompressed: cheap to parse, so fetching alone decides
kcli kafka-producer-perf-test --topic "$T" --num-records 600000 --record-size 50 --throughput -1 \
    --producer-props bootstrap.servers="$BS" acks=1 linger.ms=50 batch.size=1000000 >/dev/null 2>&1 ||
    fail "perf-test"
# the better of two dumps: a loaded machine can add a slow fetch to one
best=
for i in 1 2; do
    "$KTAPE" dump -b "$BS" -a "$WORK/a$i" -t "$T" -q --json >"$WORK/sum$i.json" || fail "dump $i"
    read -r records empty < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["empty_polls"])' "$WORK/sum$i.json")
    assert_eq 600000 "$records" "records dumped by dump $i"
    echo "dump $i: $empty empty polls"
    [[ -n $best ]] && ((best <= empty)) || best=$empty
done
# One may be the first fetch's round trip, another a slow fetch; a queue
# that stops fetching adds several each time (librdkafka's old default,
# -X queued.min.messages=100000, gave 5 to 32 here).
((best <= 3)) || fail "$best polls waited their whole timeout while records were fetchable"
pass "600000 small records without fetch stalls ($best empty polls)"

# A queue that fills (issue #19): librdkafka 2.0.2 stops fetching while its
# queue holds queued.max.messages.kbytes, and looks again only when its
# broker thread next wakes, up to a second later, however soon the queue
# was drained. A 1 MiB queue is full after every response; dump wakes the
# brokers once it has drained it (kicks), and fetching goes on at once.
"$KTAPE" dump -b "$BS" -a "$WORK/smallq" -t "$T" -X queued.max.messages.kbytes=1024 -q --json \
    >"$WORK/smallq.json" || fail "dump with a 1 MiB queue"
read -r records empty kicks < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["empty_polls"], j["kicks"])' "$WORK/smallq.json")
assert_eq 600000 "$records" "records dumped with a 1 MiB queue"
echo "1 MiB queue: $empty empty polls, $kicks kicks"
((kicks >= 1)) || fail "the queue filled and drained, and no kick woke the brokers"
((empty <= 3)) || fail "$empty polls waited their whole timeout with a 1 MiB queue ($kicks kicks)"
pass "a queue that fills and drains: fetching goes on ($kicks kicks, $empty empty polls)"

# Dumps NAME, PARTITIONS partitions of RECORDS records whose values are
# FILLER times 64 bytes (plus their number), and checks that CLIENTS
# clients fetched them and that the archive holds every record exactly
# once, as kcat reads the topic.
spread_case() { # NAME PARTITIONS RECORDS FILLER CLIENTS
    local name=$1 parts=$2 n=$3 filler=$4 clients=$5 t="fetch-$1-$RUN_ID" records fetchers
    create_topic "$t" "$parts"
    python3 - "$(date +%s%3N)" "$parts" "$n" "$filler" >"$WORK/$name.spec" <<'PY'
import hashlib, sys
now, parts, n, filler = (int(a) for a in sys.argv[1:])
for i in range(n):
    value = hashlib.sha256(str(i).encode()).hexdigest() * filler  # each record its own
    print(f"{i % parts}\t{now + i}\tk{i}\t{i}-{value}")
PY
    produce_spec "$t" "$WORK/$name.spec" --plain
    "$KTAPE" dump -b "$BS" -a "$WORK/$name" -t "$t" -q --json >"$WORK/$name.json" || fail "dump of $parts partitions"
    read -r records fetchers < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["fetchers"])' "$WORK/$name.json")
    assert_eq "$n" "$records" "records of $parts partitions dumped"
    assert_eq "$clients" "$fetchers" "clients that fetched $parts partitions of $((filler * 64))-byte values"
    kcat -C -b "$BS" -t "$t" -o beginning -e -q -f '%p %o %k %s\n' | sort >"$WORK/$name.kcat"
    "$KTAPE" cat -a "$WORK/$name" -t "$t" --format '%p %o %k %s\n' | sort >"$WORK/$name.cat"
    assert_eq "$n" "$(wc -l <"$WORK/$name.kcat")" "records kcat reads of $parts partitions"
    cmp -s "$WORK/$name.kcat" "$WORK/$name.cat" || fail "the archive of $parts partitions differs from the topic"
    pass "$parts partitions of $((filler * 64))-byte values fetched by $clients clients, each record archived exactly once"
}

# Large records: librdkafka's one broker thread, inflating them, is then the
# limit, and once the dump has seen their size it spreads the unfinished
# partitions over a second client, each going on where the archive ends,
# and when the client with fewer partitions is done, one of the other's
# moves over (issue #19: five partitions of equal size, 3 and 2, take both
# paths as a rule; the outcome is what is checked). Every record exactly
# once, as kcat reads the topic.
spread_case big 5 4500 125 2

# Many partitions (issue #19): their ends are asked for in one request per
# broker, and the partitions that end together are committed together: one
# catalog transaction records every segment (one commit time), where one
# commit per partition, one after the other, was the tail of such a dump.
T3="fetch-many-$RUN_ID"
create_topic "$T3" 40
now=$(date +%s%3N)
python3 - "$now" >"$WORK/many.spec" <<'PY'
import sys
now = int(sys.argv[1])
for i in range(4000):
    print(f"{i % 40}\t{now + i}\tk{i}\tv{i}")
PY
produce_spec "$T3" "$WORK/many.spec" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/many" -t "$T3" -q --json >"$WORK/many.json" || fail "dump of 40 partitions"
read -r records segments lag < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["segments"], j["lag"])' "$WORK/many.json")
assert_eq 4000 "$records" "records of 40 partitions dumped"
assert_eq 40 "$segments" "segments of 40 partitions"
assert_eq 0 "$lag" "lag after a full dump"
assert_eq 1 "$(sql "$WORK/many" 'select count(distinct committed_ms) from segments')" "catalog commits of the 40 segments"
assert_eq 40 "$(sql "$WORK/many" 'select count(*) from partition_runs where run_id = 1 and done_end = to_end and done_end = 100')" \
    "partitions recorded as done"
kcat -C -b "$BS" -t "$T3" -o beginning -e -q -f '%p %o %k %s\n' | sort >"$WORK/many.kcat"
"$KTAPE" cat -a "$WORK/many" -t "$T3" --format '%p %o %k %s\n' | sort >"$WORK/many.cat"
cmp -s "$WORK/many.kcat" "$WORK/many.cat" || fail "the archive of 40 partitions differs from the topic"
"$KTAPE" verify -a "$WORK/many" >/dev/null || fail "verify of the archive of 40 partitions"
# the lag, from the ends asked for all partitions at once: 50 of each
# partition's 100 records are left
"$KTAPE" dump -b "$BS" -a "$WORK/half" -t "$T3" --to-offset 50 -q --json >"$WORK/half.json" ||
    fail "dump of 40 partitions to offset 50"
read -r records lag < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["lag"])' "$WORK/half.json")
assert_eq 2000 "$records" "records up to offset 50"
assert_eq 2000 "$lag" "lag of 40 partitions at offset 50 of 100"
pass "40 partitions: ends asked at once, 40 segments in one catalog commit, lag exact"

# 128 partitions or more of records of 256 bytes or more are spread over
# two clients too (issue #19: one broker thread was the limit at 300
# partitions)
spread_case wide 130 39000 4 2
# and 3 partitions of records of 300 bytes or more get a client each
# (issue #19: one broker thread was the limit there too, once kt_kick kept
# the clients' queues from stalling, and two clients could not share three
# partitions evenly). Each partition holds more records than the dump
# archives before it decides (16384, plus a poll of up to 2048): with
# 10000 each, one partition could be done by then, and the two left got
# two clients (a CI run did).
spread_case three 3 60000 5 3
