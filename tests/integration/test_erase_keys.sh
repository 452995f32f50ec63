#!/usr/bin/env bash
# prune --erase-keys FILE (issue #21): the segments that hold listed keys
# are rewritten without those records, so that the archive itself no longer
# holds them: cat shows none of the listed keys and every other record once,
# at its source offset; verify passes; reindex gives the same; a restore
# matches Kafka's console consumer minus the erased records; ls --runs shows
# the run with the list's SHA-256 and the count; --dry-run counts per
# partition; a bad list exits 2; an encrypted archive needs its key and
# stays encrypted; in a bucket (S3Proxy) the replaced objects are gone
# after the erasure; a kill at each step of the swap (KTAPE_TEST_CRASH) leaves
# every record at most once for readers, and the next writer (or reindex
# and a second run) ends with exactly the records that should remain.
source "$(dirname "$0")/lib.sh"
if [[ -z ${KTAPE_TEST_S3:-} || -z ${AWS_ENDPOINT_URL:-} ]]; then
    echo "FAIL: no S3 server: KTAPE_TEST_S3 and AWS_ENDPOINT_URL are not set (tools/s3-local)" >&2
    exit 1
fi

B=$((($(date +%s) - 60) * 1000))
T="erase-$RUN_ID"
create_topic "$T" 2
# partition 0, offsets 0..59: unique keys, alice every 5th, bob every 7th,
# a null key, an empty key, a binary key 00 ff; partition 1: 0..39 alice
# (its first segments hold nothing else: erased whole), then 40..59 kept
{
    for i in $(seq 0 59); do
        k="u$i"
        v="v0-$i"
        if ((i % 5 == 3)); then
            k=alice v="gone-0-$i"
        elif ((i % 7 == 6)); then
            k=bob v="gone-0-$i"
        fi
        ((i == 10)) && k=-
        ((i == 11)) && k=
        ((i == 12)) && k=hex:00ff v="gone-0-$i"
        printf '0\t%s\t%s\t%s-%s\n' $((B + i)) "$k" "$v" "$(printf 'x%.0s' $(seq 1 40))"
    done
    for i in $(seq 0 59); do
        if ((i < 40)); then
            printf '1\t%s\talice\tgone-1-%s-%s\n' $((B + i)) "$i" "$(printf 'y%.0s' $(seq 1 40))"
        else
            printf '1\t%s\tc%s\tw1-%s\n' $((B + i)) "$i" "$i"
        fi
    done
} >"$WORK/spec"
produce_spec "$T" "$WORK/spec" --plain
grep -v 'gone-' "$WORK/spec" >"$WORK/spec-kept"
# what cat must print: partition, source offset, value of each kept record
awk -F'\t' '{o = n[$1]++} $4 !~ /^gone-/ {print $1, o, $4}' "$WORK/spec" | sort >"$WORK/want"
KEPT=$(wc -l <"$WORK/want")
ALL=$(wc -l <"$WORK/spec")
ERASED=$((ALL - KEPT))
# the list: CRLF and LF lines, an empty line, a binary key in base64 (00 ff),
# a key nobody has
printf 'alice\r\n\nbob\nbase64:AP8=\nnobody\n' >"$WORK/keys"
SUM=$(sha256sum "$WORK/keys" | cut -d' ' -f1)

# a consumer group committed on the source at partition 0 offset 4, after
# the erased alice at 3: a restore of the erased archive translates it to
# the target's offset 3, whose record is the source's 4 (u4)
G="erase-g-$RUN_ID"
kcli kafka-consumer-groups --bootstrap-server "$BS" --group "$G" --reset-offsets --topic "$T:0" \
    --to-offset 4 --execute >/dev/null 2>&1 || fail "could not set $G"
A="$WORK/archive"
"$KTAPE" dump -b "$BS" -a "$A" -t "$T" --segment-size 1K -q || fail "dump"
cp -a "$A" "$WORK/before"
before_files=$(find "$A/segments" -name '*.kts' | wc -l)
((before_files >= 6)) || fail "expected several segments a partition, got $before_files"

catted() { # archive -> sorted "partition offset value" lines
    "$KTAPE" cat -a "$1" -t "$T" --format '%p %o %s\n' | sort
}

