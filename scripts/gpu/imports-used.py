"""Which installed distributions the processes that wrote LC_IMPORTS_DIR (import-trace/sitecustomize.py) imported,
with the folder each came from: the brought site's, or the machine's own.
Usage: python3 scripts/gpu/imports-used.py LC_IMPORTS_DIR"""

import importlib.metadata as metadata
import sys
from pathlib import Path

tops = {line.strip() for f in Path(sys.argv[1]).glob("*.txt") for line in f.read_text().splitlines()[1:]}
owners = metadata.packages_distributions()
used: dict[str, set[str]] = {}
for top in sorted(tops):
    for dist in owners.get(top, []):
        used.setdefault(dist, set()).add(top)
for dist in sorted(used, key=str.lower):
    found = metadata.distribution(dist)
    where = Path(str(found.locate_file(""))).name
    print(f"{dist}=={found.version}\t{where}\t{','.join(sorted(used[dist]))}")
