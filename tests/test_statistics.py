"""Paired statistics over seeds: Holm against statsmodels and by hand, the bootstrap interval, the power."""

import numpy as np
import pandas as pd
import pytest

from perturb_select.evaluation.statistics import (
    bootstrap_interval,
    detectable_difference,
    holm,
    holm_by,
    wilcoxon_floor,
)


def _statsmodels_holm(p):
    from statsmodels.stats.multitest import multipletests

    return multipletests(p, method="holm")[1]


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.03, 0.04 with m = 4: 0.04, 0.06, 0.06 (monotone), 0.06 (monotone)
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    # one test: unchanged; large products are capped at 1
    assert holm([0.2]) == pytest.approx([0.2])
    assert holm([0.5, 0.6, 0.01]) == pytest.approx([1.0, 1.0, 0.03])
    # ties share a value: 3 * 0.01 for both, then max(0.03, 1 * 0.02)
    assert holm([0.01, 0.01, 0.02]) == pytest.approx([0.03, 0.03, 0.03])
    # NaN is not a test: m = 2, and it stays NaN
    out = holm([0.01, np.nan, 0.04])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert np.isnan(holm([np.nan, np.nan])).all() and holm([]).shape == (0,)
    # the Wilcoxon floor of 6 seeds over 6 strategies can never be below 0.05
    assert holm([2 / 64] * 6) == pytest.approx([6 * 2 / 64] * 6)


@pytest.mark.parametrize(
    "p",
    [
        [0.03, 0.01, 0.04, 0.02],
        [0.01, 0.01, 0.02, 0.02, 0.5],
        [1.0, 1.0, 0.0, 0.0],
        [0.031, 0.031, 0.031, 0.062, 0.84, 0.56],
        [0.001, 0.2, 0.0125, 0.05, 0.049, 0.9, 0.3],
    ],
)
def test_holm_matches_statsmodels_on_hand_made_vectors(p):
    assert holm(p) == pytest.approx(_statsmodels_holm(np.array(p)), abs=1e-15)


def test_holm_matches_statsmodels_on_random_vectors_with_ties_and_nan():
    rng = np.random.default_rng(2024)
    for trial in range(60):  # multipletests takes ~20 ms a call
        m = int(rng.integers(1, 40))
        p = rng.uniform(size=m) ** rng.uniform(0.3, 4)
        if trial % 3 == 0:  # ties: p-values from a coarse grid, as Wilcoxon with few seeds gives
            p = rng.choice([2 / 64, 4 / 64, 0.0625, 0.156, 0.3125, 1.0], size=m)
        out = holm(p)
        assert out == pytest.approx(_statsmodels_holm(p), abs=1e-12)
        assert (out >= p - 1e-15).all() and (out <= 1).all()
        order = np.argsort(p, kind="stable")
        assert (np.diff(out[order]) >= -1e-15).all()  # monotone in sorted order
        # NaN entries leave the family: the others are adjusted as if they were absent
        holes = p.copy()
        holes[rng.uniform(size=m) < 0.3] = np.nan
        tested = ~np.isnan(holes)
        out = holm(holes)
        assert np.isnan(out[~tested]).all()
        if tested.any():
            assert out[tested] == pytest.approx(_statsmodels_holm(holes[tested]), abs=1e-12)


def test_holm_rejects_what_is_not_a_p_value():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([-0.01])
    with pytest.raises(ValueError, match="1-D"):
        holm([[0.1, 0.2]])


def test_holm_by_adjusts_each_family_and_leaves_excluded_rows_nan():
    table = pd.DataFrame(
        {
            "metric": ["a", "a", "a", "b", "b"],
            "strategy": ["random", "x", "y", "x", "y"],
            "p": [1.0, 0.01, 0.04, 0.02, np.nan],
        }
    )
    out = holm_by(table, "p", ["metric"], include=table["strategy"] != "random")
    assert np.isnan(out.iloc[0]) and np.isnan(out.iloc[4])
    assert out.iloc[1:4].tolist() == pytest.approx([0.02, 0.04, 0.02])
    assert holm_by(table.iloc[:0], "p", ["metric"]).empty


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    d = np.array([-0.12, -0.08, -0.1, -0.15, -0.05, -0.11])
    low, high = bootstrap_interval(d)
    assert low < d.mean() < high and low >= d.min() and high <= d.max()
    assert (low, high) == bootstrap_interval(d.copy())  # same input, same numbers (bitwise)
    # the same resamples by hand: percentile interval of resampled means
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, 6, size=(10_000, 6))].mean(axis=1)
    assert (low, high) == tuple(np.quantile(means, [0.025, 0.975]))
    # all differences equal: a zero-width interval at that value; NaN pairs are left out
    assert bootstrap_interval([0.3, 0.3, np.nan, 0.3]) == pytest.approx((0.3, 0.3))
    assert np.isnan(bootstrap_interval([0.3])).all() and np.isnan(bootstrap_interval([])).all()
    # wider at 99 % than at 80 %
    low80, high80 = bootstrap_interval(d, confidence=0.8)
    low99, high99 = bootstrap_interval(d, confidence=0.99)
    assert low99 <= low80 and high80 <= high99
    rng = np.random.default_rng(7)
    for _ in range(50):
        d = rng.normal(rng.normal(), rng.uniform(0.01, 1), size=int(rng.integers(3, 12)))
        low, high = bootstrap_interval(d)
        assert low <= d.mean() <= high
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval(d, confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_interval(d, n_resamples=0)


def test_bootstrap_interval_approaches_the_normal_interval_for_many_seeds():
    d = np.random.default_rng(3).normal(0.5, 1.0, size=400)
    low, high = bootstrap_interval(d)
    half = 1.959964 * d.std(ddof=0) / np.sqrt(len(d))
    assert low == pytest.approx(d.mean() - half, abs=0.02) and high == pytest.approx(d.mean() + half, abs=0.02)


def test_wilcoxon_floor_and_detectable_difference_by_hand():
    assert wilcoxon_floor(6) == pytest.approx(0.03125) and wilcoxon_floor(10) == pytest.approx(0.001953125)
    assert wilcoxon_floor(0) == 1.0 and wilcoxon_floor(1) == 1.0
    with pytest.raises(ValueError):
        wilcoxon_floor(-1)
    # (1.959964 + 0.841621) * 0.1 / sqrt(4) = 0.1400793
    assert detectable_difference(0.1, 4) == pytest.approx(0.1400793, rel=1e-6)
    assert detectable_difference(0.1, 16) == pytest.approx(0.1400793 / 2, rel=1e-6)
    # stricter alpha (a Holm family's first step, 0.05 / 6), larger difference
    assert detectable_difference(0.1, 4, alpha=0.05 / 6) > detectable_difference(0.1, 4)
    out = detectable_difference(np.array([0.1, 0.2, np.nan]), np.array([4, 1, 6]))
    assert out[0] == pytest.approx(0.1400793, rel=1e-6) and np.isnan(out[1:]).all()
    with pytest.raises(ValueError, match="power"):
        detectable_difference(0.1, 4, power=80)
    with pytest.raises(ValueError, match="alpha"):
        detectable_difference(0.1, 4, alpha=0)
