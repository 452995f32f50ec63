#!/usr/bin/env python3
"""Generates user-activities records for tools/bench: one `key<TAB>value` line
per record, the key a userId and the value a JSON event of 250-350 bytes, like
the events of the users' `user-activities` topic (see ../shared/CONTEXT.md):

  {"userId","action","resource","metadata":{...},"ipAddress","timestamp"}

The output is deterministic for a given --records and --seed, so that cached
files and results stay comparable between runs. No tabs or newlines appear in
keys or values.

--value-bytes N makes every value exactly N bytes, for the benchmark's other
record shapes (50 B, 200 B, 10 KiB): a shorter event gets a "notes" field of
words, a longer one is cut (and is then no longer valid JSON).
"""

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone

ACTIONS = [
    ("page_view", 40), ("click", 20), ("search", 10), ("add_to_cart", 8),
    ("remove_from_cart", 3), ("checkout", 3), ("login", 5), ("logout", 4),
    ("update_profile", 2), ("comment", 3), ("like", 2),
]
SECTIONS = ["products", "categories", "articles", "users", "orders", "search", "cart", "account"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile",
]
REFERRERS = ["https://www.google.com/", "https://example.com/", "https://news.example.org/",
             "https://t.co/", "", "https://www.bing.com/", "https://shop.example.com/"]
DEVICES = ["desktop", "mobile", "tablet"]
WORDS = ["red", "shoes", "laptop", "coffee", "desk", "lamp", "phone", "case", "book", "kafka",
         "backup", "garden", "chair", "camera", "watch", "bag", "jacket", "tea", "sale", "gift"]


def sized(rnd, ev, value, n, dumps):
    if len(value) < n:
        words = []
        have = len(value) + len(',"notes":""')
        while have < n:
            w = rnd.choice(WORDS)
            words.append(w)
            have += len(w) + 1
        ev["notes"] = " ".join(words)
        value = dumps(ev)
    return value[:n] if len(value) > n else value + " " * (n - len(value))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--value-bytes", type=int, default=0)
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    actions = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    t = datetime(2026, 11, 22, 0, 0, 0, tzinfo=timezone.utc)
    sessions = {}
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="ascii")
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    buf = []
    for i in range(args.records):
        # a few heavy users, a long tail
        if rnd.random() < 0.3:
            u = int(rnd.paretovariate(1.2) * 7) % args.users
        else:
            u = rnd.randrange(args.users)
        user = f"user-{u:06d}"
        session = sessions.get(u)
        if session is None or rnd.random() < 0.02:
            session = sessions[u] = "%016x" % rnd.getrandbits(64)
        action = rnd.choices(actions, weights)[0]
        section = rnd.choice(SECTIONS)
        resource = f"/{section}/{rnd.randrange(1, 50000)}"
        meta = {
            "sessionId": session,
            "userAgent": AGENTS[u % len(AGENTS)],
            "device": DEVICES[u % 3],
        }
        if action == "search":
            meta["query"] = " ".join(rnd.sample(WORDS, rnd.randint(1, 3)))
            meta["results"] = rnd.randrange(0, 500)
        elif action in ("add_to_cart", "remove_from_cart", "checkout"):
            meta["sku"] = f"SKU-{rnd.randrange(100000, 999999)}"
            meta["quantity"] = rnd.randint(1, 4)
            meta["price"] = round(rnd.uniform(1, 500), 2)
        else:
            meta["referrer"] = rnd.choice(REFERRERS)
            meta["durationMs"] = rnd.randrange(5, 30000)
        t += timedelta(microseconds=rnd.randrange(0, 2000))
        ev = {
            "userId": user,
            "action": action,
            "resource": resource,
            "metadata": meta,
            "ipAddress": f"10.{u % 256}.{(u * 7) % 256}.{rnd.randrange(1, 255)}",
            "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
        }
        value = dumps(ev)
        if args.value_bytes:
            value = sized(rnd, ev, value, args.value_bytes, dumps)
        buf.append(user + "\t" + value + "\n")
        if len(buf) >= 10000:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
