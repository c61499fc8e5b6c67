"""The canary's shrunken configs keep each catalog architecture, and its report finds the engine's first error."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lc_cluster.canary.run import (
    first_error,
    last_line,
    local_launch,
    model_source,
    plan_canary,
    share_gpus,
    stop,
)
from lc_cluster.canary.shrink import shrink
from lc_cluster.catalog import load_catalog
from lc_cluster.deployment import Asked
from lc_cluster.errors import LcError
from lc_cluster.host import pids_in_group
from tests.conftest import cli, plan_json

HARDWARE = Path(__file__).resolve().parents[2] / "docs" / "hardware" / "2026-11-23-h100-canary"
H200X2 = HARDWARE.parent / "2026-11-24-h200x2-dp-ep-pd"
# LongCat-Flash-Chat's values (transformers' LongcatFlashConfig defaults are the checkpoint's).
LONGCAT = {
    "architectures": ["LongcatFlashForCausalLM"], "model_type": "longcat_flash", "hidden_size": 6144, "num_layers": 28,
    "num_attention_heads": 64, "ffn_hidden_size": 12288, "expert_ffn_hidden_size": 2048, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_topk": 12,
    "n_routed_experts": 512, "zero_expert_num": 256, "zero_expert_type": "identity", "vocab_size": 131072,
    "max_position_embeddings": 131072, "dtype": "bfloat16", "eos_token_id": 2,
}  # fmt: skip
DEEPSEEK = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
    "num_hidden_layers": 61,
    "num_attention_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048, "n_routed_experts": 256,
    "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4, "first_k_dense_replace": 3,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "num_nextn_predict_layers": 1, "vocab_size": 129280,
    "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
}  # fmt: skip


@pytest.mark.parametrize("config", [LONGCAT, DEEPSEEK], ids=["longcat-flash", "deepseek"])
def test_shrinking_keeps_the_architecture_and_makes_it_small(config: dict[str, object]) -> None:
    small = shrink(config, vocab_size=512)
    for key in ("architectures", "model_type", "kv_lora_rank", "qk_rope_head_dim", "zero_expert_type",
                "quantization_config", "dtype"):  # fmt: skip
        assert small.get(key) == config.get(key), key
    layers = small.get("num_layers", small.get("num_hidden_layers"))
    assert isinstance(layers, int) and layers <= 2
    assert small["hidden_size"] == 1024 and small["vocab_size"] == 512 and "eos_token_id" not in small
    experts = small["n_routed_experts"]
    assert isinstance(experts, int) and experts == 16
    topk = small.get("moe_topk", small.get("num_experts_per_tok"))
    assert isinstance(topk, int) and topk <= 4
    # FP8 blocks of 128 still divide every shrunken dimension.
    for key in ("hidden_size", "q_lora_rank", "kv_lora_rank"):
        value = small.get(key)
        assert not isinstance(value, int) or value % 128 == 0
    assert config["hidden_size"] != 1024, "the source config itself is left alone"


def test_every_catalog_model_gets_a_canary_plan_on_one_gpu(tmp_path: Path) -> None:
    catalog = load_catalog()
    for model in catalog.models.values():
        for engine in model.engines.available():
            gpu = "CPU-SANDBOX" if model.name == "tiny" else "H100-80G"
            deployment = plan_canary(Asked(model=model.name, engine=engine, gpu=gpu, gpus_per_node=1), tmp_path)
            (process,) = deployment.processes
            assert str(tmp_path) in process.command.argv
            assert deployment.plan.layout.tp == 1 and deployment.plan.layout.nodes == 1


def test_the_canary_uses_the_plans_quirks_and_can_leave_one_out(tmp_path: Path) -> None:
    asked = Asked(model="longcat-flash-chat", gpu="H100-80G", gpus_per_node=1, engine_version="0.22.0")
    assert "--moe-backend" not in plan_canary(asked, tmp_path).processes[0].command.argv
    asked = replace(asked, quirk_advice=True)
    argv = plan_canary(asked, tmp_path).processes[0].command.argv
    assert "--compilation-config" in argv and "--moe-backend" in argv
    without = plan_canary(asked, tmp_path, skip=("longcat-zero-expert-compile",))
    assert "--compilation-config" not in without.processes[0].command.argv
    assert "--enforce-eager" in plan_canary(replace(asked, engine_version="0.20.2"), tmp_path).processes[0].command.argv
    with pytest.raises(LcError, match="no such quirk"):
        plan_canary(asked, tmp_path, skip=("no-such-quirk",))
    assert model_source("longcat-flash", "bf16", None) == "longcat_flash"
    for family, dtype in (("deepseek-v4", "fp4-fp8"), ("longcat-flash", "fp8")):
        with pytest.raises(LcError, match="--config"):
            model_source(family, dtype, None)


def test_an_mtp_canary_drafts_from_its_own_copy_not_the_real_checkpoint(tmp_path: Path) -> None:
    # SGLang's NEXTN drafts from the model's own MTP head: the recipe names the model itself as the draft model, so
    # the shrunken copy must draft from the copy (the hub id would need the 560B download, or fail offline).
    asked = Asked(model="longcat-flash-chat", engine="sglang", gpu="H100-80G", gpus_per_node=1, mtp=True)
    argv = plan_canary(asked, tmp_path).processes[0].command.argv
    assert argv[argv.index("--speculative-draft-model-path") + 1] == str(tmp_path)
    assert argv[argv.index("--model") + 1] == str(tmp_path)
    # The catalog itself is untouched: a real plan still drafts from the checkpoint.
    real = plan_json("longcat-flash-chat", "--engine", "sglang", "--gpu", "H800-80G", "--nodes", "2", "--mtp")
    draft = real["processes"][0]["argv"]
    assert draft[draft.index("--speculative-draft-model-path") + 1] == "meituan-longcat/LongCat-Flash-Chat"


def test_the_first_error_is_the_root_cause_from_a_real_h100_run() -> None:
    """vLLM 0.22.0 on an H100 (docs/hardware): Dynamo's exception ends the first traceback, behind worker prefixes;
    the API server's generic RuntimeError comes later and is not it."""
    found = first_error(HARDWARE / "no-compile-fix.engine.log")
    assert found == "torch._dynamo.exc.Unsupported: Data-dependent assertion failed (cannot compile partial graph)"