# -- --dry-run: which segments, how many records a partition; nothing changes --------------
"$KTAPE" prune -a "$A" --erase-keys "$WORK/keys" --dry-run >"$WORK/dry.out" || fail "dry run"
n0=$(grep -c $'^0\t.*gone-' "$WORK/spec")
n1=$(grep -c $'^1\t.*gone-' "$WORK/spec")
grep -q "^dry run: would erase $ERASED records (sha256:$SUM) from " "$WORK/dry.out" ||
    fail "dry run total: $(cat "$WORK/dry.out")"
grep -q "^  $T gen 0 partition 0: $n0 records in [0-9]* segment(s)$" "$WORK/dry.out" || fail "dry p0: $(cat "$WORK/dry.out")"
grep -q "^  $T gen 0 partition 1: $n1 records in [0-9]* segment(s)$" "$WORK/dry.out" || fail "dry p1: $(cat "$WORK/dry.out")"
grep -q "would rewrite segments/$T/g0/p1/" "$WORK/dry.out" || fail "dry run names no segment"
diff -r -x "catalog.db-*" "$A" "$WORK/before" >"$WORK/drydiff" || fail "the dry run changed the archive: $(head -5 "$WORK/drydiff")"
pass "--dry-run counts $n0 + $n1 records per partition and names the segments, changing nothing"

# -- the erasure ----------------------------------------------------------------------------
"$KTAPE" prune -a "$A" --erase-keys "$WORK/keys" --json >"$WORK/erase.json" || fail "prune --erase-keys"
python3 - "$WORK/erase.json" "$ERASED" "sha256:$SUM" <<'PY' || fail "summary: $(cat "$WORK/erase.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["records_erased"] == int(sys.argv[2]) and r["erase_keys_sha256"] == sys.argv[3], r
assert r["run_id"] > 0 and r["segments_rewritten"] >= 3, r
assert any("new_path" not in f for f in r["files"]), r  # a segment of alice only: no file left
assert all(f.get("new_path", "~1.kts").endswith("~1.kts") for f in r["files"]), r
PY
catted "$A" >"$WORK/got"
diff "$WORK/want" "$WORK/got" >"$WORK/diff" || fail "cat after the erasure: $(head -20 "$WORK/diff")"
grep -q gone- "$WORK/got" && fail "an erased record is still there"
grep -qx 'format_version=4' "$A/ktape-archive" || fail "marker: $(cat "$A/ktape-archive")"
"$KTAPE" cat -a "$A" -t "$T" --format '%k\n' | grep -qx -e alice -e bob && fail "a listed key is still there"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
# the replaced files are gone: no plain name left where a rewrite is
for f in $(find "$A/segments" -name '*~1.kts'); do
    [[ -e ${f%~1.kts}.kts ]] && fail "the old file of $f is still there"
done
ls_keys=$(find "$A" -type f -print0 | xargs -0 grep -la "nobody" || true)
[[ -z $ls_keys ]] || fail "the erasure list was copied into the archive: $ls_keys"
pass "cat shows the $KEPT kept records once each at their source offsets, none of the $ERASED erased; verify passes"

"$KTAPE" ls -a "$A" --runs >"$WORK/runs.out"
grep -q "prune .*erase-keys sha256:$SUM (4 keys): $ERASED records erased from [0-9]* segments" "$WORK/runs.out" ||
    fail "ls --runs: $(cat "$WORK/runs.out")"
pass "ls --runs shows the run with the list's SHA-256 and the count erased"

cp -a "$A" "$WORK/reindexed"
"$KTAPE" reindex -a "$WORK/reindexed" >/dev/null 2>"$WORK/reindex.err" || fail "reindex: $(cat "$WORK/reindex.err")"
catted "$WORK/reindexed" | diff "$WORK/want" - >/dev/null || fail "cat after reindex differs"
"$KTAPE" verify -a "$WORK/reindexed" >/dev/null || fail "verify after reindex"
pass "reindex of the rewritten archive gives the same records; verify passes"

