#!/usr/bin/env bash
# bench/workers.sh - archive throughput of dump --follow --worker-group with
# 1, 2 and 3 workers on one machine (issue #20): a topic of RECORDS seed
# records (bench/gen_seed.py, 250-350 B values) in PARTITIONS partitions is
# archived from scratch by N workers of a new consumer group into a new
# directory archive; the time is from the start of the workers to every
# record being listed in the shards' catalogs. Rounds alternate 1, 2, 3
# workers, each round after a batch dump of the same topic (one process, no
# group) for reference; prints each round and the medians, records/s, MB/s.
#   BS=HOST:PORT bench/workers.sh [RECORDS] [PARTITIONS] [ROUNDS]
# KTAPE: the binary (default build/src/ktape). Uses kcat to produce.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KTAPE=${KTAPE:-$ROOT/build/src/ktape}
RECORDS=${1:-1000000}
PARTITIONS=${2:-12}
ROUNDS=${3:-3}
: "${BS:?BS must name the broker (HOST:PORT)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktape-bench-workers-XXXXXX")
trap 'for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

DATA=${CACHE:-$HOME/.cache/ktape/bench}/user-activities-$RECORDS.tsv
mkdir -p "$(dirname "$DATA")"
[[ -s $DATA ]] || python3 "$ROOT/bench/gen_seed.py" --records "$RECORDS" -o "$DATA"
PAYLOAD=$(($(stat -c %s "$DATA") - 2 * RECORDS))
TOPIC=bench-workers-$RECORDS-p$PARTITIONS-$$
"$ROOT/tools/kafka-local" cli kafka-topics --bootstrap-server "$BS" --create --topic "$TOPIC" \
    --partitions "$PARTITIONS" --replication-factor 1 >/dev/null
kcat -P -b "$BS" -t "$TOPIC" -K '\t' -z lz4 -l "$DATA"
echo "topic $TOPIC: $RECORDS records, $PAYLOAD payload bytes, $PARTITIONS partitions"

archived() { # archive -> records listed in its shards' catalogs
    python3 - "$1" <<'PY'
import glob, sqlite3, sys
n = 0
for db in glob.glob(sys.argv[1] + "/shards/*/catalog.db"):
    try:
        n += sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
            "SELECT coalesce(sum(records), 0) FROM segments").fetchone()[0]
    except sqlite3.Error:
        pass
print(n)
PY
}

round() { # workers round
    local n=$1 r=$2 a="$WORK/a-$n-$r" g="bench-workers-$$-$n-$r" pids=() t0 t1
    t0=$(date +%s.%N)
    for i in $(seq "$n"); do
        "$KTAPE" dump -b "$BS" -a "$a" -t "$TOPIC" --follow --worker-group "$g" --worker-id "w$i" \
            --commit-interval 1s -q 2>>"$WORK/err" &
        pids+=($!)
    done
    while (($(archived "$a") < RECORDS)); do sleep 0.2; done
    t1=$(date +%s.%N)
    kill -TERM "${pids[@]}"
    wait "${pids[@]}" || true
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1"
}

batch() { # round: a batch dump of the topic, for reference (one process, no group)
    local t0 t1
    t0=$(date +%s.%N)
    "$KTAPE" dump -b "$BS" -a "$WORK/b-$1" -t "$TOPIC" -q 2>>"$WORK/err"
    t1=$(date +%s.%N)
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1"
}

declare -A times
for r in $(seq "$ROUNDS"); do
    s=$(batch "$r")
    times[0]+="$s "
    echo "round $r, batch dump: $s s"
    for n in 1 2 3; do
        s=$(round "$n" "$r")
        times[$n]+="$s "
        echo "round $r, $n worker(s): $s s"
    done
done
for n in 0 1 2 3; do
    # shellcheck disable=SC2086
    python3 - "$n" "$RECORDS" "$PAYLOAD" ${times[$n]} <<'PY'
import statistics, sys
n, rec, pay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t = [float(x) for x in sys.argv[4:]]
m = statistics.median(t)
print(f"{f'{n} worker(s)' if n else 'batch dump'}: median {m:.2f} s ({min(t):.2f}-{max(t):.2f}), {rec / m:,.0f} records/s, "
      f"{pay / m / 1e6:.1f} MB/s of keys and values")
PY
done
"$ROOT/tools/kafka-local" cli kafka-topics --bootstrap-server "$BS" --delete --topic "$TOPIC" >/dev/null 2>&1 || true
