#!/usr/bin/env python3
"""Runs the reference reader (format/reference/ktape_segment.py, written from
format/SPEC.md alone) over the golden vectors and checks that it reads each
one as the specification says: the records it prints must be exactly the
vector's .jsonl, damage must be reported with the exit status 1, and files
that are not readable segments must be refused with the exit status 2.

Usage: test_spec_reader.py VECTORS_DIR READER

Prints one line per check and ends with "N passed, M failed"; the exit
status is non-zero when anything failed.
"""

import os
import subprocess
import sys
import tempfile

# vector -> (expected exit status, text the report on stderr must contain)
GOOD = {name: (0, None) for name in ("basic", "gaps", "multiblock", "future-minor")}
DAMAGED = {
    "damaged-footer": (1, "footer"),
    "truncated": (1, "truncated"),
    "damaged-block": (1, "block 1 at byte"),
    "damaged-block-header": (1, "block 2 at byte"),
}
REFUSED = ("future-major", "not-a-segment")


class Checker:
    def __init__(self, reader):
        self.reader = reader
        self.passed = 0
        self.failed = 0

    def result(self, name, problems):
        if problems:
            self.failed += 1
            print("FAIL %s: %s" % (name, "; ".join(problems)))
        else:
            self.passed += 1
            print("ok   %s" % name)

    def run(self, *args):
        return subprocess.run([sys.executable, self.reader, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=100, check=False)

    def expect_records(self, name, path, jsonl, status, report):
        p = self.run(path)
        problems = []
        with open(jsonl, "rb") as f:
            want = f.read()
        if p.stdout != want:
            got_lines = p.stdout.splitlines()
            want_lines = want.splitlines()
            first = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b),
                         min(len(got_lines), len(want_lines)))
            problems.append("records differ from %s (%d lines printed, %d expected, first difference "
                            "at line %d)" % (os.path.basename(jsonl), len(got_lines), len(want_lines),
                                             first + 1))
        if p.returncode != status:
            problems.append("exit status %d, expected %d" % (p.returncode, status))
        stderr = p.stderr.decode("utf-8", "replace")
        if report is None and stderr:
            problems.append("unexpected report: %s" % stderr.strip().splitlines()[0])
        if report is not None and report not in stderr:
            problems.append("the report does not mention %r: %s" % (report, stderr.strip() or "(empty)"))
        self.result(name, problems)

    def expect_refused(self, name, path):
        p = self.run(path)
        problems = []
        if p.returncode != 2:
            problems.append("exit status %d, expected 2 (refused)" % p.returncode)
        if p.stdout:
            problems.append("printed %d bytes of records" % len(p.stdout))
        if not p.stderr:
            problems.append("no reason given")
        self.result(name, problems)


def without_footer(src, dst):
    """Writes src minus its footer frame (found from the file's last 12 bytes)."""
    with open(src, "rb") as f:
        data = f.read()
    assert data[-8:-4] == b"KTND", src
    size = int.from_bytes(data[-12:-8], "little")
    with open(dst, "wb") as f:
        f.write(data[:len(data) - size])


def main(argv):
    if len(argv) != 3:
        print("usage: test_spec_reader.py VECTORS_DIR READER", file=sys.stderr)
        return 2
    vectors, reader = argv[1], argv[2]
    c = Checker(reader)

    p = c.run("--self-test")
    c.result("self-test (CRC-32C check value, varints, JSON escaping)",
             [] if p.returncode == 0 else [p.stderr.decode("utf-8", "replace").strip() or "failed"])

    names = sorted(f[:-4] for f in os.listdir(vectors) if f.endswith(".kts"))
    for name in sorted(set(GOOD) | set(DAMAGED) | set(REFUSED)):
        if name not in names:
            c.result(name, ["vector %s.kts is missing" % name])
    for name in names:
        path = os.path.join(vectors, name + ".kts")
        jsonl = os.path.join(vectors, name + ".jsonl")
        if name in GOOD or name in DAMAGED:
            status, report = GOOD.get(name) or DAMAGED[name]
            c.expect_records(name, path, jsonl, status, report)
        elif name in REFUSED:
            c.expect_refused(name, path)
        elif os.path.exists(jsonl):
            # a vector this test does not know yet: its records must still match
            p = c.run(path)
            with open(jsonl, "rb") as f:
                ok = p.stdout == f.read() and p.returncode in (0, 1)
            c.result(name, [] if ok else ["records differ from %s.jsonl" % name])
        else:
            c.expect_refused(name, path)

    # Cases derived from the vectors, for reading rules no vector reaches on
    # its own (SPEC.md 6.3): scanning with a damaged block header (resync)
    # and scanning past an unknown skippable frame.
    with tempfile.TemporaryDirectory() as tmp:
        derived = [
            ("derived: damaged-block-header without footer (scan, resync)", "damaged-block-header",
             "damaged-block-header", "damaged block header"),
            ("derived: future-minor without footer (scan skips unknown frame)", "future-minor", "basic",
             "no footer"),
            ("derived: multiblock without footer (scan)", "multiblock", "multiblock", "no footer"),
        ]
        for label, src, expect, report in derived:
            src_path = os.path.join(vectors, src + ".kts")
            if not os.path.exists(src_path):
                c.result(label, ["vector %s.kts is missing" % src])
                continue
            dst = os.path.join(tmp, src + "-nofooter.kts")
            without_footer(src_path, dst)
            c.expect_records(label, dst, os.path.join(vectors, expect + ".jsonl"), 1, report)

    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
