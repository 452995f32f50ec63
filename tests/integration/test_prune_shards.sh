#!/usr/bin/env bash
# prune on a sharded archive (issue #20, format/SPEC.md 10.8), against the
# real broker, into a directory: dumps by shard w1 (3 runs), shard w2 (2
# runs) and the root (1 run, the newest) of one topic. The policy applies
# to the union: --keep-runs 2 keeps what the 2 newest runs of the union
# wrote (the root's and w2's second), whichever shard wrote them, and the
# dry run says exactly what the prune then removes, shard by shard; the
# union then reads the kept records once, verify and reindex agree, the
# next dump of a shard continues where the union ends; --before removes
# everything but the union's newest segment of each partition, even a
# shard's last one.
source "$(dirname "$0")/lib.sh"

t="it-prune-shards-$RUN_ID"
A="$WORK/archive"
create_topic "$t" 2
produced=0
produce() { # count
    seq $((produced + 1)) $((produced + $1)) | awk '{printf "k%d\tv%d\n", $1 % 7, $1}' |
        kcat -P -b "$BS" -t "$t" -K '\t' || fail "kcat could not produce"
    produced=$((produced + $1))
}
dump() { # [--worker-id ID]
    produce 100
    "$KTAPE" dump -b "$BS" -a "$A" -t "$t" "$@" -q || fail "dump $*"
}
values() { # archive: the values, sorted
    "$KTAPE" cat -a "$1" -t "$t" -f '%s\n' | sed 's/^v//' | sort -n
}
json() { # file expr
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

for _ in 1 2 3; do dump --worker-id w1; done
for _ in 1 2; do dump --worker-id w2; done
dump
seq 1 600 | cmp -s - <(values "$A") || fail "the union does not hold 1..600 once before the prune"

# the dry run reads the union: runs 1-4 of the union's 6 go (400 records)
"$KTAPE" prune -a "$A" --keep-runs 2 --dry-run --json >"$WORK/dry.json" || fail "prune --dry-run"
assert_eq 400 "$(json "$WORK/dry.json" 'j["records"]')" "records the dry run would remove"
json "$WORK/dry.json" '"\n".join(sorted(f["path"] for f in j["files"]))' >"$WORK/dry.paths"
grep -q '^shards/w1/' "$WORK/dry.paths" && grep -q '^shards/w2/' "$WORK/dry.paths" ||
    fail "the dry run does not name w1's and w2's segments: $(cat "$WORK/dry.paths")"
find "$A" -name '*.kts' | sed "s|^$A/||" | sort >"$WORK/before.files"

"$KTAPE" prune -a "$A" --keep-runs 2 --json >"$WORK/prune.json" || fail "prune --keep-runs 2"
# one JSON line per archive the plan touches: the root, w1, w2
python3 - "$WORK/prune.json" <<'PY' >"$WORK/prune.sum" || fail "prune --json: $(cat "$WORK/prune.json")"
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(len(runs), sum(r["records"] for r in runs), sum(r["segments_removed"] for r in runs))
PY
read -r nruns removed nsegs <"$WORK/prune.sum"
assert_eq 3 "$nruns" "archives the prune ran in (root, w1, w2)"
assert_eq 400 "$removed" "records removed (the dry run's figure)"
find "$A" -name '*.kts' | sed "s|^$A/||" | sort >"$WORK/after.files"
comm -23 "$WORK/before.files" "$WORK/after.files" >"$WORK/removed.files"
cmp -s "$WORK/dry.paths" "$WORK/removed.files" || fail "the prune removed other files than the dry run named"
assert_eq "$nsegs" "$(wc -l <"$WORK/removed.files")" "segment files removed"
seq 401 600 | cmp -s - <(values "$A") || fail "the union does not hold 401..600 once after the prune"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify after the prune: $(tail -n 5 "$WORK/verify.out")"
"$KTAPE" ls -a "$A" --runs >"$WORK/ls.out"
grep -qE '^ *[0-9]+ +prune .* ok ' "$WORK/ls.out" || fail "ls --runs shows no prune run: $(cat "$WORK/ls.out")"
# reindex brings no pruned file back
"$KTAPE" reindex -a "$A" >/dev/null || fail "reindex after the prune"
seq 401 600 | cmp -s - <(values "$A") || fail "the union does not hold 401..600 once after reindex"
# the next dump of the emptied shard w1 continues where the union ends
dump --worker-id w1
seq 401 700 | cmp -s - <(values "$A") || fail "the union does not hold 401..700 once after w1's next dump"
pass "--keep-runs 2 on root and shards: the union's 2 newest runs kept, the dry run's plan carried out shard by shard, verify and reindex agree"

# a running writer of a shard the plan touches: exit 3, nothing removed
# (every lock is taken before any file goes)
before=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
"$KTAPE" dump -b "$BS" -a "$A" -t "$t" --worker-id w2 --follow --commit-interval 1s -q 2>"$WORK/f.err" &
fpid=$!
for _ in $(seq 50); do
    [[ -s $A/shards/w2/lock ]] && fuser "$A/shards/w2/lock" >/dev/null 2>&1 && break
    sleep 0.2
done
sleep 2
find "$A" -name '*.kts' | sort >"$WORK/held.before"
assert_exit 3 "$KTAPE" prune -a "$A" --before "$before"
kill -TERM "$fpid"
wait "$fpid" || fail "the follower of w2 did not end ok: $(tail -n 3 "$WORK/f.err")"
find "$A" -name '*.kts' | sort | cmp -s "$WORK/held.before" - || fail "a prune refused for a lock removed files"
grep -q 'w2' "$WORK/last.err" || fail "the refusal does not name shard w2: $(cat "$WORK/last.err")"

# --before a time after every record: only the union's newest segment of
# each partition stays (w1's, written last); the root's and w2's go
"$KTAPE" prune -a "$A" --before "$before" >"$WORK/before.out" || fail "prune --before"
# the root and w2 lose their last segments, w1 keeps its only ones
grep -q '^shard w2:' "$WORK/before.out" || fail "prune --before did not prune w2: $(cat "$WORK/before.out")"
grep -q '^shard w1:' "$WORK/before.out" && fail "prune --before pruned w1, which holds the union's newest segments"
left=$(find "$A" -name '*.kts' | grep -v "/shards/w1/" || true)
[[ -z $left ]] || fail "segments left outside shard w1: $left"
seq 601 700 | cmp -s - <(values "$A") || fail "the union does not hold w1's last run's 601..700 after --before"
"$KTAPE" verify -a "$A" >"$WORK/verify2.out" 2>&1 || fail "verify after --before: $(tail -n 5 "$WORK/verify2.out")"
pass "--before: only the union's newest segment of each partition stays, wherever it is"
