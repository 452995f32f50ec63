#!/usr/bin/env python3
"""Runs the reference reader (format/reference/ktape_segment.py, written from
format/SPEC.md alone) over the golden vectors and checks that it reads each
one as the specification says: the records it prints must be exactly the
vector's .jsonl, damage must be reported with the exit status 1, and files
that are not readable segments must be refused with the exit status 2.

Usage: test_spec_reader.py VECTORS_DIR READER

VECTORS_DIR holds the version 2 vectors and, in its subdirectory v1/, the
frozen version 1 vectors (SPEC.md section 12), which a reader must still
read; both sets are checked, and a missing v1/ is a failure.

Prints one line per check and ends with "N passed, M failed"; the exit
status is non-zero when anything failed.
"""

import os
import subprocess
import sys
import tempfile

# vector -> (expected exit status, text the report on stderr must contain)
GOOD = {name: (0, None) for name in ("basic", "gaps", "multiblock", "future-minor")}

# The encrypted vectors (2.1, SPEC 4.6), read with encrypted.key: vector ->
# (exit status, report) with the key. Without it each must exit 3 saying
# that only the CRCs were checked; with another key, 3 naming both key ids.
ENCRYPTED = {
    "encrypted": (0, None),
    "encrypted-multiblock": (0, None),
    "encrypted-tampered": (1, "block 1 at byte 519: block fails authentication"),
}


def damaged(block1_pos):
    # SPEC.md 12 gives the position of damaged-block's block 1 per version.
    return {
        "damaged-footer": (1, "footer"),
        "truncated": (1, "truncated"),
        "damaged-block": (1, "block 1 at byte %d" % block1_pos),
        "damaged-block-header": (1, "block 2 at byte"),
    }


# The vector sets of SPEC.md 12: (subdirectory of VECTORS_DIR, good,
# damaged, refused). The frozen v1 set has no refused vectors.
VECTOR_SETS = (
    ("", GOOD, damaged(423), ("future-major", "not-a-segment")),
    ("v1", GOOD, damaged(409), ()),
)


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

    def expect_key_refusal(self, name, path, args, report):
        p = self.run(*args, path)
        problems = []
        if p.returncode != 3:
            problems.append("exit status %d, expected 3 (key)" % p.returncode)
        if p.stdout:
            problems.append("printed %d bytes of records" % len(p.stdout))
        stderr = p.stderr.decode("utf-8", "replace")
        if report not in stderr:
            problems.append("the report does not mention %r: %s" % (report, stderr.strip() or "(empty)"))
        self.result(name, problems)

    def run(self, *args):
        return subprocess.run([sys.executable, self.reader, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=100, check=False)

    def expect_records(self, name, path, jsonl, status, report, args=()):
        p = self.run(*args, path)
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


def check_set(c, vectors, subdir, good, damaged_, refused, tmp):
    """Checks the vectors of one version in vectors/subdir; labels carry the
    subdirectory so that the two sets' results stay apart."""
    directory = os.path.join(vectors, subdir)
    prefix = subdir + "/" if subdir else ""
    if not os.path.isdir(directory):
        c.result(prefix + "*", ["vector directory %s is missing" % directory])
        return
    names = sorted(f[:-4] for f in os.listdir(directory) if f.endswith(".kts"))
    for name in sorted(set(good) | set(damaged_) | set(refused) | (set(ENCRYPTED) if not subdir else set())):
        if name not in names:
            c.result(prefix + name, ["vector %s.kts is missing" % name])
    for name in names:
        label = prefix + name
        path = os.path.join(directory, name + ".kts")
        jsonl = os.path.join(directory, name + ".jsonl")
        if name in ENCRYPTED and not subdir:
            key = os.path.join(directory, "encrypted.key")
            status, report = ENCRYPTED[name]
            c.expect_records(label + " (with its key)", path, jsonl, status, report, ("--key", key))
            c.expect_key_refusal(label + " (no key: CRCs only)", path, (),
                                 "key id 5919b3ca611696f4 and no key was given")
            wrong = os.path.join(tmp, "wrong.key")
            with open(wrong, "w") as f:
                f.write("ff" * 32 + "\n")
            c.expect_key_refusal(label + " (another key)", path, ("--key", wrong),
                                 "encrypted with key id 5919b3ca611696f4, the key file has key id ")
        elif name in good or name in damaged_:
            status, report = good.get(name) or damaged_[name]
            c.expect_records(label, path, jsonl, status, report)
        elif name in refused:
            c.expect_refused(label, path)
        elif os.path.exists(jsonl):
            # a vector this test does not know yet: its records must still match
            p = c.run(path)
            with open(jsonl, "rb") as f:
                ok = p.stdout == f.read() and p.returncode in (0, 1)
            c.result(label, [] if ok else ["records differ from %s.jsonl" % name])
        else:
            c.expect_refused(label, path)

    # Cases derived from the vectors, for reading rules no vector reaches on
    # its own (SPEC.md 6.3): scanning with a damaged block header (resync)
    # and scanning past an unknown skippable frame.
    derived = [
        ("damaged-block-header without footer (scan, resync)", "damaged-block-header",
         "damaged-block-header", "damaged block header"),
        ("future-minor without footer (scan skips unknown frame)", "future-minor", "basic",
         "no footer"),
        ("multiblock without footer (scan)", "multiblock", "multiblock", "no footer"),
    ]
    for what, src, expect, report in derived:
        label = "derived: %s%s" % (prefix, what)
        src_path = os.path.join(directory, src + ".kts")
        if not os.path.exists(src_path):
            c.result(label, ["vector %s%s.kts is missing" % (prefix, src)])
            continue
        dst = os.path.join(tmp, (subdir or "v2") + "-" + src + "-nofooter.kts")
        without_footer(src_path, dst)
        c.expect_records(label, dst, os.path.join(directory, expect + ".jsonl"), 1, report)


def main(argv):
    if len(argv) != 3:
        print("usage: test_spec_reader.py VECTORS_DIR READER", file=sys.stderr)
        return 2
    vectors, reader = argv[1], argv[2]
    c = Checker(reader)

    p = c.run("--self-test")
    c.result("self-test (CRC-32C check value, varints, byte planes, JSON escaping)",
             [] if p.returncode == 0 else [p.stderr.decode("utf-8", "replace").strip() or "failed"])

    with tempfile.TemporaryDirectory() as tmp:
        for subdir, good, damaged_, refused in VECTOR_SETS:
            check_set(c, vectors, subdir, good, damaged_, refused, tmp)

    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
