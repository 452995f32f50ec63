#!/usr/bin/env bash
# Backups of personal data are not world-readable (issue #18): everything a
# dump and a restore create in an archive is 0640 (files) or 0750
# (directories) under umask 022, and narrower when the umask says so
# (0600/0700 under umask 077), the catalog's -wal and -shm included (looked
# at while a paced restore holds them open).
source "$(dirname "$0")/lib.sh"

topic="it-modes-$RUN_ID"
create_topic "$topic" 2
seq 0 999 | awk '{printf "k%d:v%d\n", $1 % 13, $1}' | kcat -P -b "$BS" -t "$topic" -K:

# modes of everything under DIR that are not the expected ones
odd_modes() { # dir file_mode dir_mode
    find "$1" -type f ! -perm "$2" -printf '%m %p\n'
    find "$1" -type d ! -perm "$3" -printf '%m %p\n'
}

for case in "022 640 750" "077 600 700"; do
    read -r mask fmode dmode <<<"$case"
    A="$WORK/arch-$mask"
    (umask "$mask" && "$KTAPE" dump -b "$BS" -a "$A" -t "$topic" -q) || fail "dump under umask $mask"
    nfiles=$(find "$A" -type f | wc -l)
    ((nfiles >= 5)) || fail "the archive holds only $nfiles files: $(find "$A")"
    [[ -z $(find "$A" -name '*.kts' -print -quit | grep -v '^$') ]] && fail "no segment file in $A"
    odd=$(odd_modes "$A" "$fmode" "$dmode")
    [[ -z $odd ]] || fail "under umask $mask, expected files $fmode and directories $dmode: $odd"
    # a paced restore keeps the catalog open for writing: its -wal and -shm
    # are there, with the catalog's mode
    (umask "$mask" && exec "$KTAPE" restore -b "$BS" -a "$A" -t "$topic" --map "$topic=$topic.$mask" \
        --create-topics --rate-msgs 200 -q) &
    pid=$!
    for _ in $(seq 50); do [[ -e $A/catalog.db-wal && -e $A/catalog.db-shm ]] && break; sleep 0.1; done
    [[ -e $A/catalog.db-wal && -e $A/catalog.db-shm ]] || fail "the restore did not open the catalog for writing"
    odd=$(odd_modes "$A" "$fmode" "$dmode")
    kill -INT "$pid"
    wait "$pid" || true
    [[ -z $odd ]] || fail "while a restore writes, under umask $mask: $odd"
    pass "umask $mask: $nfiles files $fmode, directories $dmode, -wal and -shm alike"
done
