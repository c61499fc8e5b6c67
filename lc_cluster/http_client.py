"""One OpenAI-style chat request to a serving endpoint: the operator's smoke test.

`python -m lc_cluster.http_client ENDPOINT PROMPT` prints the answer, with the API key from $LC_API_KEY; the sandbox
runs it inside its login namespace, because the sandbox's node addresses exist only there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from lc_cluster.errors import LcError

_TIMEOUT_S = 120
# An answer of 64 tokens is a few KB; a server that sends more is not the engine.
_MAX_BYTES = 1024 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with every header, the bearer key too, to wherever it points."""

    def redirect_request(self, *args: Any) -> None:
        return None


# Endpoints are cluster-internal addresses: an operator's HTTP(S)_PROXY must not carry them, nor a redirect the key.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


_KEY_ENV = "LC_API_KEY"


def _call(
    url: str, api_key: str | None, body: dict[str, Any] | None = None, timeout_s: float = _TIMEOUT_S
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            raw = response.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = printable(exc.read(300).decode(errors="replace"))
        if 300 <= exc.code < 400:
            where = printable(str(exc.headers.get("Location", "")))[:200]
            raise LcError(
                f"{url} answered {exc.code}, a redirect to {where!r}: not followed, the job's key goes only to the "
                "job's own endpoint; is something else listening on its port?"
            ) from None
        hint = ": the job's API key is not the one in lc-cluster's state directory" if exc.code == 401 else ""
        raise LcError(f"{url} answered {exc.code}: {detail}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LcError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > _MAX_BYTES:
        raise LcError(f"{url} answered more than {_MAX_BYTES // 1024} KiB: not an OpenAI-compatible engine")
    try:
        result = json.loads(raw)
    except ValueError:
        text = printable(raw[:80].decode(errors="replace"))
        raise LcError(f"{url} answered something that is not JSON ({text!r}): is the endpoint an engine?") from None
    if not isinstance(result, dict):
        raise LcError(f"{url} answered JSON that is not an object: is the endpoint an engine?")
    return result


def printable(text: str) -> str:
    """Terminal control characters shown, not acted upon."""
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def chat(
    endpoint: str, prompt: str, api_key: str | None = None, max_tokens: int = 64, timeout_s: float = _TIMEOUT_S
) -> dict[str, Any]:
    models = _call(f"{endpoint}/v1/models", api_key, timeout_s=timeout_s).get("data")
    if not isinstance(models, list) or not models or not isinstance(models[0], dict) or "id" not in models[0]:
        raise LcError(f"{endpoint}/v1/models lists no model: the engine is not serving one yet")
    model = str(models[0]["id"])
    answer = _call(
        f"{endpoint}/v1/chat/completions",
        api_key,
        {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens},
        timeout_s,
    )
    try:
        message = answer["choices"][0]["message"]
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LcError(f"{endpoint} answered without choices: {printable(json.dumps(answer))[:200]}") from None
    if content is None:
        # A reasoning model can spend every token thinking; its text then is only in reasoning_content.
        content = "(no answer text: the model spent its tokens reasoning; ask with more tokens)"
    usage = answer.get("usage")
    return {"model": model, "answer": printable(str(content)), "usage": usage if isinstance(usage, dict) else {}}


def completion(endpoint: str, prompt: str, api_key: str | None = None, max_tokens: int = 16) -> str:
    """A short plain generation: the text the model continued PROMPT with."""
    models = _call(f"{endpoint}/v1/models", api_key).get("data")
    model = str(models[0]["id"]) if isinstance(models, list) and models and isinstance(models[0], dict) else ""
    answer = _call(f"{endpoint}/v1/completions", api_key, {"model": model, "prompt": prompt, "max_tokens": max_tokens})
    try:
        return printable(str(answer["choices"][0]["text"]))
    except (KeyError, IndexError, TypeError):
        raise LcError(f"{endpoint} answered a completion without text: {printable(json.dumps(answer))[:200]}") from None


def metrics(url: str) -> str:
    """A Prometheus text exposition (an engine's or router's /metrics), which needs no API key."""
    try:
        with _OPENER.open(url, timeout=10) as response:
            raw: bytes = response.read(_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise LcError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    return raw[:_MAX_BYTES].decode(errors="replace")


def chat_via(
    netns: str | None, endpoint: str, prompt: str, api_key: str | None, timeout_s: float = _TIMEOUT_S
) -> dict[str, Any]:
    if netns is None:
        return chat(endpoint, prompt, api_key, timeout_s=timeout_s)
    # The key goes to the child in its environment, never its argv.
    env = {k: v for k, v in os.environ.items() if k != _KEY_ENV} | ({_KEY_ENV: api_key} if api_key else {})
    result: dict[str, Any] = json.loads(_in_netns(netns, [endpoint, prompt, str(timeout_s)], env, timeout_s))
    return result


def metrics_via(netns: str | None, url: str) -> str:
    return metrics(url) if netns is None else _in_netns(netns, ["--metrics", url], dict(os.environ))


def _in_netns(netns: str, args: list[str], env: dict[str, str], timeout_s: float = _TIMEOUT_S) -> str:
    """This module run inside the sandbox's login namespace, where the nodes' addresses exist."""
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m", "lc_cluster.http_client", *args],
        capture_output=True, text=True, timeout=timeout_s * 2 + 10, check=False, env=env,
    )  # fmt: skip
    if done.returncode != 0:
        raise LcError(done.stderr.strip().removeprefix("error: ") or f"request to {args[-1]} failed")
    return done.stdout


if __name__ == "__main__":
    try:
        if sys.argv[1] == "--metrics":
            sys.stdout.write(metrics(sys.argv[2]))
        else:
            timeout = float(sys.argv[3]) if len(sys.argv) > 3 else _TIMEOUT_S
            print(json.dumps(chat(sys.argv[1], sys.argv[2], os.environ.get(_KEY_ENV), timeout_s=timeout)))
    except LcError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
