"""Stage functions and the Snakemake glue: clear errors, logs, exit status, no partial output."""

from types import SimpleNamespace

import pytest

from perturb_select.io import InputError
from perturb_select.knowledge.fetch import fetch_input
from perturb_select.stages.runner import run_stage
from perturb_select.stages.select import split_test_set


def _fake_snakemake(log_path):
    return SimpleNamespace(log=[str(log_path)], rule="demo")


def test_stage_error_goes_to_log_and_stderr_and_exits_1(tmp_path, capsys):
    def failing_stage():
        raise InputError("screen.h5ad", "perturbation", "column missing")

    with pytest.raises(SystemExit) as exit_info:
        run_stage(_fake_snakemake(tmp_path / "job.log"), failing_stage)
    assert exit_info.value.code == 1
    assert "screen.h5ad, field 'perturbation': column missing" in (tmp_path / "job.log").read_text()
    assert "ERROR in rule demo: InputError: screen.h5ad, field 'perturbation'" in capsys.readouterr().err


def test_unexpected_error_keeps_its_traceback_in_the_log(tmp_path):
    def broken_stage():
        return {}["missing"] + 1  # KeyError: reported as bad input

    def crashing_stage():
        raise RuntimeError("boom")

    with pytest.raises(SystemExit):
        run_stage(_fake_snakemake(tmp_path / "a.log"), broken_stage)
    with pytest.raises(SystemExit):
        run_stage(_fake_snakemake(tmp_path / "b.log"), crashing_stage)
    assert "KeyError" in (tmp_path / "a.log").read_text()
    text = (tmp_path / "b.log").read_text()
    assert "RuntimeError: boom" in text and "Traceback" in text


def test_stage_success_logs_library_output(tmp_path):
    def chatty_stage(value):
        print("GEARS-style print", value)

    run_stage(_fake_snakemake(tmp_path / "ok.log"), chatty_stage, value=3)
    assert "GEARS-style print 3" in (tmp_path / "ok.log").read_text()


