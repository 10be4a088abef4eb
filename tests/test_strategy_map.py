"""The map across SIMULATED truths (evaluation/strategy_map.py): per truth, model, strategy and cycle, the paired
difference to random with its interval and Holm-adjusted p, on hand-made metrics tables."""

import numpy as np
import pandas as pd
import pytest

from perturb_select.evaluation.strategy_map import plot_strategy_map, strategy_map


def _table(effect: dict, seeds=range(1, 11)) -> pd.DataFrame:
    """A metrics table: random's top-20 DE MSE 1 + seed/100 at every cycle; every other strategy adds
    ``effect[(strategy, model, cycle)]`` (default 0) plus a seed-dependent wobble."""
    rows = []
    for seed in seeds:
        for cycle in (1, 3, 5):
            for model in ("go_kernel_ridge", "sgc_ridge", "train_mean"):
                for strategy in ("random", "graphreach", "facility"):
                    shift = (
                        0.0
                        if strategy == "random"
                        else effect.get((strategy, model, cycle), 0.0) + 0.002 * ((seed * 7 + cycle) % 5 - 2)
                    )
                    rows.append(
                        {
                            "dataset": "d",
                            "strategy": strategy,
                            "seed": seed,
                            "cycle": cycle,
                            "model": model,
                            "mse_top20_de": 1.0 + seed / 100 + shift,
                        }
                    )
    return pd.DataFrame(rows)


def test_strategy_map_pairs_seeds_and_adjusts_within_model_and_cycle():
    table = _table({("graphreach", "sgc_ridge", 5): -0.05})
    out = strategy_map({"simulated_rf_gs09": table}, {"simulated_rf_gs09": "receptive_field, graph_signal 0.9"})
    assert set(out["model"]) == {"go_kernel_ridge", "sgc_ridge", "train_mean"} and "random" not in set(out["strategy"])
    assert len(out) == 3 * 2 * 3  # models x strategies x cycles
    row = out[(out["model"] == "sgc_ridge") & (out["strategy"] == "graphreach") & (out["cycle"] == 5)].iloc[0]
    wobble = np.array([0.002 * ((s * 7 + 5) % 5 - 2) for s in range(1, 11)])
    assert row["diff_to_random_mean"] == pytest.approx(-0.05 + wobble.mean())
    assert row["diff_to_random_ci_low"] <= row["diff_to_random_mean"] <= row["diff_to_random_ci_high"]
    assert row["n_pairs"] == 10 and row["p_vs_random"] == pytest.approx(2 / 2**10)
    # Holm over graphreach and facility for sgc_ridge at cycle 5: 2 x p of the smaller, then step-down
    family = out[(out["model"] == "sgc_ridge") & (out["cycle"] == 5)].set_index("strategy")
    assert family.loc["graphreach", "p_holm"] == pytest.approx(min(1.0, 2 * 2 / 2**10))
    assert family.loc["facility", "p_holm"] >= family.loc["facility", "p_vs_random"]
    # no effect anywhere else: nothing significant after Holm
    rest = out[~((out["model"] == "sgc_ridge") & (out["strategy"] == "graphreach") & (out["cycle"] == 5))]
    assert (rest["p_holm"] > 0.05).all()
    # same input, same bytes; a subset of cycles; the truth label travels
    again = strategy_map({"simulated_rf_gs09": table}, {"simulated_rf_gs09": "receptive_field, graph_signal 0.9"})
    assert out.to_csv() == again.to_csv()
    only = strategy_map({"a": table}, {"a": "t"}, cycles=[1])
    assert set(only["cycle"]) == {1} and set(only["truth"]) == {"t"}


def test_strategy_map_refuses_a_dataset_without_truth_or_random():
    table = _table({})
    with pytest.raises(ValueError, match="no truth label"):
        strategy_map({"a": table}, {})
    with pytest.raises(ValueError, match="no 'random' runs"):
        strategy_map({"a": table[table["strategy"] != "random"]}, {"a": "t"})


def test_plot_strategy_map_writes_one_reproducible_svg(tmp_path):
    out = strategy_map(
        {"a": _table({("graphreach", "sgc_ridge", 5): -0.05}), "b": _table({})},
        {"a": "receptive_field, graph_signal 0.9", "b": "kernel, graph_signal 0"},
    )
    plot_strategy_map(out, tmp_path / "map.svg", "SIMULATED map")
    plot_strategy_map(out, tmp_path / "again.svg", "SIMULATED map")
    text = (tmp_path / "map.svg").read_text()
    assert "SIMULATED map" in text and "receptive_field, graph_signal 0.9" in text and "sgc_ridge" in text
    assert (tmp_path / "map.svg").read_bytes() == (tmp_path / "again.svg").read_bytes()
