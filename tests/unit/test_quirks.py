"""The quirk table: which plans each known defect touches, what the plan does about it, and the table's own rules."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lc_cluster.catalog import load_catalog
from tests.conftest import cli, plan_json

FP8 = ["longcat-flash-chat-fp8", "--gpu", "H20-141G"]


def _ids(doc: dict[str, object]) -> list[str]:
    quirks = doc["quirks"]
    assert isinstance(quirks, list)
    return [q["id"] for q in quirks]


def test_a_measured_release_gets_the_fix_on_every_node_with_its_evidence() -> None:
    doc = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--engine-version", "0.22.0")
    assert _ids(doc) == ["longcat-zero-expert-compile", "longcat-flashinfer-jit"]
    # 0.22.0 was measured with the cheaper fix: compilation off, CUDA graphs kept, on every node; eager nowhere.
    for process in doc["processes"]:
        at = process["argv"].index("--compilation-config")
        assert process["argv"][at + 1] == '{"mode":0,"cudagraph_mode":"FULL"}'
        assert "--enforce-eager" not in process["argv"]
    # Advice is shown, not applied.
    assert not any("--moe-backend" in p["argv"] for p in doc["processes"])
    assert not any("VLLM_USE_FLASHINFER_SAMPLER" in p["env"] for p in doc["processes"])
    compile_fix = doc["quirks"][0]
    assert compile_fix["verified"] == "measured on 0.22.0" and "H100" in compile_fix["evidence"]
    assert compile_fix["args"] == ["--compilation-config", '{"mode":0,"cudagraph_mode":"FULL"}']
    assert "19,010" in compile_fix["cost"] and "2.6x" in compile_fix["cost"]
    assert all(q["cost"] is None for q in doc["quirks"][1:])  # advice has no measured cost


def test_releases_where_the_cheaper_fix_was_not_run_keep_eager_and_say_what_it_costs() -> None:
    for release in ("0.20.2", "0.22.1", "0.23.1"):
        doc = plan_json(*FP8, "--engine-version", release)
        assert "--enforce-eager" in doc["processes"][0]["argv"], release
        assert "--compilation-config" not in doc["processes"][0]["argv"], release
        assert "2.6x slower" in doc["quirks"][0]["cost"] and "(0.22.0, 0.23.0)" in doc["quirks"][0]["cost"]
    shown = cli("plan", *FP8, "--engine-version", "0.20.2")
    assert shown.returncode == 0 and "Cost: decode about 2.6x slower than with CUDA graphs kept" in shown.stdout


def test_releases_inside_a_range_but_not_run_say_so() -> None:
    doc = plan_json(*FP8, "--engine-version", "0.23.1")
    assert doc["quirks"][0]["verified"] == (
        "measured on 0.20.0, 0.20.1, 0.20.2, 0.21.0, 0.22.0, 0.22.1, 0.23.0 only; 0.23.1 is inferred, not run"
    )


def test_no_quirks_shows_the_raw_command() -> None:
    raw = plan_json(*FP8, "--engine-version", "0.22.0", "--no-quirks")
    assert raw["quirks"] == [] and "--compilation-config" not in raw["processes"][0]["argv"]
    assert "--enforce-eager" not in plan_json(*FP8, "--engine-version", "0.20.2", "--no-quirks")["processes"][0]["argv"]


def test_releases_outside_every_range_and_other_models_are_untouched() -> None:
    assert plan_json(*FP8, "--engine-version", "0.19.1")["quirks"] == []
    assert plan_json("longcat-flash-lite", "--gpu", "H100-80G", "--engine-version", "0.22.0")["quirks"] == []
    assert plan_json(*FP8, "-e", "sglang")["quirks"] == []


def test_mtp_advice_only_with_mtp() -> None:
    assert "longcat-mtp-strict-config" not in _ids(plan_json(*FP8, "--engine-version", "0.22.0"))
    assert "longcat-mtp-strict-config" in _ids(plan_json(*FP8, "--engine-version", "0.22.0", "--mtp"))


@pytest.mark.parametrize("release", ["0.24.0", "0.25.0"])
def test_a_release_that_cannot_load_the_model_is_refused_before_anything_runs(release: str) -> None:
    # 0.24.0 was measured (2026-11-24) to fail as 0.25.0 does; 0.23.0 is the newest release that loads it.
    done = cli("plan", *FP8, "--engine-version", release)
    assert done.returncode == 2
    assert f"does not run on vllm {release}" in done.stderr and "'MoERunner' object has no attribute" in done.stderr
    assert "use --engine-version 0.23.0" in done.stderr
    assert cli("plan", *FP8, "--engine-version", release, "--no-quirks").returncode == 0
    assert "longcat-zero-expert-compile" in _ids(plan_json(*FP8, "--engine-version", "0.23.0"))
    # 0.20.0 to 0.21.0 were measured too: the same Dynamo failure without the fix, and on 0.20.0 the FlashInfer stall.
    for release in ("0.20.0", "0.20.2", "0.21.0"):
        assert _ids(plan_json(*FP8, "--engine-version", release)) == [
            "longcat-zero-expert-compile",
            "longcat-flashinfer-jit",
        ]


def test_every_entry_of_the_table_is_consistent() -> None:
    catalog = load_catalog()
    families = {m.family for m in catalog.models.values()}
    ids = [q.id for q in catalog.quirks]
    assert len(ids) == len(set(ids))
    for quirk in catalog.quirks:
        assert set(quirk.families) <= families, quirk.id
        assert quirk.verified, f"{quirk.id}: an entry names the releases it was measured on"
        assert all(SpecifierSet(quirk.versions).contains(Version(v)) for v in quirk.verified), quirk.id
        assert quirk.evidence.startswith("20") or "github.com" in quirk.evidence, f"{quirk.id}: a dated run or issue"
        # A refusal read in released code names the file it was read in.
        assert quirk.basis == "run" or ("released wheels" in quirk.evidence and ".py" in quirk.evidence), quirk.id
        if quirk.action == "fix":
            assert quirk.args or quirk.env, quirk.id
            assert quirk.cost, f"{quirk.id}: a fix says what it costs"
        if quirk.cheaper:
            assert quirk.action == "fix" and set(quirk.cheaper.releases) <= set(quirk.verified), quirk.id
            assert "docs/hardware/" in quirk.cheaper.cost, f"{quirk.id}: a cheaper fix names its measurement"
        if quirk.action == "refuse":
            assert quirk.instead and quirk.instead.startswith("use "), quirk.id


SGLANG = ["longcat-flash-chat", "--engine", "sglang", "--gpu", "H800-80G", "--nodes", "2"]


def test_deepep_is_asked_for_by_the_plan_option_not_by_an_engine_argument() -> None:
    """--a2a plans DeepEP (its per-role mode with it); the engine's own flag may not slip past the plan."""
    for spelling in (
        ["--engine-arg=--moe-a2a-backend", "--engine-arg=deepep"],
        ["--engine-arg=--moe-a2a-backend=deepep"],
    ):
        done = cli("plan", *SGLANG, "--engine-version", "0.5.16", *spelling)
        assert done.returncode == 2 and "would change what lc-cluster plans (--moe-a2a-backend)" in done.stderr


