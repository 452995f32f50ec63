#!/usr/bin/env bash
# The man pages render without a warning, and every command's --help (from
# which its man page is made, so the two are one text) documents exactly
# the options its getopt table accepts, both ways.
set -euo pipefail
KTAPE=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmds=$("$KTAPE" --help | awk '/^Commands:/ {on=1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' |
    grep -vx 'help\|version')
[[ -n $cmds ]] || { echo "no commands in ktape --help"; exit 1; }
pages=("$SRC/docs/ktape.1" "$SRC/docs/ktape-archive.5")
for c in $cmds; do
    "$KTAPE" help --man "$c" >"$work/ktape-$c.1"
    pages+=("$work/ktape-$c.1")
    "$KTAPE" help "$c" >"$work/$c.help"
done
for p in "${pages[@]}"; do
    out=$(groff -man -ww -z "$p" 2>&1) || { echo "groff failed on $p: $out"; exit 1; }
    [[ -z $out ]] || { echo "groff warns on $(basename "$p"): $out"; exit 1; }
done
python3 - "$SRC" "$work" $cmds <<'PY'
import os, re, sys
src, work, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
# the file that holds each command's getopt table; compare shares restore's
table_file = {"dump": "cmd_dump.c", "restore": "cmd_restore.c", "compare": "cmd_restore.c", "ls": "cmd_ls.c",
              "cat": "cmd_cat.c", "verify": "cmd_verify.c", "prune": "cmd_prune.c", "reindex": "cmd_reindex.c",
              "import": "cmd_import.c", "groups": "cmd_groups.c"}
bad = []
for c in cmds:
    if c not in table_file:
        bad.append(f"{c}: no known getopt table (add it to tests/man_pages.sh)")
        continue
    code = open(os.path.join(src, "src", "cli", table_file[c])).read()
    m = re.search(r"static const struct option \w+\[\] = \{(.*?)\n\};", code, re.S)
    accepted = set(re.findall(r'\{"([a-z][a-z0-9-]*)",', m.group(1)))
    # option sets shared through macros: the range options of dump and
    # restore, the S3 options of every command with -a
    util = open(os.path.join(src, "src", "cli", "kt_cli_util.h")).read()
    for name in re.findall(r"\b(KT_CLI_[A-Z0-9]+_OPTIONS)\b", m.group(1)):
        macro = re.search(r"#define " + name + r"(.*?)\n\n", util, re.S).group(1)
        accepted |= set(re.findall(r'\{"([a-z][a-z0-9-]*)",', macro))
    documented = set()
    on = False
    for line in open(os.path.join(work, c + ".help")):
        if line.rstrip() == "Options:":
            on = True
            continue
        if on and not line.strip():
            on = False
        if on and re.match(r"^ {2,6}-", line):
            term = re.split(r"\s{2,}", line.strip())[0]
            documented |= set(re.findall(r"--([a-z][a-z0-9-]*)", term))
    if c == "restore":  # the shared table's compare options, which restore refuses
        accepted -= {"ignore-timestamps", "max-report"}
    if c == "compare":  # its table is restore's: what it documents must be accepted
        missing = documented - accepted
        if missing:
            bad.append(f"compare documents options its parser lacks: {sorted(missing)}")
        continue
    if accepted - documented:
        bad.append(f"{c} accepts options its --help and man page do not document: {sorted(accepted - documented)}")
    if documented - accepted:
        bad.append(f"{c} documents options it does not accept: {sorted(documented - accepted)}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
# the shared table of restore and compare: each refuses the other's options
"$KTAPE" restore --ignore-timestamps >/dev/null 2>&1 && { echo "restore accepts --ignore-timestamps"; exit 1; }
"$KTAPE" compare --create-topics >/dev/null 2>&1 && { echo "compare accepts --create-topics"; exit 1; }
echo "$(wc -w <<<"$cmds") command man pages and 2 static pages render cleanly; help and getopt tables agree"
