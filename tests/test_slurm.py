"""The SLURM profile on a real single-node SLURM (../shared/tools/local-slurm-cluster.sh, started here).

A reduced config/test.yaml (seed 1; random, graphreach and the active uncertainty strategy; 2 cycles)
runs once locally and once through ``--profile profiles/slurm``; every job must go through sbatch and
give the local run's results. Faults are injected through ``PERTURB_SELECT_TEST_FAULT``, read by the
stage runner (``perturb_select.stages.runner.FAULT_ENV``), which only these tests set.

Needs root and Debian packages (slurm-wlm, munge: installed by the script when missing). Outside CI a
machine without them skips; under CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import REPO, SHARED_DATA
from perturb_select.stages.runner import FAULT_ENV
from test_workflow import _planned_jobs  # the 'Job stats' table of Snakemake's output

pytestmark = pytest.mark.slow

CLUSTER_SCRIPT = SHARED_DATA.parent / "tools" / "local-slurm-cluster.sh"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# No accounting database on the local cluster: status through squeue (the script's header); small
# memory requests so that jobs run side by side on the 2-core node.
SLURM_ARGS = [
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
    "--default-resources",
    "slurm_partition=debug",
    "mem_mb=1000",
    "runtime=30",
    "--set-resources",
    "build_go_graph:mem_mb=3000",
    "preprocess_dataset:mem_mb=2000",
    "train_gears:mem_mb=2000",
    "train_gears_active:mem_mb=2000",
    "--verbose",
]
SBATCH_CALL = re.compile(r"sbatch call: (sbatch --parsable[^\n]*)")
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
LOCAL_RULES = {"all"}


def _config(seed_only: bool = True) -> dict:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["go"]["mirror"] = str(SHARED_DATA / "go")
    config["datasets"]["papalexi2021"]["mirror"] = str(SHARED_DATA / "perturbseq")
    config["experiment"]["seeds"] = [1]
    config["experiment"]["stability"] = {"inits": 1}
    strategies = config["experiment"]["strategies"]
    config["experiment"]["strategies"] = {name: strategies[name] for name in ("random", "graphreach", "uncertainty")}
    config["design"] = None
    return config


def _snakemake(workdir: Path, config: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = SNAKEMAKE + [
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=1800)


def _slurm_states() -> dict[str, str]:
    """SLURM job id -> state, finished jobs included (the script keeps them for an hour: MinJobAge)."""
    listing = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True
    )
    return dict(line.split() for line in listing.stdout.splitlines() if line.strip())


@pytest.fixture(scope="module")
def slurm_cluster():
    def unavailable(reason: str):
        if os.environ.get("CI"):
            pytest.fail(f"SLURM test cannot run in CI: {reason}")
        pytest.skip(reason)

    if shutil.which("sinfo"):
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if state.returncode == 0 and state.stdout.strip() == "idle":
            yield
            return
    if not CLUSTER_SCRIPT.exists():
        unavailable(f"{CLUSTER_SCRIPT} not found")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        unavailable("starting a local SLURM needs root and apt-get (Debian)")
    start = time.perf_counter()
    result = subprocess.run(["bash", str(CLUSTER_SCRIPT)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"local SLURM did not start:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    print(f"local SLURM started in {time.perf_counter() - start:.0f} s")
    yield
    subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop"], capture_output=True, text=True)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("local")
    result = _snakemake(workdir, _config(), "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, slurm_cluster, shared_data):
    """The same run through the SLURM profile, with the first split job failing once (then retried)."""
    workdir = tmp_path_factory.mktemp("slurm")
    markers = tmp_path_factory.mktemp("faults")
    start = time.perf_counter()
    result = _snakemake(workdir, _config(), *SLURM_ARGS, env={FAULT_ENV: f"split_test_set:once:{markers}"})
    seconds = time.perf_counter() - start
    print(f"SLURM run: {seconds:.0f} s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    return workdir, output, markers


def test_every_job_goes_through_sbatch_and_a_failed_job_is_retried(slurm_run):
    workdir, output, markers = slurm_run
    jobs = _planned_jobs(SimpleNamespace(stdout=output, stderr=""))
    submissions = SUBMITTED.findall(output)
    by_rule = {}
    for slurm_id, log in submissions:
        rule = re.search(r"slurm_logs/rule_(\w+)/", log).group(1)
        by_rule.setdefault(rule, []).append(slurm_id)
    # every job except the local rule `all` was submitted; the split job twice (its injected failure)
    assert {rule: len(ids) for rule, ids in by_rule.items()} == {
        rule: count + (rule == "split_test_set") for rule, count in jobs.items() if rule not in LOCAL_RULES
    }
    states = _slurm_states()
    submitted_states = [states[slurm_id] for slurm_id, _ in submissions]
    assert submitted_states.count("FAILED") == 1 and submitted_states.count("COMPLETED") == len(submissions) - 1
    failed = next(slurm_id for slurm_id, _ in submissions if states[slurm_id] == "FAILED")
    assert failed in by_rule["split_test_set"]
    assert (markers / "split_test_set.failed-once").exists()
    assert "fault injected by PERTURB_SELECT_TEST_FAULT (the first split_test_set job fails)" in output
    # no GPU asked for: gears.gpus is 0 in the test config
    calls = SBATCH_CALL.findall(output)  # logged once per submission with --verbose
    assert len(calls) == len(submissions)
    assert not [call for call in calls if "--gpus" in call or "--gres" in call]


def test_slurm_results_equal_the_local_run(slurm_run, local_run):
    workdir, _, _ = slurm_run
    compared = 0
    for folder in ("results/splits", "results/select"):
        for path in sorted((local_run / folder).rglob("*.tsv")) + sorted((local_run / folder).rglob("*.json")):
            other = workdir / path.relative_to(local_run)
            assert other.read_bytes() == path.read_bytes(), f"{other} differs from the local run"
            compared += 1
    assert compared >= 4
    metrics = sorted((local_run / "results/metrics").rglob("*.json"))
    assert len(metrics) == 6  # 3 strategies x 2 cycles
    for path in metrics:
        expected = json.loads(path.read_text())
        got = json.loads((workdir / path.relative_to(local_run)).read_text())
        _assert_close(got, expected, str(path.relative_to(local_run)))


def _assert_close(got, expected, where: str) -> None:
    if isinstance(expected, dict):
        assert set(got) == set(expected), where
        for key in expected:
            if key not in ("seconds", "started", "host"):
                _assert_close(got[key], expected[key], f"{where}:{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), where
    else:
        assert got == expected, where


def test_training_asks_for_a_gpu_only_when_configured(slurm_run):
    """gears.gpus: 1 -> the training job's sbatch call has --gpus=1 and no --ntasks-per-gpu; the local
    node has no GPU, so SLURM refuses it at submission and the call is in the error."""
    workdir, _, _ = slurm_run
    config = _config()
    config["gears"]["gpus"] = 1
    target = "results/train/papalexi2021/random/seed1/cycle1/predictions.npz"
    result = _snakemake(workdir, config, *SLURM_ARGS, "--retries", "0", target)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    calls = SBATCH_CALL.findall(output)
    assert calls and all("--gpus=1" in call and "--ntasks-per-gpu" not in call for call in calls), output[-4000:]
    assert "rule_train_gears" in " ".join(calls)


def test_a_job_that_keeps_failing_is_reported_and_nothing_downstream_runs(tmp_path, slurm_cluster, shared_data):
    target = "results/data/papalexi2021/screen.npz"
    result = _snakemake(tmp_path, _config(), *SLURM_ARGS, target, env={FAULT_ENV: "fetch_dataset:always"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    submissions = SUBMITTED.findall(output)
    rules = [re.search(r"slurm_logs/rule_(\w+)/", log).group(1) for _, log in submissions]
    assert rules.count("fetch_dataset") == 2  # tried, retried once (profile: retries 1), then given up
    assert "preprocess_dataset" not in rules
    assert "Error in rule fetch_dataset" in output
    log = tmp_path / "logs" / "fetch_dataset" / "papalexi2021.log"
    assert str(log.relative_to(tmp_path)) in output
    assert "fault injected by PERTURB_SELECT_TEST_FAULT (every fetch_dataset job fails)" in log.read_text()
    assert not (tmp_path / "results" / "data").exists()
