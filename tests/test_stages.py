"""Stage functions and the Snakemake glue: clear errors, logs, exit status, no partial output."""

from types import SimpleNamespace

import pytest

from perturb_select.io import InputError
from perturb_select.knowledge.fetch import fetch_input
from perturb_select.stages.runner import run_snakemake_stage
from perturb_select.stages.select import split_test_set


def _fake_snakemake(log_path):
    return SimpleNamespace(log=[str(log_path)], rule="demo")


def test_stage_error_goes_to_log_and_stderr_and_exits_1(tmp_path, capsys):
    def failing_stage():
        raise InputError("screen.h5ad", "perturbation", "column missing")

    with pytest.raises(SystemExit) as exit_info:
        run_snakemake_stage(_fake_snakemake(tmp_path / "job.log"), failing_stage)
    assert exit_info.value.code == 1
    assert "screen.h5ad, field 'perturbation': column missing" in (tmp_path / "job.log").read_text()
    assert "ERROR in rule demo: InputError: screen.h5ad, field 'perturbation'" in capsys.readouterr().err


def test_unexpected_error_keeps_its_traceback_in_the_log(tmp_path):
    def broken_stage():
        return {}["missing"] + 1  # KeyError: reported as bad input

    def crashing_stage():
        raise RuntimeError("boom")

    with pytest.raises(SystemExit):
        run_snakemake_stage(_fake_snakemake(tmp_path / "a.log"), broken_stage)
    with pytest.raises(SystemExit):
        run_snakemake_stage(_fake_snakemake(tmp_path / "b.log"), crashing_stage)
    assert "KeyError" in (tmp_path / "a.log").read_text()
    text = (tmp_path / "b.log").read_text()
    assert "RuntimeError: boom" in text and "Traceback" in text


def test_stage_success_logs_library_output(tmp_path):
    def chatty_stage(value):
        print("GEARS-style print", value)

    run_snakemake_stage(_fake_snakemake(tmp_path / "ok.log"), chatty_stage, value=3)
    assert "GEARS-style print 3" in (tmp_path / "ok.log").read_text()


def test_fetch_without_url_needs_the_mirror_file(tmp_path):
    out = tmp_path / "resources" / "screen.h5ad"
    with pytest.raises(InputError, match="field 'url'.*no URL configured.*not found"):
        fetch_input(str(out), url=None, mirror=str(tmp_path), mirror_name="absent.h5ad", sha256=None)
    assert not out.exists()
    (tmp_path / "present.h5ad").write_bytes(b"abc")
    fetch_input(str(out), url=None, mirror=str(tmp_path), mirror_name="present.h5ad", sha256=None)
    assert out.read_bytes() == b"abc"


def test_split_stage_rejects_a_budget_larger_than_the_pool(tmp_path):
    candidates = tmp_path / "candidates.tsv"
    candidates.write_text("gene\n" + "\n".join(f"G{i}" for i in range(10)) + "\n")
    out = tmp_path / "split.json"
    with pytest.raises(InputError, match="budget"):
        split_test_set(str(candidates), str(out), seed=1, test_fraction=0.1, cycles=3, per_cycle=4)
    assert not out.exists()
    split_test_set(str(candidates), str(out), seed=1, test_fraction=0.1, cycles=3, per_cycle=3)
    assert out.exists()


def test_train_stage_checks_the_training_config_before_reading_data(tmp_path):
    from perturb_select.stages.train import train_gears

    out = tmp_path / "predictions.npz"
    common = dict(split="absent.json", selection="absent.tsv", output=str(out), metrics_out=str(tmp_path / "m.json"),
                  baselines_out=str(tmp_path / "b.json"), dataset="d", strategy="random", run="1", cycle=1,
                  per_cycle=2, edges="absent.npz", screen="absent.npz", kernels="absent.npz")
    with pytest.raises(InputError, match=r"gears\.epochs"):
        train_gears(gears={"epochs": 0}, **common)
    with pytest.raises(InputError, match=r"gears\.schedule.*unknown key"):
        train_gears(gears={"epochs": 1, "schedule": "cosine"}, **common)
    assert not list(tmp_path.iterdir())


def test_cell_gears_trainer_refuses_settings_it_cannot_apply(tmp_path):
    from perturb_select.config import TrainingConfig
    from perturb_select.gears import TrainingData
    from perturb_select.gears.cell_gears import train_cell_gears

    data = TrainingData(graph=None, adata_path="a.h5ad", gene2go_path="g.pkl", work_dir=tmp_path / "work")
    with pytest.raises(InputError, match=r"gears\.lr_decay.*GEARS's value 0.5"):
        train_cell_gears(data, [], [], seed=1, config=TrainingConfig(trainer="cell-gears", lr_decay=0.9))
    with pytest.raises(InputError, match=r"gears\.uncertainty"):
        train_cell_gears(data, [], [], seed=1, config=TrainingConfig(trainer="cell-gears", uncertainty=True))
    with pytest.raises(InputError, match="active strategies need a trainer that scores the pool"):
        train_cell_gears(data, [], [], seed=1, config=TrainingConfig(trainer="cell-gears"), score_genes=["A"],
                         score_controls=10)
