#!/usr/bin/env bash
echo "test_ls.sh: not written yet" >&2
exit 1
