"""On a lent GPU machine, with this folder on PYTHONPATH and LC_IMPORTS_DIR set: every Python process (the engine's
server, scheduler and detokenizer processes) writes the top-level modules it has imported to LC_IMPORTS_DIR/PID.txt
every few seconds, so a run that served tells which brought wheels it used (scripts/gpu/imports-used.py)."""

import os
import sys
import threading
import time


def _record(folder: str) -> None:
    path = os.path.join(folder, f"{os.getpid()}.txt")
    while True:
        names = sorted({name.split(".")[0] for name in list(sys.modules)})
        with open(path, "w") as sink:
            sink.write(" ".join(sys.argv[:3]) + "\n" + "\n".join(names) + "\n")
        time.sleep(5)


if os.environ.get("LC_IMPORTS_DIR"):
    threading.Thread(target=_record, args=(os.environ["LC_IMPORTS_DIR"],), daemon=True, name="lc-imports").start()
