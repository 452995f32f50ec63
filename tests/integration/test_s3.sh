#!/usr/bin/env bash
# Archives in an S3 bucket (issue #14), against the real S3 API of S3Proxy
# (tools/s3-local) and the real broker: the whole cycle (dump, ls, verify,
# restore, compare, prune, reindex) on s3://ktape/PREFIX, records checked
# by Kafka's own console consumer; the archive opened from another, empty
# working directory; a one-hour restore of a 24-hour archive fetching a
# small part of it (counted by ktape's own request counters and checked
# against the objects' sizes); the writer lock object; kill -9 during the
# uploads; the S3 server stopped in the middle of a dump (a clean error,
# exit 11, a consistent archive, and the next run completes); access denied
# and a missing bucket.
source "$(dirname "$0")/lib.sh"

if [[ -z ${KTAPE_TEST_S3:-} || -z ${AWS_ENDPOINT_URL:-} ]]; then
    echo "FAIL: no S3 server: KTAPE_TEST_S3 and AWS_ENDPOINT_URL are not set. Start one with" >&2
    echo "  tools/s3-local start && eval \"\$(tools/s3-local env)\" && export KTAPE_TEST_S3=1" >&2
    echo "(tools/test does this for you.)" >&2
    exit 1
fi
P="it-s3-$RUN_ID"
A="s3://ktape/$P"
t="it-s3-$RUN_ID"

# The bucket's objects under a prefix, as the S3 API lists them, with
# their sizes: KEY SIZE lines (curl signs the request itself).
s3_curl() { # method key-or-query [curl args...]
    local m=$1 path=$2
    shift 2
    curl -sS -X "$m" --aws-sigv4 "aws:amz:${AWS_REGION}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: ${S3_SHA:-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855}" \
        "$@" "$AWS_ENDPOINT_URL/ktape/$path"
}
s3_list() { # prefix -> "key size" lines (1000 at most: enough here)
    local q
    q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
    s3_curl GET "?list-type=2&prefix=$q" | python3 -c '
import re, sys
x = sys.stdin.read()
for k, s in re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", x, re.S):
    print(k, s)'
}
s3_put() { # key file
    S3_SHA=$(sha256sum "$2" | cut -d" " -f1) s3_curl PUT "$1" --data-binary "@$2" -o /dev/null
}
objects_bytes() { # prefix -> total bytes of the segment objects under it
    s3_list "$1/segments/" | awk '{s += $2} END {print s + 0}'
}

# 24 hours of records, 3 partitions, one every 2.4 s per partition; a few
# with null and empty keys and values and headers
now=$(($(date +%s) * 1000))
T0=$((now - 24 * 3600 * 1000))
python3 - "$T0" >"$WORK/spec" <<'PY'
import random, string, sys
t0 = int(sys.argv[1])
rnd = random.Random(14)
n = 36000
for i in range(n):
    ts = t0 + i * 24 * 3600 * 1000 // n
    p = i % 3
    val = "".join(rnd.choices(string.ascii_letters, k=300))
    if i % 997 == 0:
        print(f"{p}\t{ts}\t-\t\th1=a\th1=b")
    elif i % 991 == 0:
        print(f"{p}\t{ts}\t\t-")
    else:
        print(f"{p}\t{ts}\tk{i % 101}\t{val}\torigin=it")
PY
N=$(wc -l <"$WORK/spec")
create_topic "$t" 3
produce_spec "$t" "$WORK/spec" --plain

