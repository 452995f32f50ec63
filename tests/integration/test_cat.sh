#!/usr/bin/env bash
echo "test_cat.sh: not written yet" >&2
exit 1
