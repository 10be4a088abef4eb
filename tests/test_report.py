"""Aggregation over seeds: hand-checked means and standard deviations, and the plots."""

import json

import numpy as np
import pytest

from perturb_select.io import InputError
from perturb_select.evaluation.report import REPORTED_METRICS as METRICS, collect_metrics, plot_metric_curves, summarise


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
    from perturb_select.evaluation.report import collect_learning_curves, plot_learning_curves

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


def _write_baselines(tmp_path, strategy, seed, cycle, values):
    record = {"dataset": "toy", "strategy": strategy, "seed": seed, "cycle": cycle, "n_train_perturbations": 4,
              "models": {m: {"mean": {k: v for k in METRICS}} for m, v in values.items()}}
    path = tmp_path / f"base_{strategy}_{seed}_{cycle}.json"
    path.write_text(json.dumps(record))
    return path


def test_baselines_join_the_table_with_a_model_column(tmp_path):
    gears = [_write(tmp_path, "random", 1, 1, 0.5)]
    base = [_write_baselines(tmp_path, "random", 1, 1, {"no_change": 0.7, "train_mean": 0.2})]
    table = collect_metrics(gears, base)
    assert table[["model", "mse_top20_de"]].values.tolist() == [["gears", 0.5], ["no_change", 0.7],
                                                                  ["train_mean", 0.2]]
    summary = summarise(table)
    assert summary["model"].tolist() == ["gears", "no_change", "train_mean"]
    bad = tmp_path / "bad_base.json"
    bad.write_text(json.dumps({"dataset": "toy", "strategy": "random", "seed": 1, "cycle": 1,
                               "models": {"no_change": {"mean": {}}}}))
    with pytest.raises(InputError, match="field 'models.no_change.mean.mse_top20_de'"):
        collect_metrics([], [bad])


