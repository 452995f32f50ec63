#!/usr/bin/env bash
# The operations guide cannot rot (issue #16): every block of
# docs/OPERATIONS.md and README.md marked `sh runnable` is run, in order,
# against the real broker, with the guide's names replaced by the test's:
# bootstrap servers, the archive path, the metrics file, the topic
# user-activities (filled here), the replay window; the disaster-recovery
# cluster is a second, fresh broker. Each block must exit 0.
source "$(dirname "$0")/lib.sh"

topic="user-activities-$RUN_ID"
create_topic "$topic" 3
seq 0 2999 | awk '{printf "user%d:{\"userId\":\"user%d\",\"action\":\"view\",\"n\":%d}\n", $1 % 40, $1 % 40, $1}' |
    kcat -P -b "$BS" -t "$topic" -K:
# a consumer group, so that restore --groups has something to put back
kcli kafka-consumer-groups --bootstrap-server "$BS" --group "docs-$RUN_ID" --topic "$topic" \
    --reset-offsets --to-offset 500 --execute >/dev/null

export KTAPE_KAFKA_HOME_B="$WORK/broker-dr"
stop_b() { KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap stop_b EXIT
BS_DR=$(KTAPE_KAFKA_HOME="$KTAPE_KAFKA_HOME_B" "$KL" start | tail -n1) || fail "could not start the DR broker"

mkdir -p "$WORK/bin" "$WORK/textfile"
ln -s "$KTAPE" "$WORK/bin/ktape"
export PATH="$WORK/bin:$PATH"
now=$(date +%s%3N)
python3 - "$WORK" "$KTAPE_SRC/docs/OPERATIONS.md" "$KTAPE_SRC/README.md" <<PY || fail "could not extract the runnable blocks"
import re, sys
work, docs = sys.argv[1], sys.argv[2:]
subs = [
    ("kafka1:9092,kafka2:9092", "$BS"), ("dr-kafka:9092", "$BS_DR"), ("test-kafka:9092", "$BS"),
    ("kafka:9092", "$BS"), ("/backup/kafka", "$WORK/backup"), ("s3://backups/kafka/prod", "s3://ktape/it-docs-$now"),
    ("/var/lib/node_exporter/textfile/", "$WORK/textfile/"), (" -F /etc/ktape/client.properties", ""),
    ("user-activities", "$topic"),
    ("2026-11-23T10:00:00Z", "@$((now - 3600000))"), ("2026-11-23T11:00:00Z", "@$((now + 3600000))"),
]
n = 0
for doc in docs:
    text = open(doc).read()
    for m in re.finditer(r"^\`\`\`sh runnable\n(.*?)^\`\`\`$", text, re.S | re.M):
        block = m.group(1)
        for a, b in subs:
            block = block.replace(a, b)
        line = text[:m.start()].count("\n") + 1
        with open(f"{work}/block-{n:02d}.sh", "w") as f:
            f.write(f"# {doc}:{line}\n" + block)
        n += 1
print(n)
PY
blocks=("$WORK"/block-*.sh)
((${#blocks[@]} >= 4)) || fail "expected the guide's runnable blocks, found ${#blocks[@]}"
for b in "${blocks[@]}"; do
    where=$(head -n1 "$b" | sed 's/^# //')
    BS=$BS BS_DR=$BS_DR WORK=$WORK topic=$topic now=$now bash -euo pipefail "$b" >"$WORK/out" 2>&1 ||
        fail "the runnable block at ${where#"$KTAPE_SRC/"} failed: $(tail -n 5 "$WORK/out")"
done
# what the blocks did, seen independently
got=$(kcli kafka-console-consumer --bootstrap-server "$BS_DR" --topic "$topic" --from-beginning \
    --max-messages 3000 --timeout-ms 15000 2>/dev/null | wc -l)
((got == 3000)) || fail "the DR cluster holds $got of 3000 records after the guide's runbook"
kcli kafka-consumer-groups --bootstrap-server "$BS_DR" --describe --group "docs-$RUN_ID" 2>/dev/null |
    grep -q "$topic" || fail "the runbook did not put the consumer group back on the DR cluster"
pass "${#blocks[@]} runnable blocks of the guide ran against the broker"
