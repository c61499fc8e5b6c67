"""The --json contracts: each schema is a valid JSON Schema, every planned example keeps to the plan's, and a shape
changes only with its version."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jsonschema
import pytest

from lc_cluster import schemas
from lc_cluster.catalog import load_catalog
from lc_cluster.deployment import Asked, deploy, minimum_hardware, resolve
from lc_cluster.engines import ENGINES
from tests.conftest import cli, plan_json

FINGERPRINTS = Path(__file__).with_name("golden") / "schema-fingerprints.json"
README = Path(__file__).parents[2] / "README.md"


def _fingerprint(kind: schemas.Kind) -> str:
    # The shape without its version: a change to one must come with a change to the other.
    doc = json.loads(schemas.path(kind).read_text())
    doc["properties"].pop("schema_version")
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_each_schema_is_a_valid_draft_2020_12_schema(kind: schemas.Kind) -> None:
    jsonschema.Draft202012Validator.check_schema(schemas.schema(kind))
    assert schemas.schema(kind)["properties"]["schema_version"]["const"] == schemas.version(kind) >= 1


def test_a_shape_changes_only_with_its_version() -> None:
    """Regenerate with LC_UPDATE_SCHEMA_FINGERPRINTS=1 after raising the changed schema's version."""
    now = {kind: {"version": schemas.version(kind), "shape": _fingerprint(kind)} for kind in schemas.KINDS}
    if os.environ.get("LC_UPDATE_SCHEMA_FINGERPRINTS"):
        FINGERPRINTS.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
    known = json.loads(FINGERPRINTS.read_text())
    for kind, entry in now.items():
        before = known.get(kind)
        assert before is not None, f"{kind}: new schema, record its fingerprint"
        if before["shape"] != entry["shape"]:
            assert entry["version"] > before["version"], f"{kind}.json changed shape: raise its schema_version"
        else:
            assert entry["version"] == before["version"], f"{kind}.json's version changed with no change of shape"


def test_the_check_catches_a_changed_shape() -> None:
    """The control: the suite's check (on in every test) refuses a plan that renames a field."""
    doc = plan_json("tiny", "--gpu", "CPU-SANDBOX")
    doc["layout"] = doc["instances"][0].pop("layout")
    with pytest.raises(jsonschema.ValidationError):
        schemas.check("plan", doc)


def _examples() -> list[list[str]]:
    catalog = load_catalog()
    found = []
    for name, model in sorted(catalog.models.items()):
        for engine in ENGINES:
            for hardware in minimum_hardware(model, catalog, engine)[:2]:
                nodes, per_node, gpu = hardware.split(" x ")
                found.append([name, "-e", engine, "--gpu", gpu, "--nodes", nodes, "--gpus-per-node", per_node])
    return found


@pytest.mark.parametrize("args", _examples(), ids=lambda a: "-".join(a[:3] + a[4:7:2]))
def test_every_catalog_plan_keeps_to_the_plan_schema(args: list[str]) -> None:
    doc = plan_json(*args)
    schemas.check("plan", doc)  # plan_json's CLI run checked it too; this one cannot be switched off
    assert doc["schema_version"] == schemas.version("plan")
    jsonschema.validate(doc, schemas.schema("plan"))


@pytest.mark.parametrize(
    "args",
    [
        [
            "deepseek-v4-flash",
            "--gpu",
            "H200",
            "--prefill",
            "gpus=4,dp=4",
            "--decode",
            "gpus=4,dp=4",
            "--kv-connector",
            "mooncake",
        ],
        [
            "longcat-flash-chat",
            "-e",
            "sglang",
            "--gpu",
            "H800",
            "--nodes",
            "4",
            "--prefill",
            "nodes=2",
            "--decode",
            "nodes=2",
        ],
        ["longcat-flash-lite", "--gpu", "H100", "--replicas", "4"],
    ],
)
def test_multi_instance_plans_list_each_instance_with_its_own_layout(args: list[str]) -> None:
    doc = plan_json(*args)
    jsonschema.validate(doc, schemas.schema("plan"))
    names = [p["name"] for p in doc["processes"]]
    listed = [n for inst in doc["instances"] for n in inst["processes"]]
    assert sorted(listed) == sorted(n for n in names if not n.startswith("router"))
    for inst in doc["instances"]:
        layout = inst["layout"]
        assert layout["tp"] * layout["pp"] * layout["dp"] == layout["nodes"] * layout["gpus_per_node"]


def test_errors_are_json_only_where_json_was_asked_for() -> None:
    refused = cli("plan", "nope", "--gpu", "H100", "--json")
    assert refused.returncode == 2
    error = json.loads(refused.stdout)
    assert error["kind"] == "input" and error["schema_version"] == schemas.version("error")
    # '--json' as another option's value is that option's value, not JSON mode.
    literal = cli("plan", "nope", "--gpu", "H100", "--engine-arg", "--json")
    assert literal.returncode == 2 and literal.stdout == "" and literal.stderr.startswith("error: unknown model")


def test_the_readme_links_every_schema() -> None:
    text = README.read_text()
    for kind in schemas.KINDS:
        assert f"lc_cluster/schemas/{kind}.json" in text


def test_deployment_and_plan_json_agree() -> None:
    request = resolve(Asked(model="tiny", gpu="CPU-SANDBOX"), None)
    assert deploy(request).as_dict() == plan_json("tiny", "--gpu", "CPU-SANDBOX")


def test_every_json_output_names_its_contract() -> None:
    """Each emit_json in the CLI passes the kind of its schema, so the suite checks the document and it carries a
    version: an output added without one fails here."""
    import ast

    unnamed = []
    for path in sorted((Path(schemas.__file__).parents[1] / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "emit_json" and len(node.args) < 2:
                unnamed.append(f"{path.name}:{node.lineno}")
    assert unnamed == []


@pytest.mark.parametrize(
    ("args", "kind"),
    [(["models", "--json"], "models"), (["gpus", "--json"], "gpus"),
     (["sandbox", "status", "--name", "lcnone", "--json"], "sandbox")],
)  # fmt: skip
def test_catalog_and_sandbox_outputs_keep_to_their_schemas(args: list[str], kind: schemas.Kind) -> None:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema_version"] == schemas.version(kind)
    jsonschema.validate(doc, schemas.schema(kind))
