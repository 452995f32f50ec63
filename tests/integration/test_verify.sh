#!/usr/bin/env bash
echo "test_verify.sh: not written yet" >&2
exit 1
