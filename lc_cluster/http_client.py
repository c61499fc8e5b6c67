"""One OpenAI-style chat request to a serving endpoint: the operator's smoke test.

`python -m lc_cluster.http_client ENDPOINT PROMPT` prints the answer; the sandbox runs it inside its login
namespace, because the sandbox's node addresses exist only there."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from lc_cluster.errors import LcError

_TIMEOUT_S = 120


def _call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        raise LcError(f"{url} answered {exc.code}: {exc.read().decode(errors='replace')[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LcError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def chat(endpoint: str, prompt: str, max_tokens: int = 64) -> dict[str, Any]:
    model = _call(f"{endpoint}/v1/models")["data"][0]["id"]
    answer = _call(
        f"{endpoint}/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens},
    )
    return {"model": model, "answer": answer["choices"][0]["message"]["content"], "usage": answer.get("usage", {})}


def chat_via(netns: str | None, endpoint: str, prompt: str) -> dict[str, Any]:
    if netns is None:
        return chat(endpoint, prompt)
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m", "lc_cluster.http_client", endpoint, prompt],
        capture_output=True, text=True, timeout=_TIMEOUT_S + 10, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise LcError(done.stderr.strip().removeprefix("error: ") or f"request to {endpoint} failed")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


if __name__ == "__main__":
    try:
        print(json.dumps(chat(sys.argv[1], sys.argv[2])))
    except LcError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
