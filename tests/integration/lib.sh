# lib.sh - shared by the integration tests (bash). Each test is a script
# that sources this file, talks to the real broker at $KTAPE_TEST_BOOTSTRAP
# and fails loudly on the first broken expectation.
set -euo pipefail

if [[ -z ${KTAPE_TEST_BOOTSTRAP:-} ]]; then
    echo "FAIL: KTAPE_TEST_BOOTSTRAP is not set. Integration tests need a real broker:" >&2
    echo "  BS=\$(tools/kafka-local start | tail -n1)" >&2
    echo "  KTAPE_TEST_BOOTSTRAP=\$BS meson test -C build --suite integration" >&2
    echo "(tools/test does this for you.)" >&2
    exit 1
fi
: "${KTAPE:?KTAPE must name the ktape binary (meson sets it)}"
: "${KTAPE_SRC:?KTAPE_SRC must name the source tree (meson sets it)}"
BS=$KTAPE_TEST_BOOTSTRAP
KL="$KTAPE_SRC/tools/kafka-local"

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktape-it-$TEST_NAME-XXXXXX")
# shellcheck disable=SC2064
trap "rm -rf '$WORK'" EXIT
# unique names: tests can run again against the same broker
RUN_ID="$(date +%s%N | tail -c 9)$$"

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}
pass() {
    echo "ok [$TEST_NAME]: $*"
}
assert_eq() { # expected actual what
    [[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}
# Runs a command that must fail with the given exit code.
assert_exit() { # code, command...
    local want=$1
    shift
    local rc=0
    "$@" >"$WORK/last.out" 2>"$WORK/last.err" || rc=$?
    [[ $rc == "$want" ]] || fail "'$*' exited $rc, expected $want: $(head -c 600 "$WORK/last.err")"
}

kcli() { "$KL" cli "$@"; }
# Setup, not a witness: testprod's admin mode creates the topic as
# kafka-topics --create would (replication factor 1) and waits until the
# broker's metadata has a leader for every partition, in milliseconds
# instead of a JVM start.
create_topic() { # name partitions [--config NAME=VALUE]...
    local name=$1 parts=$2
    shift 2
    "$KTAPE_TESTPROD" "$BS" --create "$name" "$parts" "$@" || fail "could not create the topic $name"
}

# Reads a whole topic with Kafka's own console consumer into FILE, in the
# format tests/integration/witness.py parses.
consume_all() { # topic file expected_count [isolation]
    local topic=$1 file=$2 n=$3 iso=${4:-read_committed}
    kcli kafka-console-consumer --bootstrap-server "$BS" --topic "$topic" --from-beginning \
        --max-messages "$n" --timeout-ms 20000 --isolation-level "$iso" \
        --property print.key=true --property print.headers=true --property print.timestamp=true \
        --property print.partition=true --property print.offset=true --property null.literal='<NULL>' \
        --property key.separator='|' --property headers.separator=';' >"$file" 2>"$WORK/consumer.err" || true
}
witness() { # spec consumer_output [--partitions-by-key]
    python3 "$KTAPE_SRC/tests/integration/witness.py" "$@" || fail "the independent reader disagrees (above)"
}
sql() { # archive query
    sqlite3 "file:$1/catalog.db?mode=ro" "$2"
}
produce_spec() { # topic spec_file [--plain]
    "$KTAPE_TESTPROD" "$BS" "$1" ${3:-} <"$2" >/dev/null || fail "testprod could not produce $2"
}
# Setup, not a witness: COUNT records without a key whose values are SIZE
# random letters A-Z, as kafka-producer-perf-test --record-size makes them,
# spread over the partitions by librdkafka's sticky partitioner (a few
# partitions of hundreds may stay empty), produced by kcat in a fraction of
# the perf test's JVM time.
produce_random() { # topic count size [bootstrap]
    python3 -c '
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
letters = bytes.maketrans(bytes(range(256)), bytes(65 + i % 26 for i in range(256)))
out = sys.stdout.buffer
while n > 0:
    k = min(n, 1000)
    b = os.urandom(size * k).translate(letters)
    out.write(b"".join(b[i:i + size] + b"\n" for i in range(0, size * k, size)))
    n -= k
' "$2" "$3" | kcat -P -b "${4:-$BS}" -t "$1" -X linger.ms=20 -X batch.size=1000000 ||
        fail "kcat could not produce $2 records to $1"
}
