"""Looks for keys where they must never be: every file under the given
directories (secrets.conf, and the test data "data" and "frame", aside) is
searched, case-insensitively, for every 8-octet piece (16 hex digits, at
4-octet steps) of every key read from standard input, one per line, in hex
with or without 0x. Exits 1 naming the files and the first 4 digits of a
piece found in each; prints how many pieces it looked for.

  printf '%s\\n' KEY... | python3 keysearch.py DIR...
"""

import os
import sys

SKIP = ("secrets.conf", "data", "frame")


def pieces_of(lines):
    pieces = set()
    for line in lines:
        k = line.strip().lower()
        if k.startswith("0x"):
            k = k[2:]
        for i in range(0, len(k) - 15, 8):
            pieces.add(k[i:i + 16])
    return pieces


def main():
    pieces = pieces_of(sys.stdin)
    bad = []
    for top in sys.argv[1:]:
        for root, _, files in os.walk(top):
            for f in files:
                if f in SKIP:
                    continue
                path = os.path.join(root, f)
                try:
                    with open(path, "rb") as fh:
                        text = fh.read().decode("latin-1").lower()
                except OSError:
                    continue
                hits = [p for p in pieces if p in text]
                if hits:
                    bad.append("%s (%s...)" % (path, hits[0][:4]))
    if bad:
        print("a piece of a key appears in: " + ", ".join(bad), file=sys.stderr)
        return 1
    print("%d pieces of keys searched for" % len(pieces), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