@pytest.mark.parametrize(
    ("release", "args", "refused"),
    [
        # DeepEP reads LongCat-Flash's moe_topk only from 0.5.16 (read in 0.5.15's and 0.5.16's scheduler.py).
        ("0.5.15", ["--a2a", "deepep"], "sglang-longcat-deepep-moe-topk"),
        ("0.5.16", ["--a2a", "deepep"], None),
        ("0.5.15", [], None),
        # No operations strategy for its decoder layer, on any release read; SBO never wired into its model.
        ("0.5.17", ["--engine-arg=--enable-two-batch-overlap"], "sglang-longcat-two-batch-overlap"),
        ("0.5.23", ["--engine-arg=--enable_two_batch_overlap"], "sglang-longcat-two-batch-overlap"),
        ("0.5.17", ["--engine-arg=--enable-single-batch-overlap"], "sglang-longcat-single-batch-overlap"),
        ("0.5.17", [], None),
    ],
)
def test_sglang_features_longcat_flash_lacks_are_refused_by_the_flag_that_asks_for_them(
    release: str, args: list[str], refused: str | None
) -> None:
    done = cli("plan", *SGLANG, "--engine-version", release, *args)
    if refused is None:
        assert done.returncode == 0, done.stderr
        return
    quirk = next(q for q in load_catalog().quirks if q.id == refused)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"does not run on sglang {release} with {' or '.join(quirk.flags)}" in done.stderr
    assert "read in the released code of" in done.stderr and quirk.instead in done.stderr
    # The same command with the flag left out plans; with --no-quirks it plans anyway.
    assert cli("plan", *SGLANG, "--engine-version", release, *args, "--no-quirks").returncode == 0


def test_a_flag_condition_needs_its_flags_and_flags_need_the_condition() -> None:
    from pydantic import ValidationError

    from lc_cluster.catalog.schema import Quirk

    base = {"id": "x", "engine": "sglang", "versions": ">=0.5.0", "verified": ["0.5.17"], "families": ["f"],
            "action": "refuse", "symptom": "s", "evidence": "2026-12-07", "instead": "use y"}  # fmt: skip
    for bad in ({"when": "flags"}, {"flags": ["--x"]}, {"when": "mtp", "flags": ["--x"]}):
        with pytest.raises(ValidationError):
            Quirk.model_validate({**base, **bad})
    assert Quirk.model_validate({**base, "when": "flags", "flags": ["--x"]}).flags == ("--x",)


def test_given_flags_reads_both_spellings_of_a_value_and_underscores() -> None:
    from lc_cluster.planning.quirks import given_flags

    assert given_flags(("--moe_a2a_backend", "deepep", "--tp", "8", "--enable-x", "--y=1")) == {
        "--moe-a2a-backend", "--moe-a2a-backend=deepep", "--tp", "--tp=8", "--enable-x", "--y", "--y=1",
    }  # fmt: skip
