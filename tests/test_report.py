"""Aggregation over seeds: hand-checked means and standard deviations, and the plots."""

import json

import numpy as np
import pytest

from perturb_select.evaluation.figures import plot_metric_curves
from perturb_select.evaluation.report import REPORTED_METRICS as METRICS
from perturb_select.evaluation.report import collect_metrics, summarise
from perturb_select.io import InputError


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
    paths = [
        _write(tmp_path, s, seed, c, float(c + seed)) for s in ("random", "maxspec") for seed in (1, 2) for c in (1, 2)
    ]
    out = tmp_path / "plot.svg"
    plot_metric_curves(collect_metrics(paths), "mse_top20_de", out, title="toy")
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "maxspec" in text and "random" in text
    assert not list(tmp_path.glob(".plot.svg.*"))  # no temporary file left behind


def _legend_outside_the_axes(fig):
    """The figure's one legend covers no panel (the panels' ticks, labels and titles included) and lies wholly
    inside the figure (nothing of it clipped)."""
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert panels and not any(box.overlaps(ax.get_tightbbox(renderer)) for ax in panels)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1


def test_learning_curves_table_and_plot(tmp_path, monkeypatch):
    from perturb_select.evaluation import figures
    from perturb_select.evaluation.figures import plot_learning_curves
    from perturb_select.evaluation.report import collect_learning_curves

    paths = []
    for strategy, seed, cycle in (("random", 2, 1), ("random", 1, 2), ("graphreach", 1, 2)):
        record = {
            "dataset": "toy",
            "strategy": strategy,
            "seed": seed,
            "cycle": cycle,
            "diagnostics": {
                "epoch": [1, 2],
                "train_loss": [5.0, 4.0],
                "val_mse_top20_de": [0.5, 0.4],
                "lr": [1e-3, 5e-4],
                "best_epoch": 2,
                "val_baselines": {"no_change": 0.45, "train_mean": 0.2},
            },
        }
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
    drawn = []
    save_figure = figures.save_figure
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), save_figure(fig, path)))
    plot_learning_curves(table, out, title="toy")
    text = out.read_text()
    # the first seed's final cycle of each strategy, with the two baselines
    assert "random, seed 1, cycle 2" in text and "graphreach, seed 1, cycle 2" in text
    assert "no change" in text and "training mean" in text
    _legend_outside_the_axes(drawn[0])  # it covers no line
    plot_learning_curves(collect_learning_curves([no_diagnostics]), tmp_path / "empty.svg")
    assert "no learning curves" in (tmp_path / "empty.svg").read_text()


def test_truncated_metrics_file_is_one_input_error(tmp_path):
    path = _write(tmp_path, "random", 1, 1, 0.5)
    path.write_text(path.read_text()[:-7])
    with pytest.raises(InputError, match=f"{path.name}: not valid JSON"):
        collect_metrics([path])


def _write_baselines(tmp_path, strategy, seed, cycle, values):
    record = {
        "dataset": "toy",
        "strategy": strategy,
        "seed": seed,
        "cycle": cycle,
        "n_train_perturbations": 4,
        "models": {m: {"mean": {k: v for k in METRICS}} for m, v in values.items()},
    }
    path = tmp_path / f"base_{strategy}_{seed}_{cycle}.json"
    path.write_text(json.dumps(record))
    return path


