#!/usr/bin/env bash
# dump --follow with compaction (issue #15: small commits must not explode
# the file count), against the real broker: a follower committing every
# 200 ms under a steady producer for 30 s. Its partitions' files and catalog
# rows stay within a bound computed from the data (segment size, fanout,
# age windows), not from the ~150 commits each partition sees; readers (cat,
# verify, ls, restore) run while segments are merged under them and never
# fail or see a record twice; at the end every record is there exactly
# once, verify passes, no file is left that the catalog does not list, and
# reindex rebuilds the same; an encrypted follower merges into segments
# encrypted with its key.
source "$(dirname "$0")/lib.sh"

t="it-follow-compact-$RUN_ID"
A="$WORK/arch"
P=2
create_topic "$t" $P
SEG=$((1024 * 1024)) # --segment-size
FANOUT=4
AGE=10   # --segment-age, seconds
BLOCK=65536
SECONDS_PRODUCING=30

"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --follow --commit-interval 200ms --segment-size $SEG \
    --block-size $BLOCK --compact-fanout $FANOUT --segment-age ${AGE}s --json >"$WORK/follower.json" \
    2>"$WORK/follower.err" &
fpid=$!

# an encrypted archive, at the same time (its own topic and archive):
# merged segments are encrypted with the same key; checked at the end
E="$WORK/enc"
te="$t-enc"
create_topic "$te" 1
openssl rand -hex 32 >"$WORK/k.key"
chmod 600 "$WORK/k.key"
"$KTAPE" dump -b "$BS" -a "$E" -t "$te" --follow --commit-interval 200ms --compact-fanout 4 \
    --encrypt-key-file "$WORK/k.key" --json >"$WORK/enc.json" 2>"$WORK/enc.err" &
epid=$!
# shellcheck disable=SC2064
trap "kill -9 $fpid $epid 2>/dev/null || true; rm -rf '$WORK'" EXIT
for ((i = 0; i < 60; i++)); do
    seq $((i * 10 + 1)) $((i * 10 + 10)) | awk '{printf "k%d\tsecret-v%d\n", $1 % 7, $1}'
    sleep 0.1
done | kcat -P -b "$BS" -t "$te" -K '\t' -X linger.ms=5 &
eppid=$!

# a steady producer: 50 records of ~200 bytes every 0.1 s, values v1..vN
pad=$(printf '%0180d' 0)
ticks=$((SECONDS_PRODUCING * 10))
(
    for ((i = 0; i < ticks; i++)); do
        seq $((i * 50 + 1)) $((i * 50 + 50)) | awk -v pad="$pad" '{printf "k%d\tv%d %s\n", $1 % 17, $1, pad}'
        sleep 0.1
    done
) | kcat -P -b "$BS" -t "$t" -K '\t' -X linger.ms=5 &
ppid=$!
produced=$((ticks * 50))

files() { find "$A/segments" -name '*.kts' 2>/dev/null | wc -l; }
# readers while the follower commits and merges: each must succeed and see
# every record at most once (a merge swaps files under them)
most_files=0
reads=0
verifies=0
C="$t-copy"
create_topic "$C" $P
restored=-1
# the readers start once the follower's first commit is there (create_topic
# no longer takes a JVM start's seconds to give it that time)
for _ in $(seq 100); do
    (($(sql "$A" "select count(*) from segments" 2>/dev/null || echo 0) > 0)) && break
    sleep 0.1
done
while kill -0 "$ppid" 2>/dev/null; do
    "$KTAPE" cat -a "$A" -t "$t" -f '%p %o\n' >"$WORK/cat.out" 2>"$WORK/cat.err" ||
        fail "cat while following: $(head -3 "$WORK/cat.err")"
    dups=$(sort "$WORK/cat.out" | uniq -d | wc -l)
    ((dups == 0)) || fail "cat while following printed $dups records twice"
    reads=$((reads + 1))
    if ((reads % 4 == 0)); then
        "$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify while following: $(tail -5 "$WORK/verify.out")"
        verifies=$((verifies + 1))
        "$KTAPE" ls -a "$A" >/dev/null 2>"$WORK/ls.err" || fail "ls while following: $(cat "$WORK/ls.err")"
    fi
    if ((reads == 10)); then
        # a restore of what is archived now, throttled so that merges happen under it
        "$KTAPE" restore -b "$BS" -a "$A" -t "$t" --map "$t=$C" --rate-msgs 2000 --json >"$WORK/restore.json" \
            2>"$WORK/restore.err" || fail "restore while following: $(tail -3 "$WORK/restore.err")"
        restored=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$WORK/restore.json")
    fi
    f=$(files)
    ((f > most_files)) && most_files=$f
    # every segment the catalog listed at some point: the commits and merges
    sql "$A" "select path from segments" >>"$WORK/seen" 2>/dev/null || true
    sleep 0.3
done
wait "$ppid" || fail "the producer failed"
((reads >= 10)) || fail "only $reads reads ran while producing"
((restored > 0)) || fail "no restore ran while following"
hw=0
for ((p = 0; p < P; p++)); do
    hw=$((hw + $(kcat -b "$BS" -Q -t "$C:$p:-1" 2>/dev/null | awk '{print $NF}')))
done
assert_eq "$restored" "$hw" "records in $C after a restore that ran while the follower merged"

# everything produced is committed within a few intervals; then SIGTERM
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
    n=$(sql "$A" "select coalesce(sum(records), 0) from segments")
    ((n == produced)) && break
    sleep 0.5
