#!/usr/bin/env bash
# dump --follow --worker-group with --topic-regex (issue #20), against the
# real broker, into a directory: while 2 workers run, a topic the regex
# picks is created, one it picks but --exclude-regex leaves out is created,
# and a followed topic gets 2 more partitions. The workers subscribe to the
# new topic and the group assigns its partitions and the new ones: every
# record of the followed topics is in the archive exactly once (ktape cat),
# no offset is in both shards, the excluded topic is neither archived nor
# in the group, the group's offsets are the ends, verify passes. A file
# its shard's catalog does not list is removed at the worker's next start,
# which says so (warning, --json, metrics).
source "$(dirname "$0")/lib.sh"

P="it-wt-$RUN_ID"
G="ktape-it-workers-topics-$RUN_ID"
A="$WORK/archive"
declare -A wpid
cleanup() {
    for p in "${wpid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

produce() { # topic from to [partition]
    seq "$2" "$3" | awk -v t="$1" '{printf "k%d\t%s-%d\n", $1 % 31, t, $1}' |
        kcat -P -b "$BS" -t "$1" -K '\t' ${4:+-p "$4"} || fail "producing to $1"
}
count() { # topic: records the archive holds
    "$KTAPE" cat -a "$A" -t "$1" -f '%s\n' 2>/dev/null | wc -l
}

create_topic "$P-a" 4
produce "$P-a" 1 200
for w in w1 w2; do
    "$KTAPE" dump -b "$BS" -a "$A" --topic-regex "^$P-" --exclude-regex "^$P-skip" --follow --worker-group "$G" \
        --worker-id "$w" --commit-interval 1s --metadata-interval 2s --compact-fanout 0 -q \
        --metrics-file "$WORK/$w-1.prom" 2>>"$WORK/$w.err" &
    wpid[$w]=$!
done
# both joined (their metrics, written at each commit, split a's 4
# partitions between them) and a's records archived
owners() { cat "$WORK"/w[12]-1.prom 2>/dev/null | awk -F'"' '/^ktape_dump_partition_owner/ {print $4}' | sort; }
for _ in $(seq 200); do
    [[ -s $WORK/w1-1.prom && -s $WORK/w2-1.prom && $(owners | paste -sd' ') == "0 1 2 3" ]] &&
        grep -q partition_owner "$WORK/w1-1.prom" && grep -q partition_owner "$WORK/w2-1.prom" &&
        (($(count "$P-a") >= 200)) && break
    sleep 0.3
done
assert_eq 200 "$(count "$P-a")" "records of $P-a archived before the new topics"

# while they run: a new topic, an excluded one, and 2 more partitions of a
create_topic "$P-b" 3
create_topic "$P-skip" 2
kcli kafka-topics --bootstrap-server "$BS" --alter --topic "$P-a" --partitions 6 >/dev/null
produce "$P-b" 1 300
produce "$P-skip" 1 50
produce "$P-a" 201 400
produce "$P-a" 401 450 4
produce "$P-a" 451 500 5
for _ in $(seq 300); do
    (($(count "$P-a") >= 500 && $(count "$P-b") >= 300)) && break
    sleep 0.3
done
assert_eq 300 "$(count "$P-b")" "records of the topic created while the workers ran ($(tail -n 2 "$WORK/w1.err"))"
assert_eq 500 "$(count "$P-a")" "records of $P-a after it got 2 more partitions"
produce "$P-b" 301 400
# archived (and committed) before the workers stop
for _ in $(seq 100); do
    (($(count "$P-b") >= 400)) && break
    sleep 0.3
done
for w in w1 w2; do
    kill -TERM "${wpid[$w]}"
    wait "${wpid[$w]}" || fail "$w did not end ok at SIGTERM: $(tail -n 3 "$WORK/$w.err")"
    unset "wpid[$w]"
done

for t in a b; do
    n=$([[ $t == a ]] && echo 500 || echo 400)
    "$KTAPE" cat -a "$A" -t "$P-$t" -f '%s\n' | sed "s/^$P-$t-//" | sort -n >"$WORK/$t.values"
    seq 1 "$n" | cmp -s - "$WORK/$t.values" || fail "cat of $P-$t does not give 1..$n exactly once"
    : >"$WORK/$t.offsets"
    for w in w1 w2; do
        "$KTAPE" cat -a "$A/shards/$w" -t "$P-$t" -f '%p %o\n' >>"$WORK/$t.offsets" 2>/dev/null || true
    done
    assert_eq "$n" "$(wc -l <"$WORK/$t.offsets")" "offsets of $P-$t in the shards together"
    assert_eq 0 "$(sort "$WORK/$t.offsets" | uniq -d | wc -l)" "offsets of $P-$t held by both shards"
done
assert_eq 6 "$(cut -d' ' -f1 "$WORK/a.offsets" | sort -u | wc -l)" "partitions of $P-a archived"
assert_eq 3 "$(cut -d' ' -f1 "$WORK/b.offsets" | sort -u | wc -l)" "partitions of $P-b archived"
assert_eq 0 "$(count "$P-skip")" "records of the excluded topic archived"
"$KTAPE" ls -a "$A" | grep -q -- "$P-skip" && fail "ls lists the excluded topic"
# the group: a's 6 and b's 3 partitions at their ends, nothing of skip
kcli kafka-consumer-groups --bootstrap-server "$BS" --describe --group "$G" 2>/dev/null |
    awk -v p="$P" '$2 ~ "^" p "-" {n[$2]++; lag += $6} END {print n[p "-a"] + 0, n[p "-b"] + 0, n[p "-skip"] + 0, lag + 0}' \
        >"$WORK/lag"
assert_eq "6 3 0 0" "$(cat "$WORK/lag")" "group partitions of a, b and skip, and their total lag"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify: $(tail -n 5 "$WORK/verify.out")"

# what a worker that died wrote after its last catalog commit: a file its
# shard's catalog does not list (here offsets 900000..900009 of a's
# partition 0). Its next start removes it and says so: a warning, the
# --json counts and the metrics (the group archives those records again)
seg=$(find "$A/shards/w1/segments" -name '*.kts' | head -n 1)
u="$A/shards/w1/segments/$P-a/g0/p0/00000000000000900000-00000000000000900009.kts"
mkdir -p "$(dirname "$u")"
cp "$seg" "$u"
"$KTAPE" dump -b "$BS" -a "$A" --topic-regex "^$P-" --exclude-regex "^$P-skip" --follow --worker-group "$G" \
    --worker-id w1 --commit-interval 1s --metadata-interval 2s --compact-fanout 0 --json -q \
    --metrics-file "$WORK/w1.prom" >"$WORK/w1.json" 2>"$WORK/w1b.err" &
wpid[w1]=$!
for _ in $(seq 50); do
    [[ -s $WORK/w1.prom ]] && break
    sleep 0.2
done
[[ -e $u ]] && fail "the unlisted file is still there after w1's start"
grep -q 'removed 1 segment file(s) no catalog listed (10 offset(s)' "$WORK/w1b.err" ||
    fail "no warning of the removed file: $(cat "$WORK/w1b.err")"
grep -qx 'ktape_dump_unlisted_removed_files 1' "$WORK/w1.prom" || fail "metrics: $(grep unlisted "$WORK/w1.prom")"
grep -qx 'ktape_dump_unlisted_removed_offsets 10' "$WORK/w1.prom" || fail "metrics: $(grep unlisted "$WORK/w1.prom")"
kill -TERM "${wpid[w1]}"
wait "${wpid[w1]}" || fail "w1 did not end ok at SIGTERM: $(tail -n 3 "$WORK/w1b.err")"
unset "wpid[w1]"
assert_eq "1 10" "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["unlisted_removed"], j["unlisted_offsets"])' "$WORK/w1.json")" \
    "dump --json's unlisted_removed and unlisted_offsets"
"$KTAPE" verify -a "$A" >"$WORK/verify.out" 2>&1 || fail "verify after w1's restart: $(tail -n 5 "$WORK/verify.out")"
pass "a topic created while 2 workers ran, and 2 new partitions: each record archived once, the excluded topic left out"
