"""Stage functions and the Snakemake glue: clear errors, logs, exit status, no partial output."""

from types import SimpleNamespace

import pytest

from perturb_select.io import InputError
from perturb_select.pipeline import fetch, run_snakemake_stage, split_test_set


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
        fetch(str(out), url=None, mirror=str(tmp_path), mirror_name="absent.h5ad", sha256=None)
    assert not out.exists()
    (tmp_path / "present.h5ad").write_bytes(b"abc")
    fetch(str(out), url=None, mirror=str(tmp_path), mirror_name="present.h5ad", sha256=None)
    assert out.read_bytes() == b"abc"


def test_split_stage_rejects_a_budget_larger_than_the_pool(tmp_path):
    candidates = tmp_path / "candidates.tsv"
    candidates.write_text("gene\n" + "\n".join(f"G{i}" for i in range(10)) + "\n")
    out = tmp_path / "split.json"
    with pytest.raises(InputError, match="budget"):
        split_test_set(str(candidates), str(out), seed=1, test_fraction=0.1, cycles=3, batch_size=4)
    assert not out.exists()
    split_test_set(str(candidates), str(out), seed=1, test_fraction=0.1, cycles=3, batch_size=3)
    assert out.exists()


def test_train_stage_checks_the_training_config_before_reading_data(tmp_path):
    from perturb_select.pipeline import train_gears

    out = tmp_path / "predictions.npz"
    common = dict(split="absent.json", selection="absent.tsv", output=str(out), cycle=1, seed=1, batch_size=2,
                  edges="absent.npz")
    with pytest.raises(InputError, match=r"gears\.epochs"):
        train_gears(gears={"epochs": 0}, **common)
    with pytest.raises(InputError, match=r"gears\.schedule.*unknown key"):
        train_gears(gears={"epochs": 1, "schedule": "cosine"}, **common)
    assert not out.exists()


def test_cell_gears_trainer_refuses_settings_it_cannot_apply(tmp_path):
    from perturb_select.pipeline import _train_cell_gears
    from perturb_select.training import TrainingConfig

    with pytest.raises(InputError, match=r"gears\.lr_decay.*GEARS's value 0.5"):
        _train_cell_gears("a.h5ad", "g.pkl", None, [], [], 1, TrainingConfig(trainer="cell-gears", lr_decay=0.9),
                          str(tmp_path / "work"))
    with pytest.raises(InputError, match=r"gears\.uncertainty"):
        _train_cell_gears("a.h5ad", "g.pkl", None, [], [], 1, TrainingConfig(trainer="cell-gears", uncertainty=True),
                          str(tmp_path / "work"))
