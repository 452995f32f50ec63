#!/usr/bin/env bash
# ktape ls against archives dumped from the real broker: archived ranges, a
# gap (a dump that skipped offsets), a range lost to retention (the log
# start moved past what was archived before the next dump), --json that
# parses and says the same, --runs, and the --html report rendered in
# headless Chromium.
source "$(dirname "$0")/lib.sh"

A="$WORK/arch"
tg="it-ls-gap-$RUN_ID"
tl="it-ls-lost-$RUN_ID"
create_topic "$tg" 1
create_topic "$tl" 1

# -- a gap: offsets 100..149 are never dumped
seq 0 299 | kcat -P -b "$BS" -t "$tg"
"$KTAPE" dump -b "$BS" -a "$A" -t "$tg" --to-offset 100 -q || fail "dump 1 of $tg"
"$KTAPE" dump -b "$BS" -a "$A" -t "$tg" --from-offset 150 --to-offset 200 -q || fail "dump 2 of $tg"
"$KTAPE" dump -b "$BS" -a "$A" -t "$tg" -q || fail "dump 3 of $tg"

# -- a loss: 0..99 archived, then the log start moves to 150 before the
# next dump. Retention does that on its own schedule (the broker checks
# every 5 minutes); deleting records moves the log start the same way, now.
seq 0 99 | kcat -P -b "$BS" -t "$tl"
"$KTAPE" dump -b "$BS" -a "$A" -t "$tl" -q || fail "dump 1 of $tl"
seq 100 199 | kcat -P -b "$BS" -t "$tl"
echo "{\"partitions\":[{\"topic\":\"$tl\",\"partition\":0,\"offset\":150}],\"version\":1}" >"$WORK/del.json"
kcli kafka-delete-records --bootstrap-server "$BS" --offset-json-file "$WORK/del.json" >/dev/null
seq 200 249 | kcat -P -b "$BS" -t "$tl"
assert_exit 4 "$KTAPE" dump -b "$BS" -a "$A" -t "$tl" -q

# -- the table
"$KTAPE" ls -a "$A" >"$WORK/ls.out" || fail "ls exited $?"
row() { # topic kind offsets count -> the row must be there
    grep -Eq "^$1 +0 +0 +$2 +$3 +$4( |\$)" "$WORK/ls.out" || fail "ls has no '$2 $3' row for $1: $(cat "$WORK/ls.out")"
}
row "$tg" range 0..99 100
row "$tg" gap 100..149 50
row "$tg" range 150..299 150
row "$tl" range 0..99 100
row "$tl" lost 100..149 50
row "$tl" range 150..249 100
grep -Eq "^$tl +0 +0 +gap" "$WORK/ls.out" && fail "the lost range of $tl is also shown as a gap"
grep -q "WARNING: 1 gap(s) (50 offsets no dump read), 1 range(s) lost to retention (50 offsets)" "$WORK/ls.out" ||
    fail "no warning line: $(cat "$WORK/ls.out")"
grep -q "2 topic(s), 2 partition(s), 5 segment(s), 450 records" "$WORK/ls.out" || fail "header: $(head -1 "$WORK/ls.out")"
pass "table shows ranges, the gap and the lost range"

# -t narrows; a missing topic names the archived ones
"$KTAPE" ls -a "$A" -t "$tl" >"$WORK/ls1.out"
grep -q "$tg" "$WORK/ls1.out" && fail "ls -t $tl lists $tg"
assert_exit 7 "$KTAPE" ls -a "$A" -t "no-such-topic-$RUN_ID"
grep -q "no-such-topic-$RUN_ID" "$WORK/last.err" && grep -q "$tg, $tl" "$WORK/last.err" ||
    fail "missing-topic message: $(cat "$WORK/last.err")"
assert_exit 7 "$KTAPE" ls -a "$WORK"
assert_exit 2 "$KTAPE" ls -a "$A" --bogus
assert_exit 2 "$KTAPE" ls
"$KTAPE" ls --help | grep -q "Examples:" || fail "ls --help has no examples"
pass "topic filter, not found, usage errors"

