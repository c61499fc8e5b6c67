"""Named load shapes. Random prompts of fixed length with EOS ignored, so every run of a scenario asks for exactly the
same tokens and runs compare."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from lc_cluster.engines.base import BenchLoad
from lc_cluster.errors import LcError

SCENARIOS = {
    "chat-short": BenchLoad(input_len=256, output_len=128, prompts=64, concurrency=16),
    "long-context": BenchLoad(input_len=32768, output_len=512, prompts=16, concurrency=4),
    # Many short requests at once: decode throughput, where CUDA graphs and compile settings show.
    "decode-heavy": BenchLoad(input_len=512, output_len=128, prompts=256, concurrency=64),
    # The LongCat-Flash seeds' serving setting: 5000-token contexts.
    "seed-5k": BenchLoad(input_len=5000, output_len=500, prompts=64, concurrency=32),
}


# Both clients send chat requests, and the model's chat template wraps every prompt in role markers and special
# tokens that the lengths do not count: room for them stays free of the job's context.
CHAT_TEMPLATE_TOKENS = 64
_LENGTHS = ("input_len", "output_len")


def load(name: str, overrides: Mapping[str, int | None] | None = None, option: str = "--scenario") -> BenchLoad:
    """The scenario (given with OPTION), with the OVERRIDES the options give (None: the scenario's own)."""
    if name not in SCENARIOS:
        raise LcError(f"{option} {name!r}: give one of {', '.join(SCENARIOS)}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = [k for k, v in given.items() if v < 1]
    if bad:
        raise LcError(f"--{bad[0].replace('_', '-')} must be at least 1")
    return replace(SCENARIOS[name], **given)


def fit(load: BenchLoad, context: int, given: Collection[str]) -> BenchLoad:
    """LOAD fitted to a job whose requests hold CONTEXT tokens at most: the lengths (input_len, output_len) not GIVEN
    by the user shrink in proportion to fit beside those given; lengths given that leave no room are refused."""
    room = context - CHAT_TEMPLATE_TOKENS
    if load.input_len + load.output_len <= room:
        return load
    free = [k for k in _LENGTHS if k not in given]
    left = room - sum(getattr(load, k) for k in _LENGTHS if k in given)
    if not free or left < len(free):
        asked = " ".join(f"--{k.replace('_', '-')} {getattr(load, k)}" for k in _LENGTHS if k in given)
        raise LcError(
            f"{asked or 'the scenario'}: too long for the job's {context}-token context; give --input-len + "
            f"--output-len <= {room} ({CHAT_TEMPLATE_TOKENS} tokens are kept for the chat template)"
        )
    scale = left / sum(getattr(load, k) for k in free)
    return replace(load, **{k: max(1, int(getattr(load, k) * scale)) for k in free})