# a second list over the rewritten segments: FIRST-LAST~2
printf 'u1\n' >"$WORK/keys2"
cp -a "$A" "$WORK/twice"
"$KTAPE" prune -a "$WORK/twice" --erase-keys "$WORK/keys2" >/dev/null || fail "second erasure"
[[ -n $(find "$WORK/twice/segments" -name '*~2.kts') ]] || fail "no ~2 rewrite"
catted "$WORK/twice" | diff <(grep -v '^0 1 ' "$WORK/want") - >/dev/null || fail "cat after the second erasure"
"$KTAPE" reindex -a "$WORK/twice" >/dev/null 2>&1 || fail "reindex after the second erasure"
catted "$WORK/twice" | diff <(grep -v '^0 1 ' "$WORK/want") - >/dev/null || fail "reindex after the second erasure"
pass "a rewritten segment is rewritten again (~2), and reindex keeps the newest"

# -- restore: Kafka's console consumer reads exactly the kept records -------------------------
D="dst-$T"
OUT="$WORK/restore.json"
"$KTAPE" restore -b "$BS" -a "$A" -t "$T" --map "$T=$D" --create-topics --groups "^$G\$" --json >"$OUT" ||
    fail "restore"
consume_all "$D" "$WORK/dst.out" "$KEPT"
witness "$WORK/spec-kept" "$WORK/dst.out"
committed=$(kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null |
    awk -v t="$D" '$2==t && $3==0 {print $4}')
assert_eq 3 "$committed" "the group translated across the erased offset 3"
assert_eq "u4" "$(kcat -b "$BS" -C -t "$D" -p 0 -o 3 -c 1 -e -f '%k' 2>/dev/null)" "the target's record at 3"
pass "a restore of the erased archive: the console consumer reads exactly the $KEPT kept records; a group at source 4 lands on target 3 (u4)"

# -- a bad list: one line, exit 2, nothing changed -------------------------------------------
printf 'alice\nbase64:not*base64\n' >"$WORK/bad-keys"
assert_exit 2 "$KTAPE" prune -a "$A" --erase-keys "$WORK/bad-keys"
grep -q "bad-keys line 2: not valid base64" "$WORK/last.err" || fail "bad base64: $(cat "$WORK/last.err")"
assert_eq 1 "$(wc -l <"$WORK/last.err")" "one line"
assert_exit 2 "$KTAPE" prune -a "$A" --erase-keys "$WORK/no-such-file"
assert_exit 2 "$KTAPE" prune -a "$A" --erase-keys "$WORK/keys" --keep-days 3
pass "a bad or unreadable list, or another policy beside it, is a one-line error with exit 2"