def test_baselines_join_the_table_with_a_model_column(tmp_path):
    gears = [_write(tmp_path, "random", 1, 1, 0.5)]
    base = [_write_baselines(tmp_path, "random", 1, 1, {"no_change": 0.7, "train_mean": 0.2})]
    table = collect_metrics(gears, base)
    assert table[["model", "mse_top20_de"]].values.tolist() == [["gears", 0.5], ["no_change", 0.7], ["train_mean", 0.2]]
    summary = summarise(table)
    assert summary["model"].tolist() == ["gears", "no_change", "train_mean"]
    bad = tmp_path / "bad_base.json"
    bad.write_text(
        json.dumps(
            {"dataset": "toy", "strategy": "random", "seed": 1, "cycle": 1, "models": {"no_change": {"mean": {}}}}
        )
    )
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
    from scipy.stats import wilcoxon

    from perturb_select.evaluation.conclusions import conclusions
    from perturb_select.evaluation.report import final_cycle_comparison, learning_curve_auc
    from perturb_select.evaluation.statistics import bootstrap_interval

    gears, base = [], []
    graphreach_diff = {seed: -0.1 + 0.01 * (seed - 4) for seed in range(1, 8)}  # -0.13 .. -0.07, mean -0.1
    maxspec_diff = {seed: 0.05 if seed % 2 else -0.04 for seed in range(1, 8)}  # no consistent sign
    for seed in range(1, 8):
        for cycle in (1, 2):
            # at cycle 2 graphreach is better than random in every seed, maxspec is not; GEARS never beats
            # train_mean
            gears.append(_write(tmp_path, "random", seed, cycle, 1.0 + seed / 100))
            gears.append(
                _write(tmp_path, "graphreach", seed, cycle, 1.0 + seed / 100 + graphreach_diff[seed] * (cycle == 2))
            )
            gears.append(_write(tmp_path, "maxspec", seed, cycle, 1.0 + seed / 100 + maxspec_diff[seed] * (cycle == 2)))
            for strategy in ("random", "graphreach", "maxspec"):
                base.append(_write_baselines(tmp_path, strategy, seed, cycle, {"train_mean": 0.5, "no_change": 2.0}))
    table = collect_metrics(gears, base)
    comparison = final_cycle_comparison(table, metrics=["mse_top20_de"])
    # same input, same bytes (the bootstrap's generator is seeded)
    assert comparison.to_csv() == final_cycle_comparison(table, metrics=["mse_top20_de"]).to_csv()
    comparison = comparison.set_index(["strategy", "model"])
    row = comparison.loc[("graphreach", "gears")]
    assert row["diff_to_random_mean"] == pytest.approx(-0.1) and row["n_pairs"] == 7
    assert row["diff_to_random_std"] == pytest.approx(0.01 * np.sqrt(28 / 6))
    assert row["p_vs_random"] == pytest.approx(2 / 2**7)
    # Holm over the two strategies compared with random (GEARS, top-20 DE MSE): 2 x 2/2^7, then max(that, p)
    p_maxspec = wilcoxon(list(maxspec_diff.values())).pvalue
    assert comparison.loc[("maxspec", "gears"), "p_vs_random"] == pytest.approx(p_maxspec)
    assert row["p_holm"] == pytest.approx(2 * 2 / 2**7)
    assert comparison.loc[("maxspec", "gears"), "p_holm"] == pytest.approx(max(2 * 2 / 2**7, p_maxspec))
    assert np.isnan(comparison.loc[("random", "gears"), "p_holm"])  # random vs random is no comparison
    # the 95 % percentile bootstrap interval over seeds: the hand-computed resamples, around the mean
    low, high = bootstrap_interval(np.array(list(graphreach_diff.values())))
    assert (row["diff_to_random_ci_low"], row["diff_to_random_ci_high"]) == pytest.approx((low, high))
    assert -0.13 < low < -0.1 < high < -0.07 and (low, high) == pytest.approx((-0.11429, -0.08571), abs=1e-5)
    assert row["beats_train_mean"] == "0/7" and row["mean"] == pytest.approx(1.04 - 0.1)
    assert row["diff_to_train_mean_mean"] == pytest.approx(1.04 - 0.1 - 0.5)
    assert row["diff_to_train_mean_ci_low"] <= row["diff_to_train_mean_mean"] <= row["diff_to_train_mean_ci_high"]
    # vs train_mean: one family of the learned models' rows (GEARS x 3 strategies), each p = 2/2^7
    assert row["p_vs_train_mean"] == pytest.approx(2 / 2**7)
    assert comparison.xs("gears", level="model")["p_holm_vs_train_mean"].tolist() == pytest.approx([3 * 2 / 2**7] * 3)
    assert np.isnan(comparison.loc[("graphreach", "no_change"), "p_holm_vs_train_mean"])  # a reference: no family
    assert comparison.loc[("graphreach", "no_change"), "p_vs_random"] == 1.0
    assert comparison.loc[("random", "gears"), "diff_to_random_mean"] == 0.0
    auc = learning_curve_auc(table, metrics=["mse_top20_de"]).set_index(["strategy", "model"])
    assert auc.loc[("graphreach", "gears"), "auc_mean"] == pytest.approx(1.04 - 0.05)
    # a run's area minus random's: half the cycle-2 difference (two cycles); Holm over graphreach and maxspec
    assert auc.loc[("graphreach", "gears"), "diff_to_random_mean"] == pytest.approx(-0.05)
    assert auc.loc[("graphreach", "gears"), "p_vs_random"] == pytest.approx(2 / 2**7)
    assert auc.loc[("graphreach", "gears"), "p_holm"] == pytest.approx(2 * 2 / 2**7)
    assert auc.loc[("graphreach", "gears"), "diff_to_random_ci_low"] == pytest.approx(low / 2)
    assert np.isnan(auc.loc[("random", "gears"), "p_holm"])
    text = conclusions(final_cycle_comparison(table, metrics=["mse_top20_de"]))
    assert (
        "mse_top20_de, gears: graphreach differs from random by -0.1 (95 % CI [-0.114, -0.0857], "
        "p_holm = 0.031 over 2 strategies)."
    ) in text
    assert (
        "mse_top20_de, gears, power: with 7 seeds and a seed-to-seed sd of "
        f"{np.sqrt((0.01**2 * 28 / 6 + np.var(list(maxspec_diff.values()), ddof=1)) / 2):.3g} in the paired "
        "differences to random"
    ) in text
    assert "no Wilcoxon p can fall below 0.016 (0.031 after Holm)." in text
    assert "GEARS beats the training mean in 0 of 21 runs" in text and "say little" in text
    same = collect_metrics([p for p in gears if "graphreach" not in p.name])
    text = conclusions(final_cycle_comparison(same, metrics=["mse_top20_de"]))
    assert (
        "mse_top20_de, gears: no strategy differs from random beyond seed noise (smallest p_holm = 0.22 over "
        "1 strategy, maxspec, raw p = 0.22, 7 seeds)."
    ) in text
    assert (
        "detected with 80% power at alpha = 0.05 (normal approximation), and no Wilcoxon p can fall below 0.016."
    ) in text
    # 6 seeds, two strategies: the smallest p_holm is 2 x 2/2^6 = 0.0625, so nothing can be significant
    six = collect_metrics([p for p in gears if "_7_" not in p.name])
    text = conclusions(final_cycle_comparison(six, metrics=["mse_top20_de"]))
    assert (
        "mse_top20_de, gears: 6 paired seeds cannot show a difference at p_holm < 0.05 (Holm over 2 "
        "strategies: the Wilcoxon test's smallest p_holm is 2 x 2/2^6 = 0.062; it needs at least 7 seeds)."
    ) in text


