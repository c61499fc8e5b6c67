"""Every value reaches the shell as one literal word; only lc-cluster's run-time placeholders expand."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lc_cluster.rendering import literal_words, word, words

RUNTIME = {"HEAD_IP": "10.0.0.1", "NODE_IP": "10.0.0.2", "NODE_INDEX": "1", "SLURM_JOB_ID": "42"}


def shell_words(script_words: str) -> list[str]:
    """What bash makes of the rendered words, with the run-time variables set."""
    assignments = "; ".join(f"{k}={v}" for k, v in RUNTIME.items())
    done = subprocess.run(
        ["bash", "-c", f'{assignments}; for w in {script_words}; do printf "%s\\0" "$w"; done'],
        capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${HEAD_IP}", "10.0.0.1"),
        ("${HEAD_IP}:5000", "10.0.0.1:5000"),
        ("lc-${SLURM_JOB_ID}-${NODE_INDEX}", "lc-42-1"),
        ("$HEAD_IP", "$HEAD_IP"),
        ("${PATH}", "${PATH}"),
        ("$(touch /tmp/lc-pwned)", "$(touch /tmp/lc-pwned)"),
        ("a b; c", "a b; c"),
        ("it's", "it's"),
        ("two\nlines", "two\nlines"),
        ("", ""),
    ],
)
def test_word(value: str, expected: str) -> None:
    assert shell_words(word(value)) == [expected]


shell_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(shell_text, min_size=1, max_size=4))
def test_user_words_stay_literal_even_with_placeholders(values: list[str]) -> None:
    assert shell_words(literal_words(values)) == values


@settings(max_examples=200, deadline=None)
@given(st.lists(shell_text.filter(lambda t: "${" not in t), min_size=1, max_size=4))
def test_planned_words_without_placeholders_stay_literal(values: list[str]) -> None:
    assert shell_words(words(values)) == values
