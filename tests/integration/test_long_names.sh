#!/usr/bin/env bash
# Every legal topic name fits the archive (issue #13): Kafka allows 249
# characters, a file name has 255 bytes. Two 249-character topics that share
# their first 248 characters, beside a short one, are dumped in one run,
# listed, verified, reindexed and restored, record for record.
source "$(dirname "$0")/lib.sh"

stem=$(printf 'l%.0s' $(seq 1 240))
long1="${stem}${RUN_ID:0:8}a"
long2="${stem}${RUN_ID:0:8}b"
long1=${long1:0:248}a
long2=${long2:0:248}b
((${#long1} == 249 && ${#long2} == 249)) || fail "test names are ${#long1} and ${#long2} characters"
short="it-names-$RUN_ID"
create_topic "$long1" 2
create_topic "$long2" 1
create_topic "$short" 1
seq 0 299 | kcat -P -b "$BS" -t "$long1" -K: -k k
seq 0 199 | kcat -P -b "$BS" -t "$long2"
seq 0 99 | kcat -P -b "$BS" -t "$short"
A="$WORK/arch"
"$KTAPE" dump -b "$BS" -a "$A" -t "$long1" -t "$long2" -t "$short" -q || fail "dump of the long names exited $?"
n1=$("$KTAPE" cat -a "$A" -t "$long1" -f '%s\n' | wc -l)
n2=$("$KTAPE" cat -a "$A" -t "$long2" -f '%s\n' | wc -l)
n3=$("$KTAPE" cat -a "$A" -t "$short" -f '%s\n' | wc -l)
[[ "$n1 $n2 $n3" == "300 200 100" ]] || fail "archived $n1, $n2, $n3 records, expected 300, 200, 100"
"$KTAPE" ls -a "$A" -t "$long1" -t "$long2" >/dev/null || fail "ls of the long names"
"$KTAPE" verify -a "$A" >/dev/null || fail "verify"
dirs=$(find "$A/segments" -mindepth 1 -maxdepth 1 -type d | wc -l)
((dirs == 3)) || fail "expected one directory per topic, found $dirs"
"$KTAPE" reindex -a "$A" >/dev/null || fail "reindex exited $?"
n1=$("$KTAPE" cat -a "$A" -t "$long1" -f '%s\n' | wc -l)
((n1 == 300)) || fail "after reindex, $n1 records of the first long topic"
"$KTAPE" restore -b "$BS" -a "$A" -t "$long2" --map "$long2=$short.copy" --create-topics -q || fail "restore"
consume_all "$short.copy" "$WORK/copy.txt" 200
(($(wc -l <"$WORK/copy.txt") == 200)) || fail "the restored copy holds $(wc -l <"$WORK/copy.txt") records"
pass "249-character topic names are archived, reindexed and restored"