def test_power_table_and_seeds_needed_by_hand():
    import pandas as pd

    from perturb_select.evaluation.conclusions import seeds_needed
    from perturb_select.evaluation.report import power_table

    comparison = pd.DataFrame(
        {
            "metric": ["mse_top20_de"] * 4,
            "strategy": ["random", "graphreach", "maxspec", "random"],
            "model": ["gears", "gears", "gears", "no_change"],
            "diff_to_random_std": [0.0, 0.3, 0.4, 0.0],
            "n_pairs": [6, 6, 6, 6],
            "p_vs_random": [1.0, 0.03125, 0.5, 1.0],
        }
    )
    table = power_table(comparison)
    assert table["model"].tolist() == ["gears"]  # references are not in the power table
    row = table.iloc[0]
    assert (row["n_strategies"], row["n_seeds"]) == (2, 6)
    assert row["diff_sd"] == pytest.approx(np.sqrt((0.09 + 0.16) / 2))
    # (1.959964 + 0.841621) * 0.353553 / sqrt(6); at alpha / 2: (2.241403 + 0.841621) * 0.353553 / sqrt(6)
    assert row["d_min"] == pytest.approx(0.404374, rel=1e-5)
    assert row["d_min_holm"] == pytest.approx(0.444996, rel=1e-5)
    assert (row["wilcoxon_floor"], row["holm_floor"]) == pytest.approx((2 / 64, 4 / 64))
    assert [seeds_needed(m) for m in (1, 2, 6, 24)] == [6, 7, 8, 10]


