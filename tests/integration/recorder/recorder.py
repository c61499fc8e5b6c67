"""Stands in for an engine that cannot run here (SGLang's kernels are CUDA-only): records the argv and environment
it was started with, then answers /health like the real server, on the same --host/--port, until stopped."""

from __future__ import annotations

import http.server
import itertools
import json
import os
import socket
import sys


def main(args: list[str]) -> None:
    argv = ["python3", *args]
    host, port = "127.0.0.1", 30000
    for flag, value in itertools.pairwise(args):
        if flag == "--host":
            host = value
        elif flag == "--port":
            port = int(value)
    record = {
        "argv": argv,
        "env": dict(os.environ),
        "hostname": socket.gethostname(),
        "hostname_resolves_to": socket.gethostbyname(socket.gethostname()),
    }
    path = os.path.join(os.environ["LC_JOB_DIR"], f"recorded-{socket.gethostname()}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=2)

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    http.server.HTTPServer((host, port), Health).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