# -- runs
"$KTAPE" ls -a "$A" --runs >"$WORK/runs.out"
grep -Eq "^ +5 +dump +[0-9T:.Z-]+ +[0-9.]+s +data_lost +100 " "$WORK/runs.out" || fail "runs: $(cat "$WORK/runs.out")"
[[ $(grep -Ec "^ +[0-9]+ +dump " "$WORK/runs.out") == 5 ]] || fail "expected 5 dump runs: $(cat "$WORK/runs.out")"
pass "--runs lists the runs"

# -- JSON: parses, and says the same as the table
"$KTAPE" ls -a "$A" --json >"$WORK/ls.json"
python3 -m json.tool "$WORK/ls.json" >/dev/null || fail "ls --json does not parse"
python3 - "$WORK/ls.json" "$tg" "$tl" <<'EOF' || fail "ls --json content"
import json, sys
d = json.load(open(sys.argv[1]))
t = {x["topic"]: x for x in d["topics"]}
g = t[sys.argv[2]]["partitions"][0]
l = t[sys.argv[3]]["partitions"][0]
def r(spans, keys=("first_offset", "last_offset")):
    return [tuple(s[k] for k in keys) for s in spans]
assert r(g["ranges"]) == [(0, 99), (150, 299)], g["ranges"]
assert r(g["gaps"], ("first_offset", "last_offset", "offsets")) == [(100, 149, 50)], g["gaps"]
assert g["lost"] == [] and l["gaps"] == [], (g, l)
assert r(l["lost"], ("first_offset", "last_offset", "offsets")) == [(100, 149, 50)], l["lost"]
assert l["end_offset"] == 250 and g["end_offset"] == 300
assert d["totals"]["records"] == 450 and d["totals"]["gaps"] == 1 and d["totals"]["lost_offsets"] == 50
assert all(x["min_time"].endswith("Z") for x in g["ranges"])
assert len(d["runs"]) == 5 and d["runs"][4]["status"] == "data_lost"
assert t[sys.argv[2]]["cluster_partitions"] == 1
EOF
pass "--json parses and matches"

# -- HTML, rendered by a real browser
if ! command -v chromium >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >"$WORK/apt.log" 2>&1 || true
    fi
fi
command -v chromium >/dev/null ||
    fail "chromium is not installed and could not be installed (apt-get install -y chromium): cannot check the --html report"
"$KTAPE" ls -a "$A" --html "$WORK/report.html" >/dev/null || fail "ls --html"
grep -Eq 'src=|href=|url\((http|//)' "$WORK/report.html" && fail "the report refers to external resources"
chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d "$WORK/chr-XXXX")" "$@" \
        2>>"$WORK/chromium.log"
}
chrome --dump-dom "file://$WORK/report.html" >"$WORK/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$WORK/chromium.log")"
has() { # attribute string that the rendered DOM must contain
    grep -q -- "$1" "$WORK/dom.html" || fail "rendered report lacks $1"
}
has "data-kind=\"gap\" data-topic=\"$tg\" data-generation=\"0\" data-partition=\"0\" data-first=\"100\" data-last=\"149\""
has "data-kind=\"lost\" data-topic=\"$tl\" data-generation=\"0\" data-partition=\"0\" data-first=\"100\" data-last=\"149\""
has "data-kind=\"range\" data-topic=\"$tg\" data-generation=\"0\" data-partition=\"0\" data-first=\"150\" data-last=\"299\""
has "data-kind=\"range\" data-topic=\"$tl\" data-generation=\"0\" data-partition=\"0\" data-first=\"0\" data-last=\"99\""
[[ $(grep -o 'class="span range"' "$WORK/dom.html" | wc -l) == 4 ]] || fail "expected 4 range elements"
[[ $(grep -o '<tr class="[a-z_]*" data-run=' "$WORK/dom.html" | wc -l) == 5 ]] || fail "expected 5 runs in the table"
chrome --window-size=1200,900 --screenshot="$WORK/report.png" "file://$WORK/report.html" >/dev/null ||
    fail "chromium --screenshot failed: $(tail -5 "$WORK/chromium.log")"
[[ -s $WORK/report.png ]] && [[ $(head -c 8 "$WORK/report.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
    fail "no PNG screenshot"
pass "--html renders in headless Chromium with the spans and runs"
