#!/usr/bin/env bash
# Encryption at rest (issue #18) against the real broker: a dump with
# --encrypt-key-file leaves no value, key or header in the archive and no
# trace of the key; restore with the key writes exactly the records (Kafka's
# console consumer as witness); restore, compare and cat without the key
# (exit 2) or with another key (exit 12) fail before writing, each with its
# own message; verify without the key checks CRCs and says so, with it
# authenticates every block and finds a block changed with its CRCs
# recomputed; one key per archive (no mixing); reindex, ls and prune need
# no key.
source "$(dirname "$0")/lib.sh"

A="$WORK/enc"
P="$WORK/plain"
T="it-enc-$RUN_ID"
B=$((($(date +%s) - 3600) * 1000))
MARK="pii-$RUN_ID"
KEY="$WORK/archive.key"
OTHER="$WORK/other.key"
(
    umask 077
    openssl rand -hex 32 >"$KEY"
    openssl rand -hex 32 >"$OTHER"
)
keyid() { python3 -c 'import hashlib,sys; k=bytes.fromhex(open(sys.argv[1]).read().strip()); print(hashlib.blake2b(b"ktape key id", digest_size=32, key=k).hexdigest()[:16])' "$1"; }
ID=$(keyid "$KEY")
OID=$(keyid "$OTHER")

create_topic "$T" 2
{
    for i in $(seq 1 40); do
        printf '%d\t%d\tuser-%s-%d\t{"ip":"10.0.%d.%d","note":"%s-value-%d"}\tsrc=%s-header\n' \
            $((i % 2)) $((B + i)) "$MARK" "$i" $((i % 7)) "$i" "$MARK" "$i" "$MARK"
    done
    printf '0\t%d\t-\t-\n' $((B + 100))
    printf '1\t%d\t\t\n' $((B + 101))
} >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain

# -- the key file: refused when others may read it, or when it is not 64 hex digits
cp "$KEY" "$WORK/open.key"
chmod 644 "$WORK/open.key"
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$WORK/x" -t "$T" --encrypt-key-file "$WORK/open.key" -q
grep -q "may be read or written by group or others (mode 0644): chmod 600" "$WORK/last.err" ||
    fail "a world-readable key file: $(cat "$WORK/last.err")"
(
    umask 077
    printf 'not a key\n' >"$WORK/bad.key"
)
assert_exit 2 "$KTAPE" cat -a "$WORK/x" --encrypt-key-file "$WORK/bad.key"
grep -q "must hold exactly 64 hexadecimal digits" "$WORK/last.err" || fail "a bad key file: $(cat "$WORK/last.err")"
[[ ! -e $WORK/x ]] || fail "a refused key file still created the archive"
pass "key files: mode 0644 and a malformed key are refused with exit 2"

# -- dump with the key: nothing of the records, and nothing of the key, in the archive
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --encrypt-key-file "$KEY" --json >"$WORK/dump.json" 2>"$WORK/dump.err" ||
    fail "encrypted dump: $(cat "$WORK/dump.err")"
