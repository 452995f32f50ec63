#!/usr/bin/env bash
# Every command in ktape's table has help, a man page entry, and every man
# page command exists: the table, `ktape help` and docs/ktape.1 agree.
set -euo pipefail
KTAPE=$1
MAN=$2
cmds=$("$KTAPE" --help | awk '/^Commands:/ {on=1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}')
[[ -n $cmds ]] || { echo "no commands in ktape --help"; exit 1; }
n=0
for c in $cmds; do
    "$KTAPE" help "$c" | grep -q "^ktape $c - " || { echo "ktape help $c: no header"; exit 1; }
    "$KTAPE" "$c" --help >/dev/null || { echo "ktape $c --help failed"; exit 1; }
    grep -q "^\.B $c\$" "$MAN" || { echo "docs/ktape.1 does not describe '$c'"; exit 1; }
    n=$((n + 1))
done
for c in $(awk '/^\.SH COMMANDS/ {on=1; next} on && /^\.SH/ {exit} on && /^\.B [a-z]+$/ {print $2}' "$MAN"); do
    grep -qx "$c" <<<"$cmds" || { echo "docs/ktape.1 describes '$c', which ktape does not have"; exit 1; }
done
"$KTAPE" nosuchcommand >/dev/null 2>&1 && { echo "unknown command accepted"; exit 1; }

# The one table of exit codes, the man page and the operations guide list
# the same codes.
OPS=$(dirname "$MAN")/OPERATIONS.md
codes=$("$KTAPE" help exit-codes | awk '/^ +[0-9]+  / {print $1}' | sort -n | tr '\n' ' ')
[[ -n $codes ]] || { echo "ktape help exit-codes lists no code"; exit 1; }
man_codes=$(awk '/^\.SH EXIT STATUS/ {on=1; next} on && /^\.SH/ {exit} on && /^\.B [0-9]+$/ {print $2}' "$MAN" |
    sort -un | tr '\n' ' ')
ops_codes=$(awk '/^### Exit codes for monitoring/ {on=1; next} on && /^#/ {exit} on && /^\| [0-9]+ \|/ {print $2}' "$OPS" |
    sort -un | tr '\n' ' ')
[[ $man_codes == "$codes" ]] || { echo "docs/ktape.1 EXIT STATUS lists '$man_codes', ktape has '$codes'"; exit 1; }
[[ $ops_codes == "$codes" ]] || { echo "docs/OPERATIONS.md lists exit codes '$ops_codes', ktape has '$codes'"; exit 1; }
echo "$n commands: table, help and man page agree; exit codes $codes in the table, man page and guide"