def test_model_comparison_per_cycle_against_the_reference_models_by_hand(tmp_path):
    from perturb_select.evaluation.conclusions import model_statements, simulated_statement
    from perturb_select.evaluation.report import model_comparison
    from perturb_select.evaluation.statistics import bootstrap_interval

    gears, base = [], []
    seeds = range(1, 11)
    for seed in seeds:
        for cycle in (1, 2):
            for strategy, offset in (("random", 0.0), ("graphreach", 0.02)):
                gears.append(_write(tmp_path, strategy, seed, cycle, 0.6 + offset))
                # the kernel ridge model beats train_mean by 0.1 + seed/100 at cycle 2 only; the oracle is 0.1
                ridge = 0.5 - (0.1 + seed / 100) * (cycle == 2)
                base.append(
                    _write_baselines(
                        tmp_path,
                        strategy,
                        seed,
                        cycle,
                        {"train_mean": 0.5, "no_change": 1.0, "go_kernel_ridge": ridge, "oracle": 0.1},
                    )
                )
    table = collect_metrics(gears, base)
    models = model_comparison(table, metrics=["mse_top20_de"])
    assert models.to_csv() == model_comparison(table, metrics=["mse_top20_de"]).to_csv()  # deterministic
    models = models.set_index(["cycle", "strategy", "model", "reference"])
    # 2 cycles x (2 strategies + all) x 2 models x 3 references
    assert len(models) == 2 * 3 * 2 * 3
    row = models.loc[(2, "all", "go_kernel_ridge", "train_mean")]
    assert row["n_pairs"] == 10 and row["better"] == "10/10"
    assert row["diff_mean"] == pytest.approx(-(0.1 + 5.5 / 100)) and row["p"] == pytest.approx(2 / 2**10)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        bootstrap_interval(-(0.1 + np.arange(1, 11) / 100))
    )
    assert row["diff_ci_low"] < row["diff_mean"] < row["diff_ci_high"]
    # Holm over the 6 rows against train_mean at cycle 2 (2 models x (2 strategies + all)), every p = 2/2^10
    assert row["p_holm"] == pytest.approx(6 * 2 / 2**10)
    assert models.loc[(1, "all", "go_kernel_ridge", "train_mean"), "p"] == 1.0  # identical at cycle 1
    assert models.loc[(1, "all", "go_kernel_ridge", "train_mean"), "p_holm"] == 1.0
    # cycle 1: GEARS's three p of 2/2^10 and kernel ridge's three of 1 form the family
    assert models.loc[(1, "random", "gears", "train_mean"), "p_holm"] == pytest.approx(6 * 2 / 2**10)
    assert (models["p_holm"] >= models["p"]).all()
    # all: a seed's differences averaged over strategies (gears: 0.1 for random, 0.12 for graphreach)
    assert models.loc[(1, "all", "gears", "train_mean"), "diff_mean"] == pytest.approx(0.11)
    assert models.loc[(1, "graphreach", "gears", "oracle"), "diff_mean"] == pytest.approx(0.52)
    assert models.loc[(2, "random", "gears", "no_change"), "better"] == "10/10"
    lines = model_statements(model_comparison(table, metrics=["mse_top20_de"]))
    assert (
        "mse_top20_de, go_kernel_ridge vs train_mean (10 seeds, the strategies' mean difference per seed; "
        "beyond seed noise: p_holm < 0.05, Holm over the 6 comparisons with train_mean at a cycle): better at "
        "cycles [2], worse at cycles [], within seed noise at the others; difference [95 % bootstrap interval] "
        "by cycle 1: +0 [0, 0] (p_holm = 1), 2: -0.155 ["
    ) in "\n".join(lines)
    assert any(
        line.startswith("mse_top20_de, gears vs train_mean") and "worse at every cycle" in line for line in lines
    )
    # 6 seeds: the same family cannot reach p_holm < 0.05 (6 x 2/2^6), so nothing is beyond seed noise
    few = table[table["seed"] <= 6]
    lines = model_statements(model_comparison(few, metrics=["mse_top20_de"]))
    assert all(
        "no cycle can reach p_holm < 0.05 with 6 seeds (the smallest p_holm is 6 x 2/2^6 = 0.19; "
        "the intervals show the size)" in line
        for line in lines
    )
    # a real screen has no oracle rows: its reference is skipped, nothing else changes
    real = model_comparison(table[table["model"] != "oracle"], metrics=["mse_top20_de"])
    assert set(real["reference"]) == {"train_mean", "no_change"} and len(real) == 2 * 3 * 2 * 2
    assert simulated_statement(None, "papalexi2021") == ""
    assert simulated_statement({"graph_signal": 0.9, "n_genes": 1500}, "simulated_gs09").startswith(
        "SIMULATED screen simulated_gs09 (graph_signal 0.9, n_genes 1500;"
    )
    assert simulated_statement({"mechanism": "receptive_field", "graph_signal": 0.9}, "simulated_rf").startswith(
        "SIMULATED screen simulated_rf (mechanism receptive_field, graph_signal 0.9;"
    )