done
kill -TERM "$fpid"
rc=0
wait "$fpid" || rc=$?
[[ $rc == 0 ]] || fail "the follower exited $rc on SIGTERM: $(tail -n 3 "$WORK/follower.err")"
if grep -q warning "$WORK/follower.err"; then fail "the follower warned: $(grep warning "$WORK/follower.err" | head -3)"; fi
read -r merges merged < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["compactions"], j["compacted_segments"])' "$WORK/follower.json")
((merges >= 2 * P && merged >= 2 * merges)) || fail "the follower's summary counts $merges merges of $merged segments"

# every record exactly once
"$KTAPE" cat -a "$A" -t "$t" -f '%s\n' | awk '{print substr($1, 2)}' | sort -n >"$WORK/values"
assert_eq "$produced" "$(wc -l <"$WORK/values")" "records archived"
assert_eq "$produced" "$(uniq <"$WORK/values" | wc -l)" "distinct records archived"
assert_eq "$produced" "$(tail -n 1 "$WORK/values")" "the last record"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify: $(cat "$WORK/verify.out")"
assert_eq "$(sql "$A" "select count(*) from segments")" "$(files)" "segment files = catalog rows (no leftovers)"
assert_eq "" "$(sql "$A" "select r.run_id from runs r where r.kind = 'dump' and r.records != (select coalesce(sum(records), 0) from segments s where s.run_id = r.run_id)")" \
    "dump runs whose records differ from their segments"

# the bound, per partition, from its data: the age windows that are over
# hold at most 2 segments per segment size of their raw bytes plus 2 (the
# greedy merge leaves no two neighbours that fit one segment), the current
# window at most fanout per full segment's worth plus fanout - 1 per size
# class (2 classes for 1 MiB segments and a fanout of 4: below 256 KiB, and
# below 64 KiB); blocks at most one per block size of raw bytes plus one per
# segment. Without compaction each partition would hold one file per commit
# that brought records (about 150).
windows=$(((SECONDS_PRODUCING + 20) / AGE + 2))
for ((p = 0; p < P; p++)); do
    raw=$(sql "$A" "select sum(raw_bytes) from segments where topic='$t' and partition=$p")
    segs=$(sql "$A" "select count(*) from segments where topic='$t' and partition=$p")
    blocks=$(sql "$A" "select count(*) from blocks where topic='$t' and partition=$p")
    commits=$(sort -u "$WORK/seen" | grep -c "^segments/$t/g0/p$p/" || true)
    bound=$((2 * (raw / SEG + 1) + 2 * windows + FANOUT * (raw / SEG + 1) + (FANOUT - 1) * 2))
    block_bound=$((raw / BLOCK + segs))
    echo "partition $p: $raw raw bytes in $segs segments ($blocks blocks); readers saw $commits segment files; bound $bound segments, $block_bound blocks"
    ((segs <= bound)) || fail "partition $p holds $segs segments, more than $bound for $raw raw bytes"
    ((blocks <= block_bound)) || fail "partition $p has $blocks block rows, more than $block_bound for $raw raw bytes"
    ((commits >= 40)) || fail "partition $p: readers saw only $commits segment files: too few commits to test"
done
((most_files <= 2 * P * 30)) || fail "up to $most_files files while following"

# reindex rebuilds the same: no hole where the merged parts were
cp -a "$A" "$WORK/copy"
"$KTAPE" reindex -a "$WORK/copy" >"$WORK/reindex.out" 2>&1 || fail "reindex: $(cat "$WORK/reindex.out")"
assert_eq 0 "$(sql "$WORK/copy" "select count(*) from missing_ranges")" "missing ranges after reindex"
assert_eq "$(sql "$A" "select count(*) from segments")" "$(sql "$WORK/copy" "select count(*) from segments")" "segments after reindex"
assert_eq "$produced" "$("$KTAPE" cat -a "$WORK/copy" -t "$t" -f '%s\n' | sort -u | wc -l)" "distinct records after reindex"
"$KTAPE" verify -a "$WORK/copy" >"$WORK/verify.out" 2>&1 || fail "verify after reindex: $(cat "$WORK/verify.out")"
# the follower's own merged parts make no rows either: catalog rows follow the data
assert_eq 0 "$(sql "$A" "select count(*) from pruned_segments")" "pruned_segments rows of a follower's own merges"

# the encrypted archive (started at the beginning, beside the first)
wait "$eppid" || fail "the producer of $te failed"
deadline=$((SECONDS + 20))
while (($(sql "$E" "select coalesce(sum(records), 0) from segments") < 600 && SECONDS < deadline)); do sleep 0.3; done
kill -TERM "$epid"
wait "$epid" || fail "the encrypted follower failed: $(tail -3 "$WORK/enc.err")"
emerges=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["compactions"])' "$WORK/enc.json")
((emerges >= 1)) || fail "the encrypted follower merged nothing"
"$KTAPE" verify -a "$E" --encrypt-key-file "$WORK/k.key" >"$WORK/verify.out" 2>&1 || fail "verify with the key: $(cat "$WORK/verify.out")"
grep -q 'authenticated' "$WORK/verify.out" || fail "verify did not authenticate: $(tail -2 "$WORK/verify.out")"
assert_eq 600 "$("$KTAPE" cat -a "$E" -t "$te" --encrypt-key-file "$WORK/k.key" -f '%s\n' | sort -u | wc -l)" "distinct records of the encrypted archive"
assert_eq 0 "$(grep -rl 'secret-v' "$E/segments" | wc -l)" "segment files with a value in the clear"
assert_eq "format_version=2" "$(grep format_version "$E/ktape-archive")" "the merged archive's format version"

pass "follow with compaction: $produced records exactly once; $(sql "$A" "select count(*) from segments") segments and $(sql "$A" "select count(*) from blocks") blocks left of $(sort -u "$WORK/seen" | wc -l) that readers saw; $reads cats, $verifies verifies and a restore of $restored records ran during merges; an encrypted follower's $emerges merges encrypted with its key"
