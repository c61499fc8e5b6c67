"""One line of what a canary run gave: exit, time, ready, its bench figures where it had a load, its first error.
Usage: python3 scripts/gpu/canary-summary.py LABEL EXIT SECONDS CANARY_JSON"""

import json
import sys

label, code, took, path = sys.argv[1:]
try:
    with open(path) as source:
        doc = json.load(source)
except (OSError, ValueError):
    doc = {}
line = f"{label}: exit {code} in {took} s; ready {doc.get('seconds_to_ready')} s"
bench = doc.get("bench")
if bench:
    lat = bench.get("latency_ms") or {}
    line += (
        f"; {bench.get('completed')} done {bench.get('failed')} failed; {bench.get('output_tokens_per_s')} out "
        f"tok/s; TPOT p50 {lat.get('tpot_p50')} ms; TTFT p50 {lat.get('ttft_p50')} ms"
    )
print(f"{line}; answer {str(doc.get('answer'))[:60]!r}; error {str(doc.get('error'))[:300]}")