# ---- the cycle ----
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --block-size 64K --json >"$WORK/dump.json" || fail "dump to $A"
grep -q "\"records\":$N," "$WORK/dump.json" || fail "dump did not archive $N records: $(head -c 300 "$WORK/dump.json")"
s3_list "$P/" >"$WORK/objects"
grep -q "^$P/ktape-archive " "$WORK/objects" || fail "no marker object in the bucket"
grep -q "^$P/catalog.db " "$WORK/objects" || fail "no catalog object in the bucket"
grep -q "^$P/meta/0000000001-dump.ktm " "$WORK/objects" || fail "no metadata object of run 1"
grep -q "^$P/lock " "$WORK/objects" && fail "the writer lock object stayed after the dump"
grep -q "^$P/segments/$t/g0/p0/.*\.kts " "$WORK/objects" || fail "no segment object of partition 0"
pass "dump wrote marker, catalog, metadata and segment objects and released the lock"

# a reader on another machine: an empty working directory, nothing local
mkdir "$WORK/elsewhere"
TMPDIR="$WORK/elsewhere" "$KTAPE" ls -a "$A" --json >"$WORK/ls.json" || fail "ls -a $A"
grep -q "\"records\":$N" "$WORK/ls.json" || fail "ls does not show $N records"
[[ -z $(ls -A "$WORK/elsewhere") ]] || fail "ls left files in its working directory: $(ls -A "$WORK/elsewhere")"
TMPDIR="$WORK/elsewhere" "$KTAPE" verify -a "$A" >"$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
grep -q "OK: no problems found" "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
pass "ls and verify read the bucket alone from an empty working directory"

"$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$t.r" --create-topics -q || fail "restore from $A"
consume_all "$t.r" "$WORK/restored" "$N"
witness "$WORK/spec" "$WORK/restored"
"$KTAPE" compare -b "$BS" -a "$A" -t "$t" >/dev/null || fail "compare of $t with $A"
pass "restore from the bucket wrote every record exactly (console consumer), compare agrees"

# one hour out of 24: only the blocks of that hour are fetched
from=$((T0 + 10 * 3600 * 1000))
to=$((from + 3600 * 1000))
want=$(awk -F'\t' -v a="$from" -v b="$to" '$2 >= a && $2 < b' "$WORK/spec" | wc -l)
"$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$t.hour" --create-topics --from-time "@$from" \
    --to-time "@$to" --json >"$WORK/hour.json" || fail "restore of one hour: $(cat "$WORK/hour.json")"
grep -q "\"records\":$want," "$WORK/hour.json" || fail "the hour restore wrote not $want records: $(cat "$WORK/hour.json")"
fetched=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["storage"]["bytes_fetched"])' "$WORK/hour.json")
seg_bytes=$(objects_bytes "$P")
cat_bytes=$(s3_list "$P/catalog.db" | awk '{print $2}')
((seg_bytes > 0)) || fail "no segment bytes in the bucket"
# the catalog comes whole; of the segments, their headers, indexes and the
# hour's blocks: well under a fifth of the 24 hours
seg_fetched=$((fetched - cat_bytes))
((seg_fetched * 5 < seg_bytes)) ||
    fail "a one-hour restore fetched $seg_fetched bytes of segments out of $seg_bytes (more than a fifth)"
pass "a one-hour restore fetched $seg_fetched of $seg_bytes segment bytes (+ the $cat_bytes-byte catalog)"

# ---- incremental dump, prune, reindex ----
sleep 1
now2=$(($(date +%s) * 1000))
for i in $(seq 0 299); do printf '%d\t%d\tn%d\tnew-%d\n' $((i % 3)) $((now2 + i)) "$i" "$i"; done >"$WORK/spec2"
produce_spec "$t" "$WORK/spec2" --plain
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --json >"$WORK/dump2.json" || fail "second dump"
grep -q '"records":300,' "$WORK/dump2.json" || fail "the incremental dump did not archive 300 records"
"$KTAPE" prune -a "$A" --keep-runs 1 --json >"$WORK/prune.json" || fail "prune: $(cat "$WORK/prune.json")"
grep -q '"segments_removed":[1-9]' "$WORK/prune.json" || fail "prune removed nothing: $(cat "$WORK/prune.json")"
"$KTAPE" verify -a "$A" >"$WORK/v.out" || fail "verify after prune"
s3_list "$P/segments/" | grep -q "/00000000000000000000-" && fail "prune left the first segments in the bucket"
left=$("$KTAPE" cat -a "$A" -t "$t" | wc -l)
assert_eq 300 "$left" "records after prune --keep-runs 1"
"$KTAPE" reindex -a "$A" >"$WORK/reindex.out" || fail "reindex: $(cat "$WORK/reindex.out")"
assert_eq 300 "$("$KTAPE" cat -a "$A" -t "$t" | wc -l)" "records after reindex of the bucket"
pass "incremental dump, prune (objects removed), reindex from the objects alone"

