"""Run inside an engine's or a router's own environment: parse each command line (JSON list of argv lists on stdin)
with that program's real argument parser, and print a JSON list of errors (null where the argv parsed).

SGLang runs from its wheel unpacked without dependencies (PYTHONPATH), in the CPU vLLM's environment, which has
torch, transformers and the rest its ServerArgs imports; the few modules a CPU has not are stubbed."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import json
import sys
import types
from collections.abc import Callable
from typing import Any


def _vllm_parser() -> Any:
    # A release's wheel run from PYTHONPATH in the CPU build's environment: its platform check reads the wheel's own
    # version, which names no device, so this machine's platform (the CPU) is given to it.
    import vllm.platforms
    from vllm.platforms.cpu import CpuPlatform

    vllm.platforms._current_platform = vllm.platforms._current_platform or CpuPlatform()
    # `vllm serve`'s parser has moved between releases: 0.33, 0.32, and before 0.12.
    for module in ("common", "launchers", "openai"):
        try:
            make_arg_parser = importlib.import_module(f"vllm.entrypoints.{module}.cli_args").make_arg_parser
            break
        except ModuleNotFoundError:
            continue
    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:
        from vllm.utils import FlexibleArgumentParser  # type: ignore[no-redef]

    return make_arg_parser(FlexibleArgumentParser())


def _vllm() -> Callable[[list[str]], Any]:
    parse: Callable[[list[str]], Any] = _vllm_parser().parse_args
    return parse


def aliases() -> None:
    """Every option string of vLLM's parser, grouped by the setting it writes (its dest)."""
    groups: dict[str, list[str]] = {}
    for option, action in _vllm_parser()._option_string_actions.items():
        groups.setdefault(action.dest, []).append(option)
    print(json.dumps(groups))


# Imported on the way to ServerArgs, needed by none of its options: a GPU build (triton, torchvision) or packages
# the CPU vLLM lacks. Only these are stubbed, so any other missing import still fails the test.
SGLANG_STUBBED = frozenset({"IPython", "orjson", "triton", "torchvision"})


class _Stub(types.ModuleType):
    """A module this CPU cannot import: each attribute is another stub."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return sys.modules.setdefault(f"{self.__name__}.{name}", _Stub(f"{self.__name__}.{name}"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # As a decorator (triton.jit) it gives the function back, as a decorator factory (triton.autotune(...)) a
        # decorator that does; asked for a value (triton's current target) it fails as a missing GPU would.
        if len(args) == 1 and not kwargs and callable(args[0]):
            return args[0]
        if args or kwargs:
            return lambda fn: fn
        raise RuntimeError(f"{self.__name__}() needs a GPU")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in SGLANG_STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _Stub(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _sglang() -> Callable[[list[str]], Any]:
    # transformers decides at import which optional packages exist; a stub torchvision (no version) would confuse it.
    from transformers import AutoProcessor  # noqa: F401

    sys.meta_path.append(_StubFinder())
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="sglang.launch_server")
    ServerArgs.add_cli_args(parser)
    parse: Callable[[list[str]], Any] = parser.parse_args
    return parse


def _router(module: str) -> Callable[[list[str]], Any]:
    parse: Callable[[list[str]], Any] = __import__(module, fromlist=["parse_router_args"]).parse_router_args
    return parse


def main(kind: str) -> None:
    parse = {"vllm": _vllm, "sglang": _sglang}.get(kind, lambda: _router(f"{kind}.launch_router"))()
    errors: list[str | None] = []
    for argv in json.load(sys.stdin):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                parse(argv)
            errors.append(None)
        except SystemExit:
            errors.append(stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else "exit")
    print(json.dumps(errors))


if __name__ == "__main__":
    aliases() if sys.argv[1] == "aliases" else main(sys.argv[1])
