"""Stands in for an engine that cannot run here (SGLang's kernels are CUDA-only): records the argv and environment
it was started with, then answers /health like the real server, on the same --host/--port, until stopped.

Its chat endpoint answers the way a PD decode engine whose KV transfer failed does (what GPUs and RDMA are needed to
produce for real): 200, a well-formed stream, and not one token."""

from __future__ import annotations

import http.server
import itertools
import json
import os
import socket
import sys


def main(args: list[str]) -> None:
    argv = ["python3", *args]
    # The engines' own defaults where the plan names none: `vllm serve` listens on every address at 8000 (SGLang is
    # always given --host).
    host, port = "0.0.0.0", 8000 if args[:1] == ["serve"] else 30000
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

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions":
                self.send_response(404)
                self.end_headers()
                return
            chunk = {"id": "0", "object": "chat.completion.chunk", "model": request.get("model", "")}
            events = [
                {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {**chunk, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}},
            ]
            body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: object) -> None:
            pass

    # Each process says where it listens, so its log (and `logs --role/--node`) is its own, never empty.
    print(f"recorder: {record['hostname']} serving on {host}:{port}", flush=True)
    http.server.HTTPServer((host, port), Health).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
