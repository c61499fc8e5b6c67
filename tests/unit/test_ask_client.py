"""`ask` against servers that answer wrongly (a real HTTP server on loopback plays each): one-line errors, capped
replies, control characters shown not acted upon, and the operator's proxy never used for cluster addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
