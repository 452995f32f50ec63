#!/usr/bin/env python3
"""witness.py - the independent check of the integration tests.

Reads what Kafka's own kafka-console-consumer printed (with print.timestamp,
print.partition, print.offset, print.headers, print.key, null.literal=<NULL>,
key.separator='|', headers.separator=';') and compares it, partition by
partition and in order, with the records a testprod spec describes (records
of aborted transactions excluded). Neither ktape nor librdkafka is involved
in reading, so a pass means the records really are in the topic.

  witness.py SPEC CONSUMER_OUTPUT [--partitions-by-key N]

With --partitions-by-key the expected partition is not checked (key
partitioning); order is then compared per key.
"""
import sys

NULL = b"<NULL>"


def field(f):
    if f == b"-":
        return None
    if f.startswith(b"hex:"):
        return bytes.fromhex(f[4:].decode())
    return f


def parse_spec(path):
    recs, txn, txn_recs = [], False, []
    for line in open(path, "rb").read().split(b"\n"):
        if not line:
            continue
        if line == b"#begin":
            txn, txn_recs = True, []
            continue
        if line in (b"#commit", b"#abort"):
            if line == b"#commit":
                recs.extend(txn_recs)
            txn = False
            continue
        if line.startswith(b"#big "):
            n, ts = (int(x) for x in line[5:].split())
            r = (0, ts, b"big", bytes((ord("a") + i % 26) for i in range(n)), [])
        else:
            f = line.split(b"\t")
            hdrs = []
            for h in f[4:]:
                name, _, val = h.partition(b"=")
                hdrs.append((name, field(val)))
            r = (int(f[0]), int(f[1]), field(f[2]), field(f[3]), hdrs)
        (txn_recs if txn else recs).append(r)
    return recs


def parse_consumer(path):
    out = []
    for line in open(path, "rb").read().split(b"\n"):
        if not line:
            continue
        parts = line.split(b"|", 5)
        if len(parts) != 6:
            raise SystemExit("witness: cannot parse consumer line %r" % line[:200])
        ts = int(parts[0].split(b":")[1])
        part = int(parts[1].split(b":")[1])
        hdrs = []
        if parts[3] != b"NO_HEADERS":
            for h in parts[3].split(b";"):
                name, _, val = h.partition(b":")
                hdrs.append((name, None if val == NULL else val))
        key = None if parts[4] == NULL else parts[4]
        val = None if parts[5] == NULL else parts[5]
        out.append((part, ts, key, val, hdrs))
    return out


def main():
    spec, got = parse_spec(sys.argv[1]), parse_consumer(sys.argv[2])
    by_key = "--partitions-by-key" in sys.argv
    group = (lambda r: r[2]) if by_key else (lambda r: r[0])
    want_g, got_g = {}, {}
    for r in spec:
        want_g.setdefault(group(r), []).append(r[1:] if by_key else r)
    for r in got:
        got_g.setdefault(group(r), []).append(r[1:] if by_key else r)
    passed = failed = 0
    for g in sorted(set(want_g) | set(got_g), key=repr):
        w, o = want_g.get(g, []), got_g.get(g, [])
        for i in range(max(len(w), len(o))):
            a = w[i] if i < len(w) else None
            b = o[i] if i < len(o) else None
            if a == b:
                passed += 1
            else:
                failed += 1
                if failed <= 10:
                    print("witness: group %r record %d: expected %.300r, got %.300r" % (g, i, a, b))
    print("witness: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


main()
