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

# Large records: librdkafka's one broker thread, inflating them, is then the
# limit, and once the dump has seen their size it spreads the unfinished
# partitions over a second client, each going on where the archive ends,
# and when the client with one partition is done, one of the other's moves
# over (issue #19: three partitions of equal size take both paths as a rule;
# the outcome is what is checked). Every record exactly once, as kcat
# reads the topic.
T2="fetch-big-$RUN_ID"
create_topic "$T2" 3
now=$(date +%s%3N)
python3 - "$now" >"$WORK/big.spec" <<'PY'
import hashlib, sys
now = int(sys.argv[1])
for i in range(4500):
    filler = hashlib.sha256(str(i).encode()).hexdigest() * 125  # 8000 bytes, each record its own
    print(f"{i % 3}\t{now + i}\tk{i}\t{i}-{filler}")
PY
produce_spec "$T2" "$WORK/big.spec" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/big" -t "$T2" -q --json >"$WORK/big.json" || fail "dump of large records"
read -r records fetchers < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["fetchers"])' "$WORK/big.json")
assert_eq 4500 "$records" "large records dumped"
assert_eq 2 "$fetchers" "clients that fetched the large records"
kcat -C -b "$BS" -t "$T2" -o beginning -e -q -f '%p %o %k %S %s\n' | sort >"$WORK/big.kcat"
"$KTAPE" cat -a "$WORK/big" -t "$T2" --format '%p %o %k %S %s\n' | sort >"$WORK/big.cat"
assert_eq 4500 "$(wc -l <"$WORK/big.kcat")" "records kcat reads"
cmp -s "$WORK/big.kcat" "$WORK/big.cat" || fail "the archive differs from the topic: $(diff "$WORK/big.kcat" "$WORK/big.cat" | cut -c1-80 | head -n 5)"
pass "4500 records of 8 KiB fetched by two clients, each record archived exactly once"

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
# partitions); every record exactly once, as kcat reads the topic.
T4="fetch-wide-$RUN_ID"
create_topic "$T4" 130
now=$(date +%s%3N)
python3 - "$now" >"$WORK/wide.spec" <<'PY'
import hashlib, sys
now = int(sys.argv[1])
for i in range(39000):
    filler = hashlib.sha256(str(i).encode()).hexdigest() * 4  # 256 bytes
    print(f"{i % 130}\t{now + i}\tk{i}\t{i}-{filler}")
PY
produce_spec "$T4" "$WORK/wide.spec" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/wide" -t "$T4" -q --json >"$WORK/wide.json" || fail "dump of 130 partitions"
read -r records fetchers < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["fetchers"])' "$WORK/wide.json")
assert_eq 39000 "$records" "records of 130 partitions dumped"
assert_eq 2 "$fetchers" "clients that fetched 130 partitions of 300-byte records"
kcat -C -b "$BS" -t "$T4" -o beginning -e -q -f '%p %o %k %s\n' | sort >"$WORK/wide.kcat"
"$KTAPE" cat -a "$WORK/wide" -t "$T4" --format '%p %o %k %s\n' | sort >"$WORK/wide.cat"
assert_eq 39000 "$(wc -l <"$WORK/wide.kcat")" "records kcat reads of 130 partitions"
cmp -s "$WORK/wide.kcat" "$WORK/wide.cat" || fail "the archive of 130 partitions differs from the topic"
pass "130 partitions of 300-byte records fetched by two clients, each record archived exactly once"

# and so are three partitions of records of 300 bytes or more (issue #19:
# one broker thread was the limit there too, once kt_kick kept two
# clients' queues from stalling): every record exactly once
T5="fetch-three-$RUN_ID"
create_topic "$T5" 3
now=$(date +%s%3N)
python3 - "$now" >"$WORK/three.spec" <<'PY'
import hashlib, sys
now = int(sys.argv[1])
for i in range(30000):
    filler = hashlib.sha256(str(i).encode()).hexdigest() * 5  # 320 bytes
    print(f"{i % 3}\t{now + i}\tk{i}\t{i}-{filler}")
PY
produce_spec "$T5" "$WORK/three.spec" --plain
"$KTAPE" dump -b "$BS" -a "$WORK/three" -t "$T5" -q --json >"$WORK/three.json" || fail "dump of 3 partitions"
read -r records fetchers < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["records"], j["fetchers"])' "$WORK/three.json")
assert_eq 30000 "$records" "records of 3 partitions dumped"
assert_eq 2 "$fetchers" "clients that fetched 3 partitions of 330-byte records"
kcat -C -b "$BS" -t "$T5" -o beginning -e -q -f '%p %o %k %s\n' | sort >"$WORK/three.kcat"
"$KTAPE" cat -a "$WORK/three" -t "$T5" --format '%p %o %k %s\n' | sort >"$WORK/three.cat"
assert_eq 30000 "$(wc -l <"$WORK/three.kcat")" "records kcat reads of 3 partitions"
cmp -s "$WORK/three.kcat" "$WORK/three.cat" || fail "the archive of 3 partitions differs from the topic"
pass "3 partitions of 330-byte records fetched by two clients, each record archived exactly once"
