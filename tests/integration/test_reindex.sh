#!/usr/bin/env bash
echo "test_reindex.sh: not written yet" >&2
exit 1