# ---- the writer lock object ----
printf 'ktape writer lock\ntoken=00\nhost=some-other-host\nboot=x\npid=4242\nsince=2026-01-01T00:00:00.000Z\n' \
    >"$WORK/lock"
s3_put "$P/lock" "$WORK/lock"
assert_exit 3 "$KTAPE" dump -b "$BS" -a "$A" -t "$t"
grep -q "some-other-host" "$WORK/last.err" || fail "the lock error does not name the holder: $(cat "$WORK/last.err")"
assert_exit 3 "$KTAPE" prune -a "$A" --keep-runs 1
"$KTAPE" ls -a "$A" >/dev/null || fail "a reader is refused while a writer holds the lock"
# a lock left by a process of this host that is gone is taken over
printf 'ktape writer lock\ntoken=00\nhost=%s\nboot=%s\npid=999999\nsince=2026-01-01T00:00:00.000Z\n' \
    "$(hostname)" "$(cat /proc/sys/kernel/random/boot_id)" >"$WORK/lock"
s3_put "$P/lock" "$WORK/lock"
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" -q || fail "a stale lock of a dead process on this host was not taken over"
pass "a lock of another host refuses writers (exit 3, named), a dead local process's lock is taken over"

# ---- kill -9 during the uploads ----
A2="s3://ktape/$P-kill"
"$KTAPE" dump -b "$BS" -a "$A2" -t "$t" --segment-size 256K --block-size 64K -q &
pid=$!
sleep 1.5
# a second writer while the first one runs: refused, the first one named
if kill -0 "$pid" 2>/dev/null; then
    rc=0
    "$KTAPE" dump -b "$BS" -a "$A2" -t "$t" -q 2>"$WORK/second.err" || rc=$?
    if kill -0 "$pid" 2>/dev/null; then
        [[ $rc == 3 ]] || fail "a second dump beside a running one exited $rc: $(cat "$WORK/second.err")"
        grep -q "pid $pid" "$WORK/second.err" || fail "the refusal does not name pid $pid: $(cat "$WORK/second.err")"
        echo "a second writer was refused while the first ran"
    fi
fi
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if "$KTAPE" ls -a "$A2" --json >"$WORK/ls2.json" 2>"$WORK/ls2.err"; then
    seen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["records"])' "$WORK/ls2.json")
    got=0
    if ((seen > 0)); then # else the catalog uploaded at creation lists no topic yet
        got=$("$KTAPE" cat -a "$A2" -t "$t" | wc -l)
    fi
    assert_eq "$seen" "$got" "records cat reads after the kill, against what the catalog lists"
    echo "after kill -9: the bucket's catalog lists $seen records"
else
    grep -q "not a ktape archive" "$WORK/ls2.err" || fail "after kill -9: $(cat "$WORK/ls2.err")"
fi
"$KTAPE" dump -b "$BS" -a "$A2" -t "$t" -q || fail "the dump after kill -9"
assert_eq "$((N + 300))" "$("$KTAPE" cat -a "$A2" -t "$t" | wc -l)" "records after the dump that followed kill -9"
"$KTAPE" verify -a "$A2" >"$WORK/v.out" || fail "verify after kill -9 and the next dump"
pass "kill -9 during uploads: readers see only what the catalog lists; the next dump completes it"