def test_paired_wilcoxon_on_known_inputs():
    from scipy.stats import wilcoxon

    from perturb_select.evaluation.report import paired_wilcoxon

    assert paired_wilcoxon(np.zeros(10)) == 1.0  # identical runs
    assert np.isnan(paired_wilcoxon([0.3]))
    # 6 differences of one sign: the exact two-sided p is 2 / 2^6
    assert paired_wilcoxon([1, 2, 3, 4, 5, 6]) == pytest.approx(2 / 64)
    assert paired_wilcoxon([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)  # 5 seeds can never reach 0.05
    d = np.array([0.5, -0.2, 0.3, 0.9, -0.1, 0.4, 0.6])
    assert paired_wilcoxon(d) == pytest.approx(wilcoxon(d).pvalue)


def test_final_cycle_comparison_auc_and_conclusions_by_hand(tmp_path):
    from perturb_select.evaluation.report import conclusions, final_cycle_comparison, learning_curve_auc

    gears, base = [], []
    for seed in range(1, 8):
        for cycle in (1, 2):
            # graphreach is better than random by 0.1 in every seed at cycle 2; GEARS never beats train_mean
            gears.append(_write(tmp_path, "random", seed, cycle, 1.0 + seed / 100))
            gears.append(_write(tmp_path, "graphreach", seed, cycle, 1.0 + seed / 100 - 0.1 * (cycle == 2)))
            for strategy in ("random", "graphreach"):
                base.append(_write_baselines(tmp_path, strategy, seed, cycle, {"train_mean": 0.5, "no_change": 2.0}))
    table = collect_metrics(gears, base)
    comparison = final_cycle_comparison(table, metrics=["mse_top20_de"]).set_index(["strategy", "model"])
    row = comparison.loc[("graphreach", "gears")]
    assert row["diff_to_random_mean"] == pytest.approx(-0.1) and row["n_pairs"] == 7
    assert row["p_vs_random"] == pytest.approx(2 / 2 ** 7)
    assert row["beats_train_mean"] == "0/7" and row["mean"] == pytest.approx(1.04 - 0.1)
    assert comparison.loc[("graphreach", "no_change"), "p_vs_random"] == 1.0
    assert comparison.loc[("random", "gears"), "diff_to_random_mean"] == 0.0
    auc = learning_curve_auc(table, metrics=["mse_top20_de"]).set_index(["strategy", "model"])
    assert auc.loc[("graphreach", "gears"), "auc_mean"] == pytest.approx(1.04 - 0.05)
    text = conclusions(final_cycle_comparison(table, metrics=["mse_top20_de"]))
    assert "mse_top20_de, gears: graphreach differs from random by -0.1 (p = 0.016)." in text
    assert "GEARS beats the training mean in 0 of 14 runs" in text and "say little" in text
    same = collect_metrics([p for p in gears if "graphreach" not in p.name] +
                           [_write(tmp_path, "maxspec", s, c, 1.0 + s / 100 + (0.05 if s % 2 else -0.04))
                            for s in range(1, 8) for c in (1, 2)])
    text = conclusions(final_cycle_comparison(same, metrics=["mse_top20_de"]))
    assert "mse_top20_de, gears: no strategy differs from random beyond seed noise" in text


def test_model_comparison_per_cycle_against_the_reference_models_by_hand(tmp_path):
    from perturb_select.evaluation.report import model_comparison, model_statements, simulated_statement

    gears, base = [], []
    for seed in range(1, 7):
        for cycle in (1, 2):
            for strategy, offset in (("random", 0.0), ("graphreach", 0.02)):
                gears.append(_write(tmp_path, strategy, seed, cycle, 0.6 + offset))
                # the kernel ridge model beats train_mean by 0.1 + seed/100 at cycle 2 only; the oracle is 0.1
                ridge = 0.5 - (0.1 + seed / 100) * (cycle == 2)
                base.append(_write_baselines(tmp_path, strategy, seed, cycle, {
                    "train_mean": 0.5, "no_change": 1.0, "go_kernel_ridge": ridge, "oracle": 0.1}))
    table = collect_metrics(gears, base)
    models = model_comparison(table, metrics=["mse_top20_de"]).set_index(["cycle", "strategy", "model", "reference"])
    # 2 cycles x (2 strategies + all) x 2 models x 3 references
    assert len(models) == 2 * 3 * 2 * 3
    row = models.loc[(2, "all", "go_kernel_ridge", "train_mean")]
    assert row["n_pairs"] == 6 and row["better"] == "6/6"
    assert row["diff_mean"] == pytest.approx(-(0.1 + 3.5 / 100)) and row["p"] == pytest.approx(2 / 64)
    assert models.loc[(1, "all", "go_kernel_ridge", "train_mean"), "p"] == 1.0  # identical at cycle 1
    # all: a seed's differences averaged over strategies (gears: 0.1 for random, 0.12 for graphreach)
    assert models.loc[(1, "all", "gears", "train_mean"), "diff_mean"] == pytest.approx(0.11)
    assert models.loc[(1, "graphreach", "gears", "oracle"), "diff_mean"] == pytest.approx(0.52)
    assert models.loc[(2, "random", "gears", "no_change"), "better"] == "6/6"
    lines = model_statements(model_comparison(table, metrics=["mse_top20_de"]))
    assert ("mse_top20_de, go_kernel_ridge vs train_mean (6 seeds, the strategies' mean difference per seed): "
            "better at cycles [2], worse at cycles [], within seed noise at the others") in "\n".join(lines)
    assert any(line.startswith("mse_top20_de, gears vs train_mean") and "worse at every cycle" in line for line in lines)
    # a real screen has no oracle rows: its reference is skipped, nothing else changes
    real = model_comparison(table[table["model"] != "oracle"], metrics=["mse_top20_de"])
    assert set(real["reference"]) == {"train_mean", "no_change"} and len(real) == 2 * 3 * 2 * 2
    assert simulated_statement(None, "papalexi2021") == ""
    assert simulated_statement({"graph_signal": 0.9, "n_genes": 1500}, "simulated_gs09").startswith(
        "SIMULATED screen simulated_gs09 (graph_signal 0.9, n_genes 1500;")


def test_model_curves_plot(tmp_path):
    from perturb_select.evaluation.report import plot_model_curves

    gears = [_write(tmp_path, "random", s, c, 1.0) for s in (1, 2) for c in (1, 2)]
    base = [_write_baselines(tmp_path, "random", s, c, {"train_mean": 0.5, "no_change": 2.0, "go_kernel_ridge": 0.4})
            for s in (1, 2) for c in (1, 2)]
    out = tmp_path / "models.svg"
    plot_model_curves(collect_metrics(gears, base), "mse_top20_de", out, title="toy")
    text = out.read_text()
    for model in ("gears", "no_change", "train_mean", "go_kernel_ridge"):
        assert model in text
