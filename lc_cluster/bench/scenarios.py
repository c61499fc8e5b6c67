"""Named load shapes. Random prompts of fixed length with EOS ignored, so every run of a scenario asks for exactly the
same tokens and runs compare."""

from __future__ import annotations

from dataclasses import replace

from lc_cluster.engines.base import BenchLoad
from lc_cluster.errors import LcError

SCENARIOS = {
    "chat-short": BenchLoad(input_len=256, output_len=128, prompts=64, concurrency=16),
    "long-context": BenchLoad(input_len=32768, output_len=512, prompts=16, concurrency=4),
    # The LongCat-Flash seeds' serving setting: 5000-token contexts.
    "seed-5k": BenchLoad(input_len=5000, output_len=500, prompts=64, concurrency=32),
}


def load(name: str, **overrides: int | None) -> BenchLoad:
    """The scenario, with what the options change (None: the scenario's own)."""
    if name not in SCENARIOS:
        raise LcError(f"--scenario {name!r}: give one of {', '.join(SCENARIOS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    bad = [k for k, v in given.items() if v < 1]
    if bad:
        raise LcError(f"--{bad[0].replace('_', '-')} must be at least 1")
    return replace(SCENARIOS[name], **given)