def test_a_worker_prefix_does_not_hide_the_first_error_of_a_two_gpu_run() -> None:
    """DP 2 + EP on two H200s without cuTile: the workers' traceback, behind '(Worker pid=N) ERROR ...' prefixes."""
    found = first_error(H200X2 / "dp-ep-without-cuda-tile.logs.txt")
    assert found == "ModuleNotFoundError: No module named 'cuda.tile'"


def _launches(asked: Asked, python: Path, gpus_here: int | None = None) -> dict[str, dict[str, Any]]:
    deployment = plan_canary(replace(asked, quirk_advice=True), Path("/m"))
    fill = {"${HEAD_IP}": "127.0.0.1", "${NODE_IP}": "127.0.0.1", "${LC_API_KEY}": "k3y"}

    def filled(value: str) -> str:
        for name, real in fill.items():
            value = value.replace(name, real)
        return value

    launches = [local_launch(p, deployment, str(python), filled, gpus_here) for p in deployment.processes]
    return {launch["name"]: launch for launch in share_gpus(launches, deployment.engine)}


def test_each_planned_node_runs_on_the_next_gpus_of_this_machine(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python3"
    dp = _launches(Asked(model="longcat-flash-chat", gpu="H200-141G", nodes=2, gpus_per_node=1,
                         engine_version="0.22.0"), python)  # fmt: skip
    head, other = dp["node-0"], dp["node-1"]
    assert (head["env"], other["env"]) == ({**head["env"], "CUDA_VISIBLE_DEVICES": "0"},
                                           {**other["env"], "CUDA_VISIBLE_DEVICES": "1"})  # fmt: skip
    for launch in (head, other):
        argv = launch["argv"]
        assert isinstance(argv, list) and argv[:2] == [str(python), "-m"] and argv[-2:] == ["--load-format", "dummy"]
        assert argv[argv.index("--data-parallel-address") + 1] == "127.0.0.1"
    assert "--headless" in other["argv"] and "--headless" not in head["argv"]


def test_a_pd_pair_gets_one_gpu_each_and_its_router_is_found_beside_the_engines_python(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3", "vllm-router"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    pd = _launches(Asked(model="longcat-flash-chat", gpu="H200-141G", gpus_per_node=2, engine_version="0.22.0",
                         prefill="gpus=1", decode="gpus=1"), bin_dir / "python3")  # fmt: skip
    assert pd["prefill0.node-0"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert pd["decode0.node-0"]["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    router = pd["router.node-0"]
    assert router["argv"][0] == str(bin_dir / "vllm-router") and router["gpus"] == []
    assert router["env"]["OPENAI_API_KEY"] == "k3y"
    # On one GPU both engines run on it, each with a part of its memory; the plan's own flags are all there.
    one = _launches(Asked(model="longcat-flash-chat", gpu="H200-141G", gpus_per_node=2, engine_version="0.22.0",
                          prefill="gpus=1", decode="gpus=1"), bin_dir / "python3", gpus_here=1)  # fmt: skip
    for name in ("prefill0.node-0", "decode0.node-0"):
        assert one[name]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
        assert one[name]["argv"][:-2] == pd[name]["argv"] and one[name]["argv"][-2:] == [
            "--gpu-memory-utilization",
            "0.41",
        ]
    assert one["router.node-0"]["argv"] == pd["router.node-0"]["argv"]


def test_instances_whose_ports_would_collide_on_one_machine_are_refused(tmp_path: Path) -> None:
    asked = Asked(model="longcat-flash-chat", gpu="H200-141G", nodes=2, gpus_per_node=1, engine_version="0.22.0",
                  prefill="nodes=1", decode="nodes=1")  # fmt: skip
    with pytest.raises(LcError, match="same port"):
        plan_canary(asked, tmp_path)


def test_stopping_an_engine_leaves_nothing_of_its_process_group() -> None:
    """A child that ignores SIGTERM and outlives its parent, as a DP worker stuck on a dead peer did on an H200."""
    child = subprocess.Popen(["bash", "-c", "(trap '' TERM; exec sleep 300) & sleep 0.3"], start_new_session=True)
    time.sleep(1)
    stop(child, grace_s=1)
    assert pids_in_group(child.pid) == []


def test_a_stalled_engine_is_reported_where_it_stopped_not_by_a_warning_that_names_an_error() -> None:
    """vLLM 0.20.0 without the FlashInfer advice on an H100 (docs/hardware): loaded, then silent until the deadline.
    Its log has no traceback, and a warning that quotes an OSError is not the cause."""
    log = HARDWARE.parent / "2026-11-24-h100-vllm-0.20.0-canary" / "fixed.log-tail.txt"
    assert first_error(log) is not None and "ulimit" in str(first_error(log))  # what the loose reading took
    assert first_error(log, loose=False) is None
    assert last_line(log).startswith("Model loading took 0.32 GiB memory")


def test_a_canary_ended_by_sigterm_still_stops_its_engines(tmp_path: Path) -> None:
    """A timeout around the canary (a lent machine's, a CI runner's) sends SIGTERM: the engines, in process groups
    of their own, must not outlive it on the GPUs. The 'engine' here starts and never answers."""
    engine = tmp_path / "python3"
    engine.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/engine.pid\nexec sleep 300\n")
    engine.chmod(0o755)
    script = (
        "import sys; from pathlib import Path\n"
        "from lc_cluster.canary.run import plan_canary, run_local\n"
        "from lc_cluster.deployment import Asked\n"
        "asked = Asked(model='longcat-flash-chat', gpu='H100-80G', gpus_per_node=1, engine_version='0.22.0')\n"
        "out = Path(sys.argv[1])\n"
        "run_local(plan_canary(asked, out / 'model'), sys.argv[2], out, timeout_s=300, gpus_here=1)\n"
    )
    canary = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(engine)])
    pid_file = tmp_path / "engine.pid"
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.1)
    group = int(pid_file.read_text())
    assert pids_in_group(group)
    canary.send_signal(signal.SIGTERM)
    assert canary.wait(timeout=30) == 128 + signal.SIGTERM
    assert pids_in_group(group) == []


