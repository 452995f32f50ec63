#!/usr/bin/env bash
echo "test_prune.sh: not written yet" >&2
exit 1
