#!/usr/bin/env bash
# Encryption at rest for an archive in a bucket (issues #18 and #14), on
# S3Proxy (tools/s3-local) and the real broker: the segment objects, read
# back with the S3 API itself, hold no record bytes and are format 2.1;
# restore with the key writes exactly the records (the console consumer as
# witness); the archive-wide key check reads the newest segment from the
# bucket: no key (exit 2) and another key (exit 12) fail before anything is
# written, a dump without the key is refused; verify authenticates, ls
# names the key id.
source "$(dirname "$0")/lib.sh"

if [[ -z ${KTAPE_TEST_S3:-} || -z ${AWS_ENDPOINT_URL:-} ]]; then
    echo "FAIL: no S3 server: KTAPE_TEST_S3 and AWS_ENDPOINT_URL are not set. Start one with" >&2
    echo "  tools/s3-local start && eval \"\$(tools/s3-local env)\" && export KTAPE_TEST_S3=1" >&2
    echo "(tools/test does this for you.)" >&2
    exit 1
fi
P="it-enc-s3-$RUN_ID"
A="s3://ktape/$P"
T="it-enc-s3-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))
MARK="pii-s3-$RUN_ID"
KEY="$WORK/archive.key"
OTHER="$WORK/other.key"
(
    umask 077
    openssl rand -hex 32 >"$KEY"
    openssl rand -hex 32 >"$OTHER"
)
ID=$(python3 -c 'import hashlib,sys; k=bytes.fromhex(open(sys.argv[1]).read().strip()); print(hashlib.blake2b(b"ktape key id", digest_size=32, key=k).hexdigest()[:16])' "$KEY")

# GET of a bucket key (or a query on the bucket), signed by curl itself;
# S3 wants the hash of the (empty) body
s3_get() { # path-and-query output
    curl -sS --fail --aws-sigv4 "aws:amz:${AWS_REGION}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" -o "$2" "$AWS_ENDPOINT_URL/ktape/$1"
}
urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

create_topic "$T" 2
for i in $(seq 1 30); do
    printf '%d\t%d\tuser-%d\t{"note":"%s-value-%d"}\tsrc=%s\n' $((i % 2)) $((B + i)) "$i" "$MARK" "$i" "$MARK"
done >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain

"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --encrypt-key-file "$KEY" -q 2>"$WORK/dump.err" ||
    fail "encrypted dump into $A: $(cat "$WORK/dump.err")"
s3_get "?list-type=2&prefix=$(urlq "$P/segments/")" "$WORK/list.xml" || fail "cannot list the bucket"
mapfile -t keys < <(grep -o '<Key>[^<]*\.kts</Key>' "$WORK/list.xml" | sed 's/<[^>]*>//g')
((${#keys[@]} == 2)) || fail "expected 2 segment objects, found ${#keys[@]}: $(cat "$WORK/list.xml")"
for k in "${keys[@]}"; do
    s3_get "$k" "$WORK/obj.kts" || fail "cannot get $k"
    if grep -qa "$MARK" "$WORK/obj.kts"; then fail "object $k holds the marker"; fi
    assert_eq " 2 1 1" "$(od -An -tu1 -j12 -N3 "$WORK/obj.kts" | tr -s ' ')" "$k: version 2.1 with the encrypted flag"
done
pass "encrypted dump into a bucket: the objects hold no record bytes (format 2.1)"

"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix copy- --create-topics --encrypt-key-file "$KEY" -q \
    2>"$WORK/r.err" || fail "restore from the bucket with the key: $(cat "$WORK/r.err")"
consume_all "copy-$T" "$WORK/copy.out" 30
witness "$WORK/spec" "$WORK/copy.out"
pass "restore from the bucket with the key: the exact records (kafka-console-consumer as witness)"

assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix nokey- --create-topics -q
grep -q "is encrypted (key id $ID, newest segment " "$WORK/last.err" || fail "restore without a key: $(cat "$WORK/last.err")"
assert_exit 12 "$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$OTHER"
grep -q "is encrypted with key id $ID" "$WORK/last.err" || fail "cat with another key: $(cat "$WORK/last.err")"
if kcli kafka-topics --bootstrap-server "$BS" --list | grep -q "^nokey-$T\$"; then fail "a refused restore created its topic"; fi
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q
grep -q "is encrypted (key id $ID" "$WORK/last.err" || fail "dump without the key: $(cat "$WORK/last.err")"
pass "the bucket's newest segment is checked: no key exits 2, another key 12, a dump without the key is refused"

"$KTAPE" verify -a "$A" --encrypt-key-file "$KEY" >"$WORK/v.out" || fail "verify with the key: $(cat "$WORK/v.out")"
grep -q "encrypted: 2 file(s); every block checked was also authenticated" "$WORK/v.out" ||
    fail "verify with the key: $(cat "$WORK/v.out")"
"$KTAPE" ls -a "$A" | grep -q "^encrypted (XChaCha20-Poly1305) with key id $ID" || fail "ls does not name the key id"
pass "verify authenticates the bucket's blocks; ls names the key id"