def test_plan_serve_and_canary_take_the_same_planning_options() -> None:
    """One declaration: a planning option added once reaches all three, with the same name."""
    import typer.main

    from lc_cluster.cli import build
    from lc_cluster.cli.options import _PLAN_OPTIONS

    group = typer.main.get_command(build())
    flags = {}
    for name in ("plan", "serve", "canary"):
        command = group.commands[name]  # type: ignore[attr-defined]
        flags[name] = {o for p in command.params if p.name in {n for n, _, _ in _PLAN_OPTIONS} for o in p.opts}
    assert flags["plan"] == flags["serve"] == flags["canary"]
    assert {"--gpus-per-node", "--ready-timeout", "--kv-connector", "--with-advice"} <= flags["canary"]


def test_the_canary_refuses_a_cluster_before_anything_is_made(tmp_path: Path) -> None:
    done = cli("canary", "tiny", "--cluster", "prod", "--out", str(tmp_path / "c"))
    assert done.returncode == 2 and "drop --cluster" in done.stderr and not (tmp_path / "c").exists()


def test_a_missing_interpreter_is_named_before_anything_is_made(tmp_path: Path) -> None:
    out = str(tmp_path / "c")
    done = cli("canary", "tiny", "--gpu", "CPU-SANDBOX", "--python", "/nonexistent/python", "--out", out)
    assert done.returncode == 2 and "--python /nonexistent/python: no such interpreter" in done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(any(Path("/dev").glob("nvidia[0-9]*")), reason="this machine has an NVIDIA GPU")