# -- a kill at each step of the swap ------------------------------------------------------------
# The erasure rolls forward (SPEC 10.9): once a rewrite FIRST-LAST~N is under
# its name, both a reindex run before any writer and the next writer's
# recovery keep it and drop the older version, so the records it erased never
# come back. placed_ranges ARCHIVE POINT: "partition first last" of each range
# the crashed run had rewritten (a ~1 placed) or erased whole; erased_in
# ARCHIVE: the erased records that cat shows within them.
printf 'nobody\n' >"$WORK/keys-none" # a writer's open (recovery) that erases nothing
first_p1=$(cd "$WORK/before/segments/$T/g0/p1" && ls | head -n1)
placed_ranges() {
    local f b
    (cd "$1" && find segments -name '*~1.kts' | sort) >"$WORK/placed"
    while read -r f; do
        b=${f##*/}
        echo "$(basename "$(dirname "$f")" | tr -d p) $((10#${b%%-*})) $((10#$(echo "$b" | sed 's/^[0-9]*-\([0-9]*\)~.*/\1/')))"
    done <"$WORK/placed" >"$WORK/ranges"
    # a kill at erase-noted or erase-whole: the first segment of partition 1
    # was noted as erased whole
    [[ $2 != erase-noted && $2 != erase-whole ]] ||
        echo "1 $((10#${first_p1%%-*})) $((10#$(echo "$first_p1" | sed 's/^[0-9]*-\([0-9]*\)\.kts/\1/')))" >>"$WORK/ranges"
}
erased_in() {
    catted "$1" | awk 'NR == FNR {p[NR] = $1; f[NR] = $2; l[NR] = $3; n = NR; next}
        $3 ~ /^gone-/ {for (i = 1; i <= n; i++) if ($1 == p[i] && $2 >= f[i] && $2 <= l[i]) print}' "$WORK/ranges" -
}
# no record twice, every kept record there, none of the erased ranges'
# records back, each rewrite placed still there without its old version,
# verify clean
check_crashed() { # archive point when
    catted "$1" >"$WORK/k.out"
    [[ -z $(cut -d' ' -f1,2 "$WORK/k.out" | uniq -d) ]] || fail "$2: a record twice $3"
    [[ -z $(comm -23 "$WORK/want" "$WORK/k.out") ]] || fail "$2: a kept record is missing $3"
    [[ -z $(erased_in "$1") ]] || fail "$2: an erased record is back $3: $(erased_in "$1" | head -3)"
    local f
    while read -r f; do
        [[ -e $1/$f ]] || fail "$2: the rewrite $f is gone $3"
        [[ -e $1/${f%~1.kts}.kts ]] && fail "$2: the old version of $f is still there $3"
    done <"$WORK/placed"
    "$KTAPE" verify -a "$1" >"$WORK/v.out" || fail "$2: verify $3: $(cat "$WORK/v.out")"
    return 0
}
for pt in compact-written compact-placed erase-listed compact-swapped compact-removing erase-noted erase-whole; do
    C="$WORK/crash-$pt"
    cp -a "$WORK/before" "$C"
    rc=0
    KTAPE_TEST_CRASH=$pt "$KTAPE" prune -a "$C" --erase-keys "$WORK/keys" >/dev/null 2>&1 || rc=$?
    assert_eq 137 "$rc" "killed at $pt"
    placed_ranges "$C" "$pt"
    [[ $pt == compact-written || -s $WORK/placed ]] || fail "$pt: no rewrite placed"
    # readers before any recovery: no record twice, every kept record there
    catted "$C" >"$WORK/c.out"
    [[ -z $(cut -d' ' -f1,2 "$WORK/c.out" | uniq -d) ]] || fail "$pt: a record twice"
    [[ -z $(comm -23 "$WORK/want" "$WORK/c.out") ]] || fail "$pt: a kept record is missing"
    # reindex of what the crash left, before any writer, then a writer's
    # recovery, then the erasure again
    cp -a "$C" "$C-r"
    "$KTAPE" reindex -a "$C-r" >/dev/null 2>&1 || fail "$pt: reindex"
    check_crashed "$C-r" "$pt" "after reindex"
    "$KTAPE" prune -a "$C-r" --erase-keys "$WORK/keys-none" >/dev/null || fail "$pt: a writer after reindex"
    check_crashed "$C-r" "$pt" "after reindex and a writer"
    "$KTAPE" prune -a "$C-r" --erase-keys "$WORK/keys" >/dev/null || fail "$pt: erasure after reindex"
    catted "$C-r" | diff "$WORK/want" - >/dev/null || fail "$pt: cat after reindex and a second erasure"
    "$KTAPE" verify -a "$C-r" >"$WORK/v.out" || fail "$pt: verify after reindex and a second erasure: $(cat "$WORK/v.out")"
    # the next writer's recovery on what the crash left, then the rest
    cp -a "$C" "$C-w"
    "$KTAPE" prune -a "$C-w" --erase-keys "$WORK/keys-none" >/dev/null || fail "$pt: the next writer"
    check_crashed "$C-w" "$pt" "after the next writer's recovery"
    "$KTAPE" reindex -a "$C-w" >/dev/null 2>&1 || fail "$pt: reindex after recovery"
    check_crashed "$C-w" "$pt" "after recovery and reindex"
    # the erasure again on what the crash left: its recovery, then the rest
    "$KTAPE" prune -a "$C" --erase-keys "$WORK/keys" >/dev/null || fail "$pt: second erasure"
    catted "$C" | diff "$WORK/want" - >/dev/null || fail "$pt: cat after the second erasure"
    "$KTAPE" verify -a "$C" >"$WORK/v.out" || fail "$pt: verify: $(cat "$WORK/v.out")"
    assert_eq "$(find "$A/segments" -name '*.kts' | wc -l)" "$(find "$C/segments" -name '*.kts' | wc -l)" \
        "$pt: segment files after recovery"
    "$KTAPE" reindex -a "$C" >/dev/null 2>&1 || fail "$pt: reindex at the end"
    catted "$C" | diff "$WORK/want" - >/dev/null || fail "$pt: cat after the final reindex"
    "$KTAPE" verify -a "$C" >"$WORK/v.out" || fail "$pt: verify after the final reindex: $(cat "$WORK/v.out")"
done
pass "a kill at each step (written, placed, listed, swapped, removing, a segment erased whole noted and unlisted): no record twice, none lost; after each kill from placed on, reindex before any writer and the next writer's recovery both keep the rewrite (no erased record back), verify clean; the next run and reindex end exact"

# -- an encrypted archive: its key is needed, and the rewrite is encrypted too ------------------
KEY="$WORK/archive.key"
(
    umask 077
    openssl rand -hex 32 >"$KEY"
)
E="$WORK/enc"
"$KTAPE" dump -b "$BS" -a "$E" -t "$T" --segment-size 1K --encrypt-key-file "$KEY" -q || fail "encrypted dump"
rc=0
"$KTAPE" prune -a "$E" --erase-keys "$WORK/keys" >/dev/null 2>"$WORK/enc.err" || rc=$?
[[ $rc != 0 ]] || fail "an encrypted archive was erased without its key"
grep -qi "key" "$WORK/enc.err" || fail "no key error: $(cat "$WORK/enc.err")"
"$KTAPE" prune -a "$E" --erase-keys "$WORK/keys" --encrypt-key-file "$KEY" >/dev/null || fail "erase with the key"
"$KTAPE" cat -a "$E" -t "$T" --encrypt-key-file "$KEY" --format '%p %o %s\n' | sort | diff "$WORK/want" - >/dev/null ||
    fail "encrypted: cat after the erasure"
rc=0
"$KTAPE" cat -a "$E" -t "$T" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "the rewritten segments read without the key"
grep -rqa "w1-4" "$E/segments" && fail "a value in the clear in the rewritten archive"
"$KTAPE" verify -a "$E" --encrypt-key-file "$KEY" >/dev/null || fail "encrypted verify"
pass "an encrypted archive: refused without its key (exit $rc), erased with it, the rewrite encrypted with it"

# -- in a bucket: the same records, the replaced objects removed after the publish ---------------
S="s3://ktape/it-erase-$RUN_ID"
"$KTAPE" dump -b "$BS" -a "$S" -t "$T" --segment-size 1K -q || fail "dump into the bucket"
"$KTAPE" prune -a "$S" --erase-keys "$WORK/keys" >/dev/null || fail "erasure in the bucket"
catted "$S" | diff "$WORK/want" - >/dev/null || fail "s3: cat after the erasure"
"$KTAPE" verify -a "$S" >"$WORK/s3v.out" || fail "s3: verify: $(cat "$WORK/s3v.out")"
# verify lists every object under segments/: an old one left would be "extra"
grep -q "OK: no problems found" "$WORK/s3v.out" || fail "s3: verify: $(cat "$WORK/s3v.out")"
"$KTAPE" reindex -a "$S" >/dev/null 2>&1 || fail "s3: reindex"
catted "$S" | diff "$WORK/want" - >/dev/null || fail "s3: cat after reindex"
pass "in a bucket: erased, verify finds no object left over, reindex gives the same records"

# -- a sharded archive (SPEC 10.8): each shard erased under its own lock ----------------------
W="$WORK/sharded"
"$KTAPE" dump -b "$BS" -a "$W" -t "$T" --segment-size 1K --worker-id w1 -q || fail "dump into shard w1"
[[ -n $(find "$W/shards/w1/segments" -name '*.kts') ]] || fail "no segment in shard w1"
"$KTAPE" prune -a "$W" --erase-keys "$WORK/keys" --dry-run >"$WORK/wdry.out" || fail "sharded dry run"
grep -q "^dry run: would erase $ERASED records" "$WORK/wdry.out" || fail "sharded dry run: $(cat "$WORK/wdry.out")"
"$KTAPE" prune -a "$W" --erase-keys "$WORK/keys" >"$WORK/w.out" || fail "sharded erasure"
grep -q "^shard w1:" "$WORK/w.out" || fail "sharded erasure: $(cat "$WORK/w.out")"
catted "$W" | diff "$WORK/want" - >/dev/null || fail "sharded: cat after the erasure"
"$KTAPE" verify -a "$W" >/dev/null || fail "sharded: verify"
pass "a sharded archive: the union's dry run counts every shard, each shard is erased, the union reads exact"