"$KTAPE" dump -b "$BS" -a "$P" -t "$T" -q || fail "plain dump"
mapfile -t segs < <(find "$A/segments" -name '*.kts' | sort)
((${#segs[@]} == 2)) || fail "expected 2 segment files, found ${#segs[@]}"
if grep -rqa "$MARK" "$A"; then fail "the marker is in the encrypted archive: $(grep -rla "$MARK" "$A")"; fi
# zstd's literals are Huffman-coded: the plain archive shows its records
# through zstd -dc, the encrypted one gives zstd nothing to decompress
find "$P/segments" -name '*.kts' -exec zstd -dcq {} + | grep -qa "$MARK" || fail "control: zstd -dc of the plain archive"
for s in "${segs[@]}"; do
    if zstd -dcq "$s" 2>/dev/null | grep -qa "$MARK"; then fail "zstd -dc of $s shows the marker"; fi
    ver=$(od -An -tu1 -j12 -N3 "$s" | tr -s ' ')
    assert_eq " 2 1 1" "$ver" "$s: version 2.1 with the encrypted flag"
done
python3 - "$KEY" "$A" "$WORK/dump.json" "$WORK/dump.err" <<'PY' || fail "the key is in the archive or the output"
import os, sys
hexkey = open(sys.argv[1]).read().strip()
needles = [hexkey.encode(), hexkey.upper().encode(), bytes.fromhex(hexkey)]
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        data = open(os.path.join(root, f), "rb").read()
        assert not any(n in data for n in needles), os.path.join(root, f)
for f in sys.argv[3:]:
    data = open(f, "rb").read()
    assert not any(n in data for n in needles), f
PY
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["key_id"] == sys.argv[2], d["key_id"]' \
    "$WORK/dump.json" "$ID" || fail "dump --json does not name the key id $ID"
"$KTAPE" dump -b "$BS" -a "$P" -t "$T" --json | python3 -c 'import json, sys; assert json.load(sys.stdin)["key_id"] is None' ||
    fail "dump --json of a plain archive: key_id is not null"
pass "encrypted dump: no record bytes and no key in the files, the catalog or --json (format 2.1); --json names the key id"

# -- restore and compare with the key: exactly the records
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix copy- --create-topics --encrypt-key-file "$KEY" -q \
    2>"$WORK/r.err" || fail "restore with the key: $(cat "$WORK/r.err")"
consume_all "copy-$T" "$WORK/copy.out" 42
witness "$WORK/spec" "$WORK/copy.out"
"$KTAPE" compare -b "$BS" -a "$A" -t "$T" --topic-prefix copy- --encrypt-key-file "$KEY" >/dev/null ||
    fail "compare with the key says the copy differs"
n=$("$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$KEY" | grep -c "$MARK-value")
assert_eq 40 "$n" "records cat prints with the key"
pass "restore, compare and cat with the key: the exact records (kafka-console-consumer as witness)"

# -- no key (2) and another key (12): own messages, and nothing written
assert_exit 2 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix nokey- --create-topics -q
grep -q "is encrypted (key id $ID, newest segment .*): give its key with --encrypt-key-file" "$WORK/last.err" ||
    fail "restore without a key: $(cat "$WORK/last.err")"
assert_exit 12 "$KTAPE" restore -b "$BS" -a "$A" -t "$T" --topic-prefix wrongkey- --create-topics \
    --encrypt-key-file "$OTHER" -q
grep -q "is encrypted with key id $ID (newest segment .*), the key file has key id $OID" "$WORK/last.err" ||
    fail "restore with another key: $(cat "$WORK/last.err")"
topics=$(kcli kafka-topics --bootstrap-server "$BS" --list)
if grep -q -e "^nokey-$T\$" -e "^wrongkey-$T\$" <<<"$topics"; then fail "a failed restore created its topic"; fi
assert_exit 2 "$KTAPE" cat -a "$A" -t "$T"
grep -q "give its key with --encrypt-key-file" "$WORK/last.err" || fail "cat without a key: $(cat "$WORK/last.err")"
[[ ! -s $WORK/last.out ]] || fail "cat without a key printed records"
assert_exit 12 "$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$OTHER"
grep -q "the key file has key id $OID" "$WORK/last.err" || fail "cat with another key: $(cat "$WORK/last.err")"
assert_exit 2 "$KTAPE" compare -b "$BS" -a "$A" -t "$T" --topic-prefix copy-
assert_exit 12 "$KTAPE" compare -b "$BS" -a "$A" -t "$T" --topic-prefix copy- --encrypt-key-file "$OTHER"
pass "restore, cat, compare: no key exits 2, another key exits 12 (both key ids named), no topic created"

# -- verify: CRCs without the key (and it says so), authenticity with it
"$KTAPE" verify -a "$A" >"$WORK/v.out" || fail "verify without the key exited $?: $(cat "$WORK/v.out")"
grep -q "^OK: no problems found" "$WORK/v.out" || fail "verify without the key: $(cat "$WORK/v.out")"
grep -q "encrypted: 2 file(s) checked by their CRCs only: no key was given (--encrypt-key-file), so their authenticity was NOT checked" \
    "$WORK/v.out" || fail "verify without the key does not say it checked CRCs only: $(cat "$WORK/v.out")"
"$KTAPE" verify -a "$A" --deep --encrypt-key-file "$KEY" >"$WORK/vk.out" || fail "verify with the key exited $?"
grep -q "encrypted: 2 file(s); every block checked was also authenticated" "$WORK/vk.out" ||
    fail "verify with the key: $(cat "$WORK/vk.out")"
"$KTAPE" verify -a "$A" --encrypt-key-file "$KEY" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "ok" and d["encrypted_files"] == 2 and d["authenticated"] is True, d' ||
    fail "verify --json with the key"
assert_exit 12 "$KTAPE" verify -a "$A" --encrypt-key-file "$OTHER"

# one bit of a block's ciphertext flipped, its data CRC and header CRC
# recomputed: only the AEAD tag can tell
victim=${segs[0]}
cp "$victim" "$WORK/victim.kts"
python3 - "$victim" "$KTAPE_SRC/format/reference" <<'PY' || fail "could not edit $victim"
import sys
sys.path.insert(0, sys.argv[2])
from ktape_segment import crc32c
path = sys.argv[1]
d = bytearray(open(path, "rb").read())
u32 = lambda p: int.from_bytes(d[p:p + 4], "little")
bh = 8 + u32(4)                         # the first block header frame
fsize, size = u32(bh + 4), u32(bh + 20)  # frame_size, compressed_size
data = bh + 8 + fsize
d[data + size // 2] ^= 0x08
d[bh + 68:bh + 72] = crc32c(bytes(d[data:data + size])).to_bytes(4, "little")
d[bh + 4 + fsize:bh + 8 + fsize] = crc32c(bytes(d[bh + 8:bh + 4 + fsize])).to_bytes(4, "little")
open(path, "wb").write(d)
PY
"$KTAPE" verify -a "$A" >"$WORK/vt.out" || fail "verify without the key fails on CRC-valid data: $(cat "$WORK/vt.out")"
assert_exit 5 "$KTAPE" verify -a "$A" --encrypt-key-file "$KEY"
grep -q "block 0 byte [0-9]*: block fails authentication" "$WORK/last.out" ||
    fail "verify with the key does not name the tampered block: $(cat "$WORK/last.out")"
assert_exit 5 "$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$KEY"
grep -q "fails authentication" "$WORK/last.err" || fail "cat of a tampered block: $(cat "$WORK/last.err")"
cp "$WORK/victim.kts" "$victim"
"$KTAPE" verify -a "$A" --encrypt-key-file "$KEY" >/dev/null || fail "verify after the file was put back"
pass "verify: CRCs only without the key (said), authenticity with it; a CRC-valid forgery is exit 5, another key 12"

# -- one key per archive
produce_spec "$T" "$WORK/spec" --plain # 42 more records
assert_exit 2 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" -q
grep -q "is encrypted (key id $ID" "$WORK/last.err" || fail "dump without the key: $(cat "$WORK/last.err")"
assert_exit 12 "$KTAPE" dump -b "$BS" -a "$A" -t "$T" --encrypt-key-file "$OTHER" -q
grep -q "an archive holds one key: dump into a new archive to change keys" "$WORK/last.err" ||
    fail "dump with another key: $(cat "$WORK/last.err")"
assert_exit 9 "$KTAPE" dump -b "$BS" -a "$P" -t "$T" --encrypt-key-file "$KEY" -q
grep -q "holds unencrypted segments" "$WORK/last.err" || fail "dump with a key into a plain archive: $(cat "$WORK/last.err")"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --encrypt-key-file "$KEY" -q || fail "incremental encrypted dump"
n=$("$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$KEY" | grep -c "$MARK-value")
assert_eq 80 "$n" "records after the second encrypted dump"
pass "no mixing: no key, another key, or a key into a plain archive are refused; the same key continues"

# -- reindex, ls and prune without the key (the index of a file is in the clear)
"$KTAPE" reindex -a "$A" >/dev/null || fail "reindex without the key"
"$KTAPE" ls -a "$A" >"$WORK/ls.out" || fail "ls without the key"
grep -q "$T" "$WORK/ls.out" || fail "ls: $(cat "$WORK/ls.out")"
grep -q "^encrypted (XChaCha20-Poly1305) with key id $ID: restore, compare and cat need its --encrypt-key-file" \
    "$WORK/ls.out" || fail "ls does not say the archive is encrypted: $(head -5 "$WORK/ls.out")"
"$KTAPE" ls -a "$A" --json | python3 -c 'import json, sys; assert json.load(sys.stdin)["key_id"] == sys.argv[1]' "$ID" ||
    fail "ls --json key_id"
"$KTAPE" ls -a "$P" --json | python3 -c 'import json, sys; assert json.load(sys.stdin)["key_id"] is None' ||
    fail "ls --json of a plain archive: key_id is not null"
n=$("$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$KEY" | grep -c "$MARK-value")
assert_eq 80 "$n" "records after reindex"
"$KTAPE" prune -a "$A" --keep-runs 1 >"$WORK/prune.out" || fail "prune without the key: $(cat "$WORK/prune.out")"
n=$("$KTAPE" cat -a "$A" -t "$T" --encrypt-key-file "$KEY" | grep -c "$MARK-value")
assert_eq 40 "$n" "records after prune --keep-runs 1"
"$KTAPE" verify -a "$A" --encrypt-key-file "$KEY" >/dev/null || fail "verify after prune"
pass "reindex, ls and prune need no key (ls names the key id); the records read back with it afterwards"
