"""Monitoring on the sandbox: a ready job writes its engines' targets where Prometheus (Debian's package) reads them,
Prometheus scrapes the real vLLM engine, `status` shows the engine's own load, and the targets go with the job."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.host import apt_install, missing_packages
from tests.conftest import cli
from tests.integration.conftest import HUB, in_hub, wait_for

PROMETHEUS = "127.0.0.1:9099"


@pytest.fixture
def prometheus(sandbox: dict[str, Any], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Debian's Prometheus in the sandbox's login namespace, reading file_sd targets from a folder; and a cluster
    file whose jobs write theirs there."""
    apt_install(missing_packages(["prometheus"]))
    targets = tmp_path / "targets"
    targets.mkdir()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "lc-cluster", "file_sd_configs": [
            {"files": [str(targets / "*.json")], "refresh_interval": "1s"}]}],
    }))  # fmt: skip
    doc = yaml.safe_load(Path(sandbox["cluster_file"]).read_text())
    doc["paths"]["scrape_dir"] = str(targets)
    cluster = tmp_path / "monitored.yaml"
    cluster.write_text(yaml.safe_dump(doc))
    server = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{HUB}", "prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address={PROMETHEUS}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield str(cluster), targets
    finally:
        server.terminate()
        server.wait(30)


def _query(expr: str) -> list[dict[str, Any]]:
    url = f"http://{PROMETHEUS}/api/v1/query?query={urllib.parse.quote(expr)}"
    out = in_hub("curl", "-s", "-m", "5", url)
    result: list[dict[str, Any]] = json.loads(out)["data"]["result"] if out else []
    return result


def test_prometheus_scrapes_a_jobs_engine_and_status_shows_its_load(prometheus: tuple[str, Path]) -> None:
    cluster, targets = prometheus
    done = cli("serve", "tiny", "--cluster", cluster, "--nodes", "2", "--gpus-per-node", "1", "--json", timeout=600)
    job = json.loads(done.stdout)
    assert done.returncode == 0, job
    try:
        written = json.loads((targets / f"lc-{job['job_id']}.json").read_text())
        assert written[0]["targets"] == [job["endpoint"].removeprefix("http://")]
        assert written[0]["labels"]["role"] == "serve" and written[0]["labels"]["model"] == "tiny"
        assert cli("ask", job["job_id"], "Hello", timeout=120).returncode == 0

        # Until its next scrape after the request, Prometheus may still hold a sample from before it.
        def served() -> list[dict[str, Any]]:
            samples = _query('vllm:request_success_total{model="tiny"}')
            return samples if sum(float(s["value"][1]) for s in samples) >= 1 else []

        samples = wait_for(served, 60, "Prometheus to scrape the served request")
        assert {s["metric"]["lc_instance"] for s in samples} == {"0"}

        status = json.loads(cli("status", job["job_id"], "--json").stdout)["job"]
        (load,) = status["load"]
        assert load["role"] == "serve" and load["running"] == 0 and load["waiting"] == 0
        assert 0 <= load["kv_usage"] <= 1
        shown = cli("status", job["job_id"]).stdout
        assert "0 running, 0 waiting, KV cache" in shown
    finally:
        cli("stop", job["job_id"], timeout=120)
    wait_for(lambda: not (targets / f"lc-{job['job_id']}.json").exists(), 30, "the job's targets to go")