def test_a_gpu_canary_on_a_machine_without_one_says_so(tmp_path: Path) -> None:
    done = cli("canary", "longcat-flash-chat", "--python", sys.executable, "--out", str(tmp_path / "c"))
    assert done.returncode == 1 and "this machine has no NVIDIA GPU" in done.stderr, done.stderr
    assert not (tmp_path / "c").exists()


def test_the_canarys_key_file_is_private(tmp_path: Path) -> None:
    """SGLang reads the key from a file: the canary writes it 0600, never through a link, as a node's job does.
    The 'engine' records the file's mode and exits."""
    engine = tmp_path / "python3"
    engine.write_text(f"#!/bin/sh\nstat -c %a {tmp_path}/out/api-key.yaml > {tmp_path}/mode\nexit 1\n")
    engine.chmod(0o755)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "out" / "api-key.yaml").symlink_to(tmp_path / "elsewhere")  # planted: must be replaced, not written
    script = (
        "import sys; from pathlib import Path\n"
        "from lc_cluster.canary.run import plan_canary, run_local\n"
        "from lc_cluster.deployment import Asked\n"
        "asked = Asked(model='longcat-flash-chat', gpu='H100-80G', gpus_per_node=1, engine='sglang')\n"
        "out = Path(sys.argv[1])\n"
        "run_local(plan_canary(asked, out / 'model'), sys.argv[2], out, timeout_s=60, gpus_here=1)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"), str(engine)], timeout=120, check=False)
    assert (tmp_path / "mode").read_text().strip() == "600"
    assert (tmp_path / "elsewhere").read_text() == ""