def test_model_curves_plot(tmp_path):
    from perturb_select.evaluation.figures import plot_model_curves

    gears = [_write(tmp_path, "random", s, c, 1.0) for s in (1, 2) for c in (1, 2)]
    base = [
        _write_baselines(tmp_path, "random", s, c, {"train_mean": 0.5, "no_change": 2.0, "go_kernel_ridge": 0.4})
        for s in (1, 2)
        for c in (1, 2)
    ]
    out = tmp_path / "models.svg"
    plot_model_curves(collect_metrics(gears, base), "mse_top20_de", out, title="toy")
    text = out.read_text()
    for model in ("gears", "no_change", "train_mean", "go_kernel_ridge"):
        assert model in text


def test_grid_shape_spreads_panels_evenly_over_the_fewest_rows():
    from perturb_select.evaluation.figures import VS_PER_ROW, grid_shape

    assert [grid_shape(n) for n in (0, 1, 4, 5, 7, 8, 9)] == [(1, 1), (1, 1), (1, 4), (2, 3), (2, 4), (2, 4), (3, 3)]
    assert [grid_shape(n, VS_PER_ROW) for n in (3, 4, 5)] == [(1, 3), (2, 2), (2, 3)]


def _paired_table():
    """6 seeds x 2 cycles: random's go_kernel_ridge MSE is 0.5 + seed / 100, graphreach's that plus a known
    difference per cycle and seed, maxspec's that minus 0.01 at every seed; no_change and train_mean as given."""
    import pandas as pd

    diffs = {
        1: np.array([0.03, 0.01, 0.04, 0.02, 0.05, 0.015]),
        2: np.array([-0.02, -0.01, -0.03, -0.015, -0.025, 0.005]),
    }
    rows = []
    for cycle, d in diffs.items():
        for i, seed in enumerate(range(1, 7)):
            base = 0.5 + seed / 100
            for strategy, ridge, mean in (
                ("random", base, 0.6),
                ("graphreach", base + d[i], 0.6 + d[i] / 2),
                ("maxspec", base - 0.01, 0.6),
            ):
                for model, value in (("go_kernel_ridge", ridge), ("no_change", 0.9), ("train_mean", mean)):
                    rows.append(
                        {
                            "dataset": "toy",
                            "strategy": strategy,
                            "seed": seed,
                            "cycle": cycle,
                            "model": model,
                            **{m: value for m in METRICS},
                        }
                    )
    return pd.DataFrame(rows), diffs