# ---- the S3 server stopped in the middle of a dump ----
# The server the dump talks to is a TCP relay in front of S3Proxy, stopped
# with SIGSTOP as the server would be (connections accepted, nothing
# answered): it starts in a fraction of a second, a second S3Proxy (JVM)
# took seconds, and the test's own server is never stopped.
python3 - "$AWS_ENDPOINT_URL" "$WORK/relay.port" <<'PY' &
import os, socket, sys, threading, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(128)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
def pipe(a, b):
    try:
        while d := a.recv(65536):
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(c):
    try:
        s = socket.create_connection((u.hostname, u.port))
    except OSError:
        c.close()
        return
    t = threading.Thread(target=pipe, args=(c, s), daemon=True)
    t.start()
    pipe(s, c)
    t.join()
    c.close()
    s.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
spid=$!
stop_b() { kill -CONT "$spid" 2>/dev/null; kill "$spid" 2>/dev/null || true; rm -rf "$WORK"; }
trap stop_b EXIT
for _ in $(seq 50); do [[ -s $WORK/relay.port ]] && break; sleep 0.1; done
[[ -s $WORK/relay.port ]] || fail "the S3 relay did not start"
EP_B="http://127.0.0.1:$(cat "$WORK/relay.port")"
AB="s3://ktape/$P-stop"
"$KTAPE" dump -b "$BS" -a "$AB" -t "$t" --s3-endpoint "$EP_B" --s3-timeout 4s --segment-size 256K \
    --block-size 64K -q 2>"$WORK/stop.err" &
pid=$!
sleep 1.5
kill -STOP "$spid"
t_stop=$(date +%s)
rc=0
wait "$pid" || rc=$?
t_end=$(date +%s)
kill -CONT "$spid"
[[ $rc == 11 ]] || fail "a dump whose S3 server stopped exited $rc, not 11: $(cat "$WORK/stop.err")"
((t_end - t_stop <= 12)) || fail "the dump took $((t_end - t_stop)) s to give up (timeout 4s)"
echo "the stopped server's dump said: $(cat "$WORK/stop.err")"
grep -q "$EP_B\|127.0.0.1" "$WORK/stop.err" || fail "the error does not name the server: $(cat "$WORK/stop.err")"
[[ $(wc -l <"$WORK/stop.err") -le 3 ]] || fail "more than a short error: $(cat "$WORK/stop.err")"
"$KTAPE" dump -b "$BS" -a "$AB" -t "$t" --s3-endpoint "$EP_B" -q || fail "the dump after the server came back"
assert_eq "$((N + 300))" "$("$KTAPE" cat -a "$AB" --s3-endpoint "$EP_B" -t "$t" | wc -l)" \
    "records after the server came back"
"$KTAPE" verify -a "$AB" --s3-endpoint "$EP_B" >"$WORK/v.out" || fail "verify after the server came back"
pass "server stopped mid-dump: exit 11 in $((t_end - t_stop)) s, one clear line; the next dump completes"

# ---- refusals ----
assert_exit 11 env AWS_SECRET_ACCESS_KEY=wrong-secret "$KTAPE" ls -a "$A"
grep -q "SignatureDoesNotMatch" "$WORK/last.err" || fail "a wrong secret: $(cat "$WORK/last.err")"
grep -q "wrong-secret" "$WORK/last.err" && fail "the secret is in the error message"
assert_exit 7 "$KTAPE" ls -a "s3://no-such-bucket-$RUN_ID/x"
grep -qi "bucket" "$WORK/last.err" || fail "a missing bucket: $(cat "$WORK/last.err")"
assert_exit 7 "$KTAPE" ls -a "s3://ktape/$P-nothing-here"
assert_exit 2 "$KTAPE" ls -a "$A" --s3-endpoint ftp://x
pass "wrong secret exit 11 (SignatureDoesNotMatch, no secret shown), missing bucket or archive exit 7"
