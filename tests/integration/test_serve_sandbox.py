"""serve / ask / status / stop against the real sandbox: real Slurm, real namespaces, a real CPU vLLM."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.sandbox.topology import Topology
from tests.conftest import cli
from tests.integration.conftest import (
    HUB,
    SANDBOX,
    in_hub,
    job_processes,
    queue,
    sandbox_root,
    wait_for,
    with_recorder,
)
from tests.unit.argv import golden, options

VLLM_DP2 = ["serve", "tiny", "--cluster", SANDBOX, "--nodes", "2", "--gpus-per-node", "1", "--json"]


def _serve(*args: str, timeout: float = 600) -> dict[str, Any]:
    result = cli(*args, timeout=timeout)
    assert result.stdout, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    doc["returncode"] = result.returncode
    return doc


def _cmd(job: dict[str, Any], node: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(job["log_dir"]) / f"node-{node}.cmd.json").read_text())
    return doc


def _api_key(job_id: str) -> str:
    """The key `serve` made for the job, from the record in the state directory."""
    jobs = Path(os.environ["LC_CLUSTER_STATE"]) / "jobs"
    for path in jobs.glob("*.json"):
        record = json.loads(path.read_text())
        if record["job_id"] == job_id:
            key_file = jobs / f"{record['token']}.key"
            assert key_file.stat().st_mode & 0o777 == 0o600
            return key_file.read_text().strip()
    raise AssertionError(f"no record of job {job_id}")


def _assert_secret_nowhere(job: dict[str, Any], secret: str) -> None:
    """Not in the job's files, the state directory's records, the batch script, Slurm's output file, or any
    process's command line on this machine. Two files exist to hold it: api-key.yaml, and the recorder's dump of
    its whole environment (a stand-in's, no engine's)."""
    job_dir = Path(job["log_dir"])
    state = Path(os.environ["LC_CLUSTER_STATE"]) / "jobs"
    files = [p for p in job_dir.iterdir() if p.name != "api-key.yaml" and not p.name.startswith("recorded-")]
    files += [p for p in state.glob("*") if p.suffix != ".key"]
    files += list(job_dir.parent.glob(f"*{job['job_id']}*"))
    for path in files:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the API key is in {path}"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret.encode() not in cmdline.read_bytes(), f"the API key is in the argv of {cmdline.parent}"
        except OSError:
            continue


def _stop(job_id: str) -> None:
    result = cli("stop", job_id, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert job_id not in queue()
    assert job_processes(job_id) == [], "an engine process outlived its job"


def test_vllm_dp2_answers_through_the_head_and_both_ranks_serve(sandbox: dict[str, Any]) -> None:
    job = _serve(*VLLM_DP2)
    assert job["returncode"] == 0, job
    assert job["state"] == "READY"
    head, worker = (node["ip"] for node in sandbox["nodes"])
    assert job["endpoint"] == f"http://{head}:8000"

    node0, node1 = _cmd(job, 0)["argv"], _cmd(job, 1)["argv"]
    assert "--headless" not in node0 and "--data-parallel-start-rank" not in node0
    assert node1[node1.index("--data-parallel-start-rank") + 1] == "1" and "--headless" in node1
    for argv in (node0, node1):
        assert argv[argv.index("--data-parallel-address") + 1] == head
    assert _cmd(job, 0)["env"]["VLLM_HOST_IP"] == head
    assert _cmd(job, 1)["env"]["VLLM_HOST_IP"] == worker
    # Nothing pins the NICs: each node took them from its facts file (the interface that carries its address, the
    # HCAs whose ports are Active), and its command record says so.
    for node in (0, 1):
        derived = {"NCCL_SOCKET_IFNAME": "eth0", "GLOO_SOCKET_IFNAME": "eth0", "NCCL_IB_HCA": "=mlx5_0,mlx5_1"}
        assert _cmd(job, node)["derived"] == derived
        assert derived.items() <= _cmd(job, node)["env"].items()

    for i in range(8):
        asked = cli("ask", job["job_id"], f"question {i}", "--json", timeout=120)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["usage"]["completion_tokens"] > 0
    # The server wants the job's key, which `ask` sent and which no file, log or command line shows.
    key = _api_key(job["job_id"])
    models = f"{job['endpoint']}/v1/models"
    assert in_hub("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", models) == "401"
    assert "tiny" in in_hub("curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {key}", models)
    assert _cmd(job, 0)["env"]["VLLM_API_KEY"] == "${LC_API_KEY}"
    _assert_secret_nowhere(job, key)
    # Each DP rank counts what it finished; the head's API server spreads requests over both.
    metrics = in_hub("curl", "-s", "-m", "10", f"{job['endpoint']}/metrics")
    served: dict[str, float] = {}
    for engine, value in re.findall(r'^vllm:request_success_total\{engine="(\d+)"[^}]*\} ([\d.]+)$', metrics, re.M):
        served[engine] = served.get(engine, 0.0) + float(value)
    assert served.get("0", 0) > 0 and served.get("1", 0) > 0, served

    worker_log = cli("logs", job["job_id"], "--node", "1", "--lines", "5")
    assert worker_log.returncode == 0
    assert worker_log.stdout.splitlines() == (Path(job["log_dir"]) / "node-1.log").read_text().splitlines()[-5:]

    status = json.loads(cli("status", job["job_id"], "--json").stdout)["job"]
    assert {k: status[k] for k in ("job_id", "state", "endpoint", "log_dir")} == {
        "job_id": job["job_id"], "state": "RUNNING", "endpoint": job["endpoint"], "log_dir": job["log_dir"],
    }  # fmt: skip
    _stop(job["job_id"])


def test_a_killed_engine_ends_the_job_and_serve_reports_that_node(sandbox: dict[str, Any]) -> None:
    state_dir = sandbox_root() / "jobs"
    earlier = {p.name for p in state_dir.glob("*")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "lc_cluster", *VLLM_DP2], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    job_id = wait_for(
        lambda: next((p.parent.name for p in state_dir.glob("*/node-1.pid") if p.parent.name not in earlier), None),
        120,
        "node 1's engine to start",
    )
    pid = int((state_dir / job_id / "node-1.pid").read_text())
    log = state_dir / job_id / "node-1.log"
    wait_for(lambda: log.exists() and log.stat().st_size > 0, 120, "node 1's engine to log its start-up")
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    out, err = serve.communicate(timeout=120)
    assert time.monotonic() - killed_at < 60
    assert serve.returncode != 0, err
    doc = json.loads(out)
    assert doc["state"] == "FAILED" and doc["failed_node"] == 1, doc
    assert "killed by SIGKILL" in doc["message"]
    engine_log = log.read_text().splitlines()
    assert doc["log_tail"] and doc["log_tail"] == engine_log[-len(doc["log_tail"]) :], "not node 1's log tail"
    wait_for(lambda: job_id not in queue(), 60, "the job to leave the queue")
    assert job_processes(job_id) == [], "an engine process outlived its job"


def test_a_deadline_too_short_is_a_clear_timeout(sandbox: dict[str, Any]) -> None:
    args = ["serve", "tiny", "--cluster", SANDBOX, "--gpus-per-node", "1", "--ready-timeout", "5", "--json"]
    doc = _serve(*args)
    assert doc["returncode"] == 1
    assert doc["state"] == "TIMEOUT"
    assert "not ready within 5 s" in doc["message"]
    wait_for(lambda: doc["job_id"] not in queue(), 60, "the job to leave the queue")
    assert job_processes(doc["job_id"]) == []


def _recorded(job: dict[str, Any], hostname: str) -> dict[str, Any]:
    path = Path(job["log_dir"]) / f"recorded-{hostname}.json"
    data: dict[str, Any] = wait_for(lambda: path.exists() and json.loads(path.read_text()), 30, str(path))
    return data


def test_sglang_two_nodes_run_the_guides_command_with_real_ips_and_ranks(
    sandbox: dict[str, Any], recorder_cluster: str
) -> None:
    job = _serve("serve", "longcat-flash-chat", "-e", "sglang", "--cluster", recorder_cluster, "--nodes", "2",
                 "--engine-version", "guide", "--json")  # fmt: skip
    assert job["returncode"] == 0, job
    head = sandbox["nodes"][0]["ip"]
    for index, node in enumerate(sandbox["nodes"]):
        expected = golden("sglang-multi-node-bf16", MASTER_IP=head, NODE_RANK=str(index))
        assert options(_cmd(job, index)["argv"]) == options(expected)
        received = _recorded(job, node["name"])
        assert received["argv"] == _cmd(job, index)["argv"], "the engine did not get the recorded command"
        assert received["env"]["SGLANG_HOST_IP"] == node["ip"]
        assert received["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    _stop(job["job_id"])


HOSTILE = ["--served-model-name=a b", "$(touch /tmp/lc-pwned)", "`touch /tmp/lc-pwned`", "it's; rm -rf /tmp/x",
           "two\nlines", "${HEAD_IP}\"'"]  # fmt: skip


def test_hostile_engine_arguments_arrive_literally(sandbox: dict[str, Any], recorder_cluster: str) -> None:
    Path("/tmp/lc-pwned").unlink(missing_ok=True)
    args = [a for value in HOSTILE for a in ("--engine-arg", value)]
    job = _serve(
        "serve", "longcat-flash-chat", "-e", "sglang", "--cluster", recorder_cluster, "--nodes", "2", *args, "--json"
    )
    assert job["returncode"] == 0, job
    for node in sandbox["nodes"]:
        assert _recorded(job, node["name"])["argv"][-len(HOSTILE) :] == HOSTILE
    assert not Path("/tmp/lc-pwned").exists()
    # SGLang reads the key from the job's private config file, named in its argv; the key itself is nowhere else.
    config = Path(job["log_dir"]) / "api-key.yaml"
    argv = _recorded(job, sandbox["nodes"][0]["name"])["argv"]
    assert argv[argv.index("--config") + 1] == str(config)
    assert config.stat().st_mode & 0o777 == 0o600
    key = _api_key(job["job_id"])
    assert yaml.safe_load(config.read_text()) == {"api-key": key}
    _assert_secret_nowhere(job, key)
    _stop(job["job_id"])


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["serve", "no-such-model"], "unknown model"),
        (["serve", "tiny; touch /tmp/lc-pwned"], "not allowed"),
        (["serve", "tiny", "--nodes", "2", "--tp", "3"], "does not divide"),
        (["serve", "tiny", "--engine-arg", "--data-parallel-size=4"], "would change what lc-cluster plans"),
        (["serve", "tiny", "--gpus-per-node", "9"], "have 8 GPUs"),
        (["serve", "longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G"], "at least 2 nodes"),
    ],
)
def test_bad_input_is_refused_before_anything_is_submitted(
    sandbox: dict[str, Any], args: list[str], reason: str
) -> None:
    before = queue()
    result = cli(*args, "--cluster", SANDBOX)
    assert result.returncode == 2
    assert reason in result.stderr
    assert queue() == before == []
    assert not Path("/tmp/lc-pwned").exists()


def test_a_misspelt_cluster_file_key_is_refused(sandbox: dict[str, Any], tmp_path: Path) -> None:
    text = Path(sandbox["cluster_file"]).read_text().replace("time_limit:", "time_limt:")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    result = cli("serve", "tiny", "--cluster", str(path))
    assert result.returncode == 2
    assert "unknown key 'slurm.time_limt' (did you mean 'time_limit'?)" in result.stderr
    assert queue() == []


def test_sandbox_up_again_is_idempotent_and_fast(sandbox: dict[str, Any]) -> None:
    start = time.monotonic()
    result = cli("sandbox", "up", "--name", SANDBOX, "--nodes", "2", "--gpus-per-node", "8", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "already up" in result.stderr
    assert time.monotonic() - start < 30
    status = json.loads(cli("sandbox", "status", "--name", SANDBOX, "--json").stdout)
    assert status["up"] and [n["state"] for n in status["nodes"]] == ["idle", "idle"]


def test_a_sandbox_run_from_elsewhere_is_refused_and_one_a_killed_run_left_is_reclaimed(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    other = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}

    def up(name: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "lc_cluster", "sandbox", "up", "--name", name, "--nodes", "1", "--json"]
        return subprocess.run(argv, env=other, capture_output=True, text=True, timeout=300, check=False)

    # The tests' sandbox runs under the tests' state directory: a second set of daemons there would break it.
    refused = up(SANDBOX)
    assert refused.returncode == 2, refused.stderr
    assert "already up under another state directory" in refused.stderr
    status = json.loads(cli("sandbox", "status", "--name", SANDBOX, "--json").stdout)
    assert [n["state"] for n in status["nodes"]] == ["idle", "idle"]
    # A run killed with its processes leaves its namespaces mounted and empty (a CI run once failed on that).
    stale = Topology.named("lcstale")
    for netns in (stale.hub, stale.nodes(1)[0].netns):
        subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        reclaimed = up(stale.name)
        assert reclaimed.returncode == 0, reclaimed.stderr
        assert "left behind" in reclaimed.stderr
        assert [n["state"] for n in json.loads(reclaimed.stdout)["nodes"]] == ["idle"]
    finally:
        subprocess.run([sys.executable, "-m", "lc_cluster", "sandbox", "down", "--name", stale.name], env=other,
                       capture_output=True, timeout=300, check=False)  # fmt: skip
    assert not Path("/run/netns", stale.hub).exists()


def test_without_an_interface_nodes_still_avoid_the_loopback_hostname(
    sandbox: dict[str, Any], recorder_cluster: str, tmp_path: Path
) -> None:
    doc = yaml.safe_load(Path(recorder_cluster).read_text())
    del doc["network"]["service_interface"]
    path = tmp_path / "no-interface.yaml"
    path.write_text(yaml.safe_dump(doc))
    job = _serve("serve", "longcat-flash-chat", "-e", "sglang", "--cluster", str(path), "--nodes", "2", "--json")
    assert job["returncode"] == 0, job
    for index, node in enumerate(sandbox["nodes"]):
        received = _recorded(job, node["name"])
        assert received["hostname_resolves_to"] == "127.0.1.1"  # the trap is there
        assert _cmd(job, index)["node_ip"] == received["env"]["SGLANG_HOST_IP"] == node["ip"]
        assert f"{sandbox['nodes'][0]['ip']}:5000" in received["argv"]
    _stop(job["job_id"])


def test_no_wait_returns_at_once_and_status_follows_the_job(sandbox: dict[str, Any], recorder_cluster: str) -> None:
    start = time.monotonic()
    job = _serve("serve", "longcat-flash-chat", "-e", "sglang", "--cluster", recorder_cluster, "--nodes", "2",
                 "--no-wait", "--json")  # fmt: skip
    assert job["returncode"] == 0 and job["state"] == "SUBMITTED"
    assert time.monotonic() - start < 10
    ready = wait_for(
        lambda: (s := json.loads(cli("status", job["job_id"], "--json").stdout)["job"])["phase"] == "ready" and s,
        60,
        "ready",
    )
    assert ready["state"] == "RUNNING" and ready["endpoint"] == f"http://{sandbox['nodes'][0]['ip']}:30000"
    listed = json.loads(cli("status", "--json").stdout)["jobs"]
    assert job["job_id"] in [j["job_id"] for j in listed]

    # --follow keeps printing the node's log while the job runs, and returns by itself once the job has ended.
    follow = subprocess.Popen([sys.executable, "-m", "lc_cluster", "logs", job["job_id"], "--node", "1", "--follow"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2)
    assert follow.poll() is None, "--follow returned while the job was still running"
    _stop(job["job_id"])
    out, _ = follow.communicate(timeout=30)
    assert follow.returncode == 0
    assert out == (Path(job["log_dir"]) / "node-1.log").read_text()


def test_the_demo_runs_beside_the_tests_sandbox(sandbox: dict[str, Any], tmp_path: Path) -> None:
    """The README's order: the demo leaves its sandbox and job up, and the tests then run their own beside it."""
    user = {"LC_CLUSTER_SANDBOX": "lcdemo", "LC_CLUSTER_HOME": str(tmp_path / "config"),
            "LC_CLUSTER_STATE": str(tmp_path / "state")}  # fmt: skip
    env = {**os.environ, **user}
    repo = Path(__file__).resolve().parents[2]
    try:
        demo = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=1200, check=False)  # fmt: skip
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
        assert "\nA: " in demo.stdout and "phase     ready" in demo.stdout
        # The demo's job still runs while a job of the tests' sandbox starts, answers and stops.
        job = _serve(*VLLM_DP2)
        assert job["returncode"] == 0, job
        asked = cli("ask", job["job_id"], "still there?", "--json", timeout=120)
        assert asked.returncode == 0, asked.stderr
        _stop(job["job_id"])
        demo_jobs = subprocess.run([sys.executable, "-m", "lc_cluster", "status", "--json"], env=env,
                                   capture_output=True, text=True, check=True)  # fmt: skip
        assert [j["phase"] for j in json.loads(demo_jobs.stdout)["jobs"]] == ["ready"]
    finally:
        down = subprocess.run([sys.executable, "-m", "lc_cluster", "sandbox", "down"], env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert down.returncode == 0, down.stderr
    assert not Path("/run/netns", "lc-lcdemo-hub").exists()
    assert Path("/run/netns", Topology.named(SANDBOX).hub).exists()


def test_a_state_directory_that_cannot_be_written_stops_serve_before_it_submits(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobs").write_text("a file where the records folder should be")
    before = queue()
    env = {**os.environ, "LC_CLUSTER_STATE": str(state)}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", *VLLM_DP2], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "nothing was submitted" in done.stderr and "Traceback" not in done.stderr
    assert queue() == before


def _vllm_served(url: str, key: str) -> float:
    """Requests a vLLM instance finished, from its own metrics."""
    metrics = in_hub("curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {key}", f"{url}/metrics")
    return sum(float(v) for v in re.findall(r"^vllm:request_success_total\{[^}]*\} ([\d.]+)$", metrics, re.M))


def _instances_answer(heads: list[str]) -> bool:
    """Whether every head answers /health now (a refused connection is a 'no', not an error)."""
    for head in heads:
        done = subprocess.run(["nsenter", f"--net=/run/netns/{HUB}", "curl", "-s", "-o", "/dev/null", "-w",
                               "%{http_code}", "-m", "3", f"{head}/health"], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        if done.stdout != "200":
            return False
    return True


def test_replicas_behind_a_real_router_answer_and_share_the_requests(sandbox: dict[str, Any]) -> None:
    """Two vLLM replicas, one per node, behind vllm-router from PyPI: the router starts only after both answer, `ask`
    goes through it, and each replica serves some of the requests. (sglang-router 0.3.2 cannot route to vLLM: it
    asks workers for SGLang's /model_info and answers chat 404; the plan refuses that pairing.)"""
    router = "vllm-router"
    head, worker = (node["ip"] for node in sandbox["nodes"])
    # The engines keep vLLM's port; the router takes vllm-router's own (30000) on the head.
    heads = [f"http://{head}:8000", f"http://{worker}:8000"]
    state_dir = sandbox_root() / "jobs"
    earlier = {p.name for p in state_dir.glob("*")}
    args = ["serve", "tiny", "--cluster", SANDBOX, "--nodes", "2", "--gpus-per-node", "1", "--replicas", "2",
            "--router", router, "--json"]  # fmt: skip
    serve = subprocess.Popen([sys.executable, "-m", "lc_cluster", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        job = _replicas_job(serve, state_dir, earlier, heads)
        _check_replicas(job, serve.returncode, head, worker, heads)
    finally:
        # A failed check must not leave the sandbox's nodes taken for the tests after it.
        serve.kill()
        for folder in state_dir.glob("*"):
            if folder.name not in earlier and folder.is_dir():
                cli("stop", folder.name, timeout=120)


def _replicas_job(serve: subprocess.Popen[str], state_dir: Path, earlier: set[str], heads: list[str]) -> dict[str, Any]:
    """Follow the job until serve returns, checking the order: the router starts only once every instance answers.
    The batch script starts it within a second of that, faster than this can poll, so the check is that the
    instances were not all answering at first, and all answer when the router's record appears."""
    waited = router_seen = False
    deadline = time.monotonic() + 600
    while serve.poll() is None and time.monotonic() < deadline and not router_seen:
        jobs = [p for p in state_dir.glob("*") if p.name not in earlier]
        router_seen = any((j / "router.node-0.cmd.json").exists() for j in jobs)
        if router_seen:
            assert _instances_answer(heads), "the router started while an instance did not answer"
        else:
            waited = waited or (bool(jobs) and not _instances_answer(heads))
            time.sleep(0.5)
    assert router_seen and waited, (router_seen, waited)
    out, err = serve.communicate(timeout=300)
    job: dict[str, Any] = json.loads(out)
    job["stderr"] = err
    return job


def _check_replicas(job: dict[str, Any], returncode: int | None, head: str, worker: str, heads: list[str]) -> None:
    assert returncode == 0 and job["state"] == "READY", job
    assert job["endpoint"] == f"http://{head}:30000"

    key = _api_key(job["job_id"])
    for i in range(6):
        asked = cli("ask", job["job_id"], f"question {i}", "--json", timeout=120)
        assert asked.returncode == 0, asked.stderr
    served = [_vllm_served(url, key) for url in heads]
    assert all(n > 0 for n in served), f"requests per replica: {served}"

    status = json.loads(cli("status", job["job_id"], "--json").stdout)["job"]
    found = {(p["name"], p["role"], p["node"], p["ip"]) for p in status["processes"]}
    assert found == {("serve0.node-0", "serve", 0, head), ("serve1.node-1", "serve", 1, worker),
                     ("router.node-0", "router", 0, head)}  # fmt: skip
    router_log = cli("logs", job["job_id"], "--role", "router", "--lines", "500")
    assert router_log.returncode == 0 and router_log.stdout.strip()
    replica_log = cli("logs", job["job_id"], "--role", "serve", "--instance", "1", "--node", "1", "--lines", "3")
    assert replica_log.stdout.splitlines() == (Path(job["log_dir"]) / "serve1.node-1.log").read_text().splitlines()[-3:]
    _assert_secret_nowhere(job, key)


def test_sglang_pd_runs_each_role_on_its_node_behind_the_real_router(
    sandbox: dict[str, Any], recorder_cluster: str
) -> None:
    """Prefill on node 0 and decode on node 1 (stand-ins recording what they were started with), sglang-router in PD
    mode in front: each node got its role's command with the real addresses and bootstrap port, and the router
    started only after both answered."""
    roles = ["--nodes", "2", "--prefill", "nodes=1", "--decode", "nodes=1", "--ib-hca", "mlx5_0"]
    job = _serve("serve", "longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--cluster", recorder_cluster,
                 *roles, "--json")  # fmt: skip
    try:
        _check_sglang_pd(job, sandbox)
    finally:
        cli("stop", job["job_id"], timeout=120)


@pytest.fixture(scope="module")
def four_nodes(sandbox: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A second sandbox of four nodes beside the tests' own (the article's prefill/decode deployment needs 2 + 2)."""
    up = cli("sandbox", "up", "--name", "lcpd4", "--nodes", "4", "--gpus-per-node", "8", "--json", timeout=600)
    assert up.returncode == 0, up.stderr
    status = json.loads(up.stdout)
    try:
        yield {**status, "recorder_cluster": with_recorder(status, tmp_path_factory)}
    finally:
        down = cli("sandbox", "down", "--name", "lcpd4", timeout=300)
        assert down.returncode == 0, down.stderr


def test_sglang_pd_on_two_plus_two_nodes_runs_the_articles_command_per_role(four_nodes: dict[str, Any]) -> None:
    """Each role is the article's 16-GPU TP group over its own two nodes, joined at its own head, plus the PD flags:
    every node runs exactly that, with the nodes' real addresses, ranks and the prefill's bootstrap port."""
    job = _serve("serve", "longcat-flash-chat", "-e", "sglang", "--engine-version", "guide", "--cluster",
                 four_nodes["recorder_cluster"], "--nodes", "4", "--prefill", "nodes=2", "--decode", "nodes=2",
                 "--ib-hca", "mlx5_0", "--json")  # fmt: skip
    try:
        assert job["returncode"] == 0, job
        nodes = four_nodes["nodes"]
        for index, (role, rank, head) in enumerate((("prefill", 0, 0), ("prefill", 1, 0), ("decode", 0, 2),
                                                    ("decode", 1, 2))):  # fmt: skip
            recorded = _recorded(job, nodes[index]["name"])
            article = golden("sglang-multi-node-bf16", MASTER_IP=nodes[head]["ip"], NODE_RANK=str(rank))
            expected = [
                *article, "--host", "0.0.0.0", "--port", "30000", "--disaggregation-mode", role,
                "--disaggregation-transfer-backend", "mooncake", "--disaggregation-ib-device", "mlx5_0",
                *(["--disaggregation-bootstrap-port", "8998"] if role == "prefill" else []),
            ]  # fmt: skip
            assert options(recorded["argv"])[1] == options(expected)[1], nodes[index]["name"]
            assert recorded["env"]["SGLANG_HOST_IP"] == nodes[index]["ip"]
        router = json.loads((Path(job["log_dir"]) / "router.node-0.cmd.json").read_text())["argv"]
        at = router.index("--prefill")
        assert router[at + 1 : at + 3] == [f"http://{nodes[0]['ip']}:30000", "8998"]
        assert router[router.index("--decode") + 1] == f"http://{nodes[2]['ip']}:30000"
    finally:
        cli("stop", job["job_id"], timeout=120)


def _check_sglang_pd(job: dict[str, Any], sandbox: dict[str, Any]) -> None:
    assert job["returncode"] == 0, job
    (prefill_node, prefill_ip), (decode_node, decode_ip) = ((n["name"], n["ip"]) for n in sandbox["nodes"])
    prefill, decode = _recorded(job, prefill_node)["argv"], _recorded(job, decode_node)["argv"]
    for argv, role, ip in ((prefill, "prefill", prefill_ip), (decode, "decode", decode_ip)):
        _, opts = options(argv)
        assert opts[("--disaggregation-mode", role)] == 1 and opts[("--disaggregation-ib-device", "mlx5_0")] == 1
        assert ("--nnodes", "2") not in opts  # one node per role: no rank flags
        assert _recorded(job, prefill_node if role == "prefill" else decode_node)["env"]["SGLANG_HOST_IP"] == ip
    assert options(prefill)[1][("--disaggregation-bootstrap-port", "8998")] == 1
    router = json.loads((Path(job["log_dir"]) / "router.node-0.cmd.json").read_text())["argv"]
    assert router[router.index("--prefill") + 1 : router.index("--prefill") + 3] == [
        f"http://{prefill_ip}:30000",
        "8998",
    ]
    assert router[router.index("--decode") + 1] == f"http://{decode_ip}:30000"


@pytest.mark.parametrize(
    "engine, roles",
    [("sglang", ["--nodes", "2", "--prefill", "nodes=1", "--decode", "nodes=1"]), ("vllm", ["--nodes", "1"])],
)
def test_another_user_of_the_nodes_never_sees_the_api_key_while_the_job_starts(
    sandbox: dict[str, Any], recorder_cluster: str, tmp_path: Path, engine: str, roles: list[str]
) -> None:
    """As nobody, every process's command line, read again and again while a job starts (SGLang PD behind its
    router; vLLM, which takes the key from its environment): the key is in none of them."""
    doc = yaml.safe_load(Path(recorder_cluster).read_text())
    doc["runtime"]["engine_venvs"]["vllm"] = doc["runtime"]["engine_venvs"]["sglang"]
    token = "hf_" + secrets.token_hex(12)
    doc["runtime"]["env"] = {**doc["runtime"].get("env", {}), "HF_TOKEN": token}
    cluster = tmp_path / "recorder.yaml"
    cluster.write_text(yaml.safe_dump(doc))
    watch = Path(__file__).with_name("cmdline_watch.py")
    watcher = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, str(watch)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        job = _serve("serve", "longcat-flash-chat-fp8", "-e", engine, "--gpu", "H20-141G", "--cluster", str(cluster),
                     *roles, "--ready-timeout", "180", "--json")  # fmt: skip
    finally:
        seen = json.loads(watcher.communicate("", timeout=60)[0])
    try:
        logs = {p.name: p.read_text()[-500:] for p in Path(job["log_dir"]).glob("*.log")}
        assert job["returncode"] == 0, (job, logs)
        key = _api_key(job["job_id"])
        assert seen["uid"] == 65534
        # It did watch the start: the node tools recording each command, and the stand-in engines themselves.
        lines = seen["cmdlines"]
        assert any("\0record\0" in line for line in lines) and any("recorder.py" in line for line in lines)
        assert not [line[:200] for line in lines if key in line or token in line]
        # The cluster file's token reached every engine, under its own name, and no file of the job has it.
        engines = [json.loads(p.read_text()) for p in Path(job["log_dir"]).glob("recorded-*.json")]
        assert engines and all(e["env"]["HF_TOKEN"] == token for e in engines)
        _assert_secret_nowhere(job, token)
    finally:
        cli("stop", job["job_id"], timeout=120)


def test_a_killed_decode_engine_ends_the_pd_job_and_status_names_it(
    sandbox: dict[str, Any], recorder_cluster: str
) -> None:
    """Once the PD job serves, its decode instance dies: the job ends at once (prefill and router stopped with it),
    and status shows which process of which role and node ended first, and how."""
    roles = ["--nodes", "2", "--prefill", "nodes=1", "--decode", "nodes=1"]
    job = _serve("serve", "longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--cluster", recorder_cluster,
                 *roles, "--json")  # fmt: skip
    try:
        assert job["returncode"] == 0, job
        job_dir = Path(job["log_dir"])
        os.kill(int((job_dir / "decode0.node-1.pid").read_text()), signal.SIGKILL)
        wait_for(lambda: job["job_id"] not in queue(), 60, "the job to end")
        status = json.loads(cli("status", job["job_id"], "--json").stdout)["job"]
        exits = {p["name"]: p["state"] for p in status["processes"]}
        assert exits["decode0.node-1"] == "exited 137"
        # Stopped by the job: SIGTERM first (the process records 143) unless Slurm's SIGKILL comes before it can.
        assert exits["prefill0.node-0"] in ("exited 143", "stopped with the job"), exits
        assert exits["router.node-0"].startswith("exited"), exits
        assert status["phase"] == "ended"
        # Each role's log, found through the plan the record keeps.
        decode_log = cli("logs", job["job_id"], "--role", "decode", "--node", "1", "--lines", "3")
        prefill_log = cli("logs", job["job_id"], "--role", "prefill", "--node", "0", "--lines", "3")
        assert decode_log.returncode == 0 and prefill_log.returncode == 0, (decode_log.stderr, prefill_log.stderr)
        assert decode_log.stdout != prefill_log.stdout
        unrolled = cli("logs", job["job_id"], "--node", "1")
        assert unrolled.returncode == 2 and "runs decode and prefill instances: pass --role" in unrolled.stderr
        assert job_processes(job["job_id"]) == [], "a process outlived its job"
    finally:
        cli("stop", job["job_id"], timeout=120)