def test_comparison_by_cycle_pairs_seeds_and_reuses_the_final_cycle_comparison():
    from perturb_select.evaluation.report import comparison_by_cycle, final_cycle_comparison
    from perturb_select.evaluation.statistics import bootstrap_interval, holm, paired_wilcoxon

    table, diffs = _paired_table()
    compared = comparison_by_cycle(table, "mse_top20_de")
    # no_change does not use the picks: no row; learned models first, then train_mean; random is the zero
    assert list(compared["model"].unique()) == ["go_kernel_ridge", "train_mean"]
    assert set(compared["strategy"]) == {"graphreach", "maxspec"} and (compared["n_pairs"] == 6).all()
    ridge = compared[compared["model"] == "go_kernel_ridge"].set_index(["strategy", "cycle"])
    for cycle, d in diffs.items():
        row = ridge.loc[("graphreach", cycle)]
        assert row["diff_to_random_mean"] == pytest.approx(d.mean())
        assert (row["diff_to_random_ci_low"], row["diff_to_random_ci_high"]) == pytest.approx(bootstrap_interval(d))
        assert row["p_vs_random"] == pytest.approx(paired_wilcoxon(d))
        # Holm over the two strategies compared with random for this model at this cycle
        assert row["p_holm"] == pytest.approx(holm([paired_wilcoxon(d), 2 / 2**6])[0])
    # cycle 1: every difference positive, p = 2/2^6; cycle 2: five of six negative
    assert ridge.loc[("graphreach", 1), "diff_to_random_mean"] == pytest.approx(0.0275)
    assert ridge.loc[("graphreach", 2), "diff_to_random_mean"] == pytest.approx(-0.0158333, abs=1e-6)
    assert ridge.loc[("graphreach", 1), "p_vs_random"] == pytest.approx(2 / 2**6)
    # a constant difference: its interval is that value, Wilcoxon's floor p
    assert ridge.loc[("maxspec", 2), "diff_to_random_mean"] == pytest.approx(-0.01)
    assert (
        ridge.loc[("maxspec", 2), "diff_to_random_ci_low"],
        ridge.loc[("maxspec", 2), "diff_to_random_ci_high"],
    ) == pytest.approx((-0.01, -0.01))
    # the final cycle is final_cycle_comparison's row, number for number
    final = final_cycle_comparison(table, metrics=("mse_top20_de",)).set_index(["strategy", "model"])
    columns = ["diff_to_random_mean", "diff_to_random_ci_low", "diff_to_random_ci_high", "p_vs_random", "p_holm"]
    for strategy in ("graphreach", "maxspec"):
        assert list(ridge.loc[(strategy, 2), columns]) == pytest.approx(
            list(final.loc[(strategy, "go_kernel_ridge"), columns])
        )
    assert comparison_by_cycle(table[table["strategy"] != "random"], "mse_top20_de").empty


def test_vs_random_figure_plots_the_comparison_by_cycle(tmp_path):
    from perturb_select.evaluation.figures import plot_vs_reference
    from perturb_select.evaluation.report import comparison_by_cycle

    table, _ = _paired_table()
    out = tmp_path / "vs_random_mse_top20_de.svg"
    plotted = plot_vs_reference(table, "mse_top20_de", out, title="SIMULATED screen toy")
    expected = comparison_by_cycle(table, "mse_top20_de")
    assert plotted.equals(expected) and len(plotted) == 2 * 2 * 2
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "SIMULATED screen toy" in text
    assert ">go_kernel_ridge<" in text and ">train_mean<" in text and ">no_change<" not in text
    assert "minus random, paired over 6 seeds" in text and "random (zero)" in text
    assert not list(tmp_path.glob(".vs_random*"))
    # no random runs: an empty table and a figure that says why
    empty = plot_vs_reference(table[table["strategy"] != "random"], "pearson_delta", tmp_path / "none.svg")
    assert empty.empty and "no random runs to compare with" in (tmp_path / "none.svg").read_text()
