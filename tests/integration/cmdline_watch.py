"""Run as another user of the node: collects every process's command line (what any user may read in /proc) until
its stdin ends, then prints them as a JSON list."""

from __future__ import annotations

import json
import os
import select
import sys


def main() -> None:
    seen: set[bytes] = set()
    while not select.select([sys.stdin], [], [], 0)[0]:
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.add(f.read())
            except OSError:
                continue
    print(json.dumps({"uid": os.getuid(), "cmdlines": sorted(c.decode(errors="replace") for c in seen)}))


if __name__ == "__main__":
    main()
