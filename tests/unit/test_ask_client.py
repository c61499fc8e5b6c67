"""`ask` against servers that answer wrongly (a real HTTP server on loopback plays each): one-line errors, capped
replies, control characters shown not acted upon, and the operator's proxy never used for cluster addresses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lc_cluster.errors import LcError
from lc_cluster.http_client import chat

MODELS = json.dumps({"data": [{"id": "m"}]}).encode()


def _server(answers: dict[str, bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            # Read the request first, as a real server does: closing with it unread resets the connection.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = answers[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _server(request.param)


def _chat_answer(message: object) -> bytes:
    return json.dumps({"choices": [{"message": message}], "usage": {"completion_tokens": 3}}).encode()


@pytest.mark.parametrize(
    ("serve", "message"),
    [
        ({"/v1/models": b"<html>login</html>"}, "not JSON"),
        ({"/v1/models": b'{"data": []}'}, "lists no model"),
        ({"/v1/models": b"[1]"}, "not an object"),
        ({"/v1/models": MODELS, "/v1/chat/completions": b'{"id": "x"}'}, "without choices"),
        ({"/v1/models": MODELS, "/v1/chat/completions": b"x" * (2 * 1024 * 1024)}, "more than 1024 KiB"),
    ],
    indirect=["serve"],
)
def test_wrong_answers_are_one_line_errors(serve: str, message: str) -> None:
    with pytest.raises(LcError, match=message) as caught:
        chat(serve, "hi")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "serve",
    [{"/v1/models": MODELS, "/v1/chat/completions": _chat_answer({"content": None, "reasoning_content": "hmm"})}],
    indirect=True,
)
def test_a_reply_without_text_says_why(serve: str) -> None:
    assert "spent its tokens reasoning" in chat(serve, "hi")["answer"]


@pytest.mark.parametrize(
    "serve",
    [{"/v1/models": MODELS, "/v1/chat/completions": _chat_answer({"content": "ok\x1b[2J\x07 done"})}],
    indirect=True,
)
def test_control_characters_are_shown_not_sent_and_proxies_are_not_used(
    serve: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that does not exist: used, it would fail the request.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    answer = chat(serve, "hi")["answer"]
    assert answer == "ok\ufffd[2J\ufffd done"


def test_a_redirect_is_not_followed_with_the_key() -> None:
    """A server on the job's port that redirects elsewhere gets no second request: urllib would send the bearer key
    along to the redirect's target."""
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(MODELS)))
            self.end_headers()
            self.wfile.write(MODELS)

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}/v1/models"

    class Redirects(Elsewhere):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    job = ThreadingHTTPServer(("127.0.0.1", 0), Redirects)
    threading.Thread(target=job.serve_forever, daemon=True).start()
    try:
        with pytest.raises(LcError, match=r"answered 302, a redirect to .* not followed") as caught:
            chat(f"http://127.0.0.1:{job.server_address[1]}", "hi", api_key="lck-secret")
    finally:
        job.shutdown()
        elsewhere.shutdown()
    assert seen == [] and "lck-secret" not in str(caught.value)


def test_a_server_that_does_not_answer_in_time_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(5)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(LcError, match="timed out"):
            chat(f"http://127.0.0.1:{server.server_address[1]}", "hi", timeout_s=1)
    finally:
        server.shutdown()
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "serve", [{"/v1/models": MODELS, "/v1/chat/completions": _chat_answer({"content": "  "})}], indirect=True
)
def test_ask_fails_on_an_empty_answer(serve: str, tmp_path: Path) -> None:
    port = int(serve.rsplit(":", 1)[1])
    cluster = tmp_path / "c.yaml"
    cluster.write_text(json.dumps({"name": "c", "gpu": "H800-80G", "gpus_per_node": 8,
                                   "paths": {"log_dir": str(tmp_path / "logs")}}))  # fmt: skip
    jobs = tmp_path / "state" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "c-5.json").write_text(json.dumps({
        "job_id": "5", "token": "ab12", "cluster": "c", "cluster_file": str(cluster), "model": "tiny", "engine": "vllm",
        "nodes": 1, "http_port": port, "log_dir": str(tmp_path / "logs"), "submitted_at": 1.0}))  # fmt: skip
    (tmp_path / "logs" / "5").mkdir(parents=True)
    (tmp_path / "logs" / "5" / "state.json").write_text(json.dumps({"phase": "ready", "endpoint": serve}))
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", "ask", "5", "hi", "--timeout", "10"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and "job 5 answered with no text" in done.stderr, done.stderr