def test_a_job_process_ends_at_once_with_its_outputs_and_log_whole(tmp_path):
    """run_snakemake_stage ends a successful job's process with status 0 (os._exit, no teardown): what the
    stage wrote and logged is all there; a failed job still exits 1 through SystemExit."""
    import subprocess
    import sys
    import textwrap

    from conftest import REPO

    script = textwrap.dedent(f"""
        import logging, sys, atexit
        sys.path.insert(0, {str(REPO / "src")!r})
        from types import SimpleNamespace
        from perturb_select.io import atomic_open
        from perturb_select.stages.runner import run_snakemake_stage

        def stage(path, fail):
            if fail:
                raise ValueError("bad input")
            logging.getLogger("perturb_select").info("wrote %s", path)
            print("library print")
            with atomic_open(path, "w") as handle:
                handle.write("x" * 100000)

        atexit.register(lambda: open({str(tmp_path / "teardown_ran")!r}, "w").close())
        fail = sys.argv[1] == "fail"
        run_snakemake_stage(SimpleNamespace(log=[{str(tmp_path / "job.log")!r}], rule="demo"), stage,
                            path={str(tmp_path / "out.txt")!r}, fail=fail)
        print("not reached")
    """)
    ok = subprocess.run([sys.executable, "-c", script, "ok"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "not reached" not in ok.stdout
    assert (tmp_path / "out.txt").read_text() == "x" * 100000
    log_text = (tmp_path / "job.log").read_text()
    assert "wrote" in log_text and "library print" in log_text
    assert not (tmp_path / "teardown_ran").exists()  # the interpreter's teardown was skipped
    failed = subprocess.run([sys.executable, "-c", script, "fail"], capture_output=True, text=True)
    assert failed.returncode == 1 and "ERROR in rule demo: ValueError: bad input" in failed.stderr


def test_fetch_without_url_needs_the_mirror_file(tmp_path):
    out = tmp_path / "resources" / "screen.h5ad"
    with pytest.raises(InputError, match="field 'url'.*no URL configured.*not found"):
        fetch_input(str(out), url=None, mirror=str(tmp_path), mirror_name="absent.h5ad", sha256=None)
    assert not out.exists()
    (tmp_path / "present.h5ad").write_bytes(b"abc")
    fetch_input(str(out), url=None, mirror=str(tmp_path), mirror_name="present.h5ad", sha256=None)
    assert out.read_bytes() == b"abc"


def test_split_stage_takes_what_the_split_depends_on(tmp_path):
    """The split reads its candidates, seed and test fraction, no plan: adding a cycle or changing the
    perturbations per cycle keeps it (the plan is checked before any job, ``check_plans_fit``, or by the job
    that needs more picks than the pool holds)."""
    import inspect
    import json

    assert list(inspect.signature(split_test_set).parameters) == ["candidates", "output", "seed", "test_fraction"]
    candidates = tmp_path / "candidates.tsv"
    candidates.write_text("gene\n" + "\n".join(f"G{i}" for i in range(10)) + "\n")
    out = tmp_path / "split.json"
    split_test_set(str(candidates), str(out), seed=1, test_fraction=0.1)
    split = json.loads(out.read_text())
    assert len(split["test"]) == 1 and len(split["pool"]) == 9


def test_train_stage_checks_the_training_config_before_reading_data(tmp_path):
    from perturb_select.stages.train import train_gears

    out = tmp_path / "predictions.npz"
    common = dict(
        split="absent.json",
        selection="absent.tsv",
        output=str(out),
        metrics_out=str(tmp_path / "m.json"),
        baselines_out=str(tmp_path / "b.json"),
        dataset="d",
        strategy="random",
        run="1",
        cycle=1,
        perturbations_per_cycle=2,
        edges="absent.npz",
        screen="absent.npz",
        kernels="absent.npz",
    )
    from perturb_select.config import TrainingConfig

    block = TrainingConfig().to_params()  # what the rule passes: every field, filled in once
    with pytest.raises(InputError, match=r"gears\.epochs"):
        train_gears(gears={**block, "epochs": 0}, **common)
    # a rule out of step with the block (a field missing or unknown): no default fills in a second time
    with pytest.raises(TypeError, match=r"missing \['cells_per_perturbation'.*unknown \[\]"):
        train_gears(gears={"epochs": 1}, **common)
    with pytest.raises(TypeError, match=r"missing \[\], unknown \['schedule'\]"):
        train_gears(gears={**block, "schedule": "cosine"}, **common)
    assert not list(tmp_path.iterdir())


def test_cell_gears_trainer_refuses_settings_it_cannot_apply(tmp_path):
    """With the config, before any job: GEARS.train cannot change these; the message says what to set."""
    from perturb_select.config import GEARS_SCHEDULE, TrainingConfig
    from perturb_select.gears import TrainingData
    from perturb_select.gears.cell_gears import train_cell_gears

    gears = dict(trainer="cell-gears", **GEARS_SCHEDULE)
    expected = (
        r"config, field 'gears\.lr_decay': the cell-gears trainer runs GEARS\.train as it is: set "
        r"gears\.lr_decay: 0\.5 \(GEARS's value, not 0\.95\)"
    )
    with pytest.raises(InputError, match=expected):  # the default schedule is the perturbations trainer's
        TrainingConfig(trainer="cell-gears")
    with pytest.raises(InputError, match=r"gears\.uncertainty.*set gears\.uncertainty: false"):
        TrainingConfig.from_config({**gears, "uncertainty": True})
    with pytest.raises(InputError, match=r"gears\.patience.*set gears\.patience: null"):
        TrainingConfig(**gears, patience=3)
    data = TrainingData(graph=None, adata_path="a.h5ad", gene2go_path="g.pkl", work_dir=tmp_path / "work")
    with pytest.raises(InputError, match="active strategies need a trainer that scores the pool"):
        train_cell_gears(data, [], [], seed=1, config=TrainingConfig(**gears), score_genes=["A"], score_controls=10)


@pytest.mark.parametrize(
    "strategy, params", [("graphreach", {"hops": 1, "weights": "candidates"}), ("facility", {"hops": 1})]
)
def test_select_stage_runs_the_candidate_covering_selectors(tmp_path, strategy, params):
    """Rule select with the config block's parameters (experiment.strategies.<strategy>): the same ranking as
    the selector, as a selection file."""
    import numpy as np
    import pandas as pd

    from perturb_select.io import write_json
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.selection.base import read_selection
    from perturb_select.selection.registry import SELECTORS
    from perturb_select.stages.select import select

    rng = np.random.default_rng(3)
    names = np.array([f"G{i:02d}" for i in range(30)], dtype=object)
    mask = rng.random((30, 30)) < 0.1
    np.fill_diagonal(mask, False)
    s, t = np.nonzero(mask)
    graph = KnowledgeGraph.from_edges(
        pd.DataFrame({"source": names[s], "target": names[t], "importance": 0.5}), genes=names
    )
    graph.save_npz(tmp_path / "graph.npz")
    pool = list(names[:12])
    write_json({"test": list(names[12:14]), "pool": pool}, tmp_path / "split.json")
    select(
        str(tmp_path / "graph.npz"),
        str(tmp_path / "split.json"),
        str(tmp_path / "picks.tsv"),
        strategy,
        1,
        params,
        perturbations_per_cycle=4,
    )
    written = read_selection(tmp_path / "picks.tsv", strategy=strategy)
    expected = SELECTORS[strategy](graph, pool, len(pool), **params)
    assert written.genes == expected.genes
    np.testing.assert_array_equal(written.objective, expected.objective)


def test_every_rule_runs_the_one_script_with_its_stage_arguments_by_name():
    """One door per rule: every rule (but ``all``) runs ``scripts/run_stage.py``, which calls the stage
    ``runner.STAGES`` names for it with the rule's named inputs, outputs and params: each of those names is an
    argument of the stage, and each argument the stage requires is one of them (or comes from an unpacked
    input function, whose names are known only per job)."""
    import inspect
    import os

    from snakemake.api import SnakemakeApi
    from snakemake.io import is_flagged
    from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings

    from conftest import REPO
    from perturb_select.stages.runner import STAGES, stage_of

    cwd = os.getcwd()
    try:
        with SnakemakeApi() as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(),
                storage_settings=StorageSettings(),
                config_settings=ConfigSettings(configfiles=[REPO / "config" / "test.yaml"]),
                snakefile=REPO / "Snakefile",
                workdir=REPO,
            )._workflow
            rules = {rule.name: rule for rule in workflow.rules if rule.name != "all"}
            for name, rule in rules.items():
                assert rule.script == "../../scripts/run_stage.py", name
                accepted = inspect.signature(stage_of(name)).parameters
                given = [*rule.input._names, *rule.output._names, *rule.params._names]
                assert len(given) == len(set(given)), name
                assert set(given) <= set(accepted), (name, set(given) - set(accepted))
                required = {p for p, v in accepted.items() if v.default is inspect.Parameter.empty}
                missing = required - set(given) - {"threads"}
                if not any(is_flagged(item, "unpack") for item in rule.input):
                    assert not missing, (name, missing)
    finally:
        os.chdir(cwd)
    assert set(rules) == set(STAGES)
