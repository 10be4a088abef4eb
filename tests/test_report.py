"""Aggregation over seeds: hand-checked means and standard deviations, and the plots."""

import json

import numpy as np
import pytest

from perturb_select.io import InputError
from perturb_select.report import METRICS, collect_metrics, plot_metric_curves, summarise


def _write(tmp_path, strategy, seed, cycle, value):
    record = {"dataset": "toy", "strategy": strategy, "seed": seed, "cycle": cycle, "n_train_perturbations": 4 * cycle}
    record["mean"] = {m: value for m in METRICS}
    path = tmp_path / f"{strategy}_{seed}_{cycle}.json"
    path.write_text(json.dumps(record))
    return path


def test_summary_is_mean_and_sample_std_over_seeds(tmp_path):
    paths = [
        _write(tmp_path, "graphreach", 1, 1, 1.0),
        _write(tmp_path, "graphreach", 2, 1, 3.0),
        _write(tmp_path, "graphreach", 3, 1, 5.0),
        _write(tmp_path, "random", 1, 1, 2.0),
    ]
    table = collect_metrics(paths)
    assert list(table["strategy"]) == ["graphreach"] * 3 + ["random"]
    summary = summarise(table).set_index("strategy")
    assert summary.loc["graphreach", "mse_top20_de_mean"] == pytest.approx(3.0)
    assert summary.loc["graphreach", "mse_top20_de_std"] == pytest.approx(2.0)  # sqrt(((-2)^2+0+2^2)/2)
    assert summary.loc["graphreach", "n_seeds"] == 3
    assert summary.loc["graphreach", "mse_top20_de"] == "3 ± 2"
    assert np.isnan(summary.loc["random", "mse_top20_de_std"])
    assert summary.loc["random", "mse_top20_de"] == "2"


def test_missing_metric_names_file_and_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"dataset": "toy", "strategy": "random", "seed": 1, "cycle": 1}))
    with pytest.raises(InputError, match="bad.json, field 'mean.mse_top20_de'"):
        collect_metrics([path])


def test_plot_is_an_svg_with_one_line_per_strategy(tmp_path):
    paths = [_write(tmp_path, s, seed, c, float(c + seed)) for s in ("random", "maxspec") for seed in (1, 2) for c in (1, 2)]
    out = tmp_path / "plot.svg"
    plot_metric_curves(collect_metrics(paths), "mse_top20_de", out, title="toy")
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "maxspec" in text and "random" in text
    assert not list(tmp_path.glob(".plot.svg.*"))  # no temporary file left behind


def test_learning_curves_table_and_plot(tmp_path):
    from perturb_select.report import collect_learning_curves, plot_learning_curves

    paths = []
    for strategy, seed, cycle in (("random", 2, 1), ("random", 1, 2), ("graphreach", 1, 2)):
        record = {"dataset": "toy", "strategy": strategy, "seed": seed, "cycle": cycle,
                  "diagnostics": {"epoch": [1, 2], "train_loss": [5.0, 4.0], "val_mse_top20_de": [0.5, 0.4],
                                  "lr": [1e-3, 5e-4], "best_epoch": 2,
                                  "val_baselines": {"no_change": 0.45, "train_mean": 0.2}}}
        paths.append(tmp_path / f"{strategy}{seed}{cycle}.json")
        paths[-1].write_text(json.dumps(record))
    no_diagnostics = tmp_path / "old.json"  # a cell-gears run: skipped
    no_diagnostics.write_text(json.dumps({"dataset": "toy", "strategy": "maxspec", "seed": 1, "cycle": 1}))
    table = collect_learning_curves(paths + [no_diagnostics])
    assert len(table) == 6 and set(table["strategy"]) == {"random", "graphreach"}
    assert list(table.iloc[0][["strategy", "seed", "cycle", "epoch"]]) == ["graphreach", 1, 2, 1]
    row = table[(table.strategy == "random") & (table.seed == 1) & (table.epoch == 2)].iloc[0]
    assert (row.val_mse_top20_de, row.val_no_change, row.val_train_mean, row.best_epoch) == (0.4, 0.45, 0.2, 2)
    out = tmp_path / "curves.svg"
    plot_learning_curves(table, out, title="toy")
    text = out.read_text()
    # the first seed's final cycle of each strategy, with the two baselines
    assert "random, seed 1, cycle 2" in text and "graphreach, seed 1, cycle 2" in text
    assert "no change" in text and "training mean" in text
    plot_learning_curves(collect_learning_curves([no_diagnostics]), tmp_path / "empty.svg")
    assert "no learning curves" in (tmp_path / "empty.svg").read_text()


def test_truncated_metrics_file_is_one_input_error(tmp_path):
    path = _write(tmp_path, "random", 1, 1, 0.5)
    path.write_text(path.read_text()[:-7])
    with pytest.raises(InputError, match=f"{path.name}: not valid JSON"):
        collect_metrics([path])
