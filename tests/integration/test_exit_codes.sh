#!/usr/bin/env bash
# Every exit code that `ktape help exit-codes` documents is produced by the
# case it names, and the same case gives the same code in every command
# (issue #13: a deleted segment was 7 in restore and 5 in cat; a garbled
# catalog was 1 in verify; a missing compare target was 6).
source "$(dirname "$0")/lib.sh"

declare -A seen=()
expect() { # code, command...: runs it, checks the code, remembers it
    assert_exit "$@"
    seen[$1]=1
}

topic="it-exit-$RUN_ID"
create_topic "$topic" 1
seq 0 4999 | awk '{printf "k%d:value-%d-padding-padding\n", $1 % 7, $1}' | kcat -P -b "$BS" -t "$topic" -K:
A="$WORK/arch"
"$KTAPE" dump -b "$BS" -a "$A" -t "$topic" --segment-size 16K --block-size 4K -q || fail "dump"
copy() { rm -rf "$WORK/$1" && cp -a "$A" "$WORK/$1" && echo "$WORK/$1"; }
mapfile -t segs < <(cd "$A" && find segments -name '*.kts' | sort)
((${#segs[@]} >= 3)) || fail "expected several segments, got ${#segs[@]}"

# 0 ok
expect 0 "$KTAPE" ls -a "$A"
expect 0 "$KTAPE" verify -a "$A"

# 1 error: the archive cannot be created (a file where a directory must be)
touch "$WORK/a-file"
expect 1 "$KTAPE" dump -b "$BS" -a "$WORK/a-file/arch" -t "$topic" -q

# 2 usage
expect 2 "$KTAPE" dump -b "$BS" -a "$A" --no-such-option
expect 2 "$KTAPE" cat -a "$A" --from-offset 10 --to-offset 5
expect 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --pace original --rate-msgs 5 # checked once, in the engine

# 3 locked
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1] + "/lock", "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$A" "$WORK/locked" &
holder=$!
for _ in $(seq 100); do [[ -e $WORK/locked ]] && break; sleep 0.1; done
expect 3 "$KTAPE" dump -b "$BS" -a "$A" -t "$topic" -q
kill "$holder"
wait "$holder" 2>/dev/null || true

# 5 damaged, the same in every reader: a deleted segment the catalog lists
D=$(copy deleted)
rm "$D/${segs[1]}"
expect 5 "$KTAPE" cat -a "$D" -t "$topic"
expect 5 "$KTAPE" restore -b "$BS" -a "$D" -t "$topic" --map "$topic=$topic.d" --create-topics -q
expect 5 "$KTAPE" verify -a "$D"
# ... a flipped byte in a block
F=$(copy flipped)
printf '\xff' | dd of="$F/${segs[0]}" bs=1 seek=200 conv=notrunc status=none
expect 5 "$KTAPE" verify -a "$F"
# ... a catalog that is missing or garbled
G=$(copy nocatalog)
rm -f "$G"/catalog.db*
expect 5 "$KTAPE" verify -a "$G"
expect 5 "$KTAPE" ls -a "$G"
H=$(copy garbled)
rm -f "$H"/catalog.db-wal "$H"/catalog.db-shm
head -c 4096 /dev/urandom >"$H/catalog.db"
expect 5 "$KTAPE" verify -a "$H"
expect 5 "$KTAPE" cat -a "$H" -t "$topic"

# 4 data lost: after reindex, the deleted segment is a missing range
expect 5 "$KTAPE" reindex -a "$D"
expect 4 "$KTAPE" cat -a "$D" -t "$topic"
expect 4 "$KTAPE" restore -b "$BS" -a "$D" -t "$topic" --map "$topic=$topic.d" --create-topics -q

# 6 kafka: nothing listens there
expect 6 "$KTAPE" dump -b 127.0.0.1:1 -a "$WORK/unreachable" -t "$topic" --timeout 5s -q

# 7 not found: the archive, a topic, the compare target
expect 7 "$KTAPE" ls -a "$WORK/no-such-archive"
expect 7 "$KTAPE" cat -a "$A" -t no-such-topic
expect 7 "$KTAPE" compare -b "$BS" -a "$A" -t "$topic" --map "$topic=no-such-target-$RUN_ID"

# 9 refused, 8 mismatch
dst="$topic.copy"
"$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" --create-topics -q || fail "restore"
expect 9 "$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst" -q
echo "extra:record" | kcat -P -b "$BS" -t "$dst" -K:
expect 8 "$KTAPE" compare -b "$BS" -a "$A" -t "$topic" --map "$topic=$dst"

# 10 version
V=$(copy newer)
sed -i 's/^format_version=.*/format_version=99/' "$V/ktape-archive"
expect 10 "$KTAPE" ls -a "$V"

# 12 key: an archive encrypted with another key than the key file's (no key
# at all is a usage error)
(
    umask 077
    openssl rand -hex 32 >"$WORK/k1"
    openssl rand -hex 32 >"$WORK/k2"
)
"$KTAPE" dump -b "$BS" -a "$WORK/enc" -t "$topic" --encrypt-key-file "$WORK/k1" -q || fail "encrypted dump"
expect 12 "$KTAPE" cat -a "$WORK/enc" -t "$topic" --encrypt-key-file "$WORK/k2"
expect 2 "$KTAPE" cat -a "$WORK/enc" -t "$topic"

# 11 storage: a bucket that refuses the credentials, and one that does not
# answer within --s3-timeout (a closed port)
[[ -n ${KTAPE_TEST_S3:-} ]] || fail "no S3 server (KTAPE_TEST_S3 unset): tools/test starts one"
"$KTAPE" dump -b "$BS" -a "s3://ktape/it-exit-$RUN_ID" -t "$topic" -q || fail "dump to the bucket"
expect 11 env AWS_SECRET_ACCESS_KEY=not-the-secret "$KTAPE" ls -a "s3://ktape/it-exit-$RUN_ID"
expect 11 "$KTAPE" cat -a "s3://ktape/it-exit-$RUN_ID" --s3-endpoint http://127.0.0.1:1 --s3-timeout 1s
expect 7 "$KTAPE" ls -a "s3://ktape/it-exit-$RUN_ID-none"

# 130 interrupted
"$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$topic.slow" --create-topics --rate-msgs 100 -q \
    >/dev/null 2>&1 &
pid=$!
sleep 2
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 130 ]] || fail "an interrupted restore exited $rc, expected 130"
seen[130]=1

for code in $("$KTAPE" help exit-codes | awk '/^ +[0-9]+  / {print $1}'); do
    [[ -n ${seen[$code]:-} ]] || fail "exit code $code is documented, but no case here produces it"
done
pass "every documented exit code ($(printf '%s ' "${!seen[@]}")) comes from the case it names"
