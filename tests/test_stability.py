"""The stability statistics (the paper's Figure 1) on hand-checked runs."""

import numpy as np
import pytest

from perturb_select.evaluation.stability import plot_stability, stability_table


def test_stability_by_hand(tmp_path):
    runs = {
        "graphreach": [list("ABCDEF"), list("ABCDEF"), list("ABCDEF")],  # one-shot: the same every time
        "typiclust": [list("ABCD"), list("ABDC"), list("EFAB")],
    }
    table = stability_table(
        runs, perturbations_per_cycle=2, cycles=2, kinds={"graphreach": "one-shot", "typiclust": "active"}
    )
    graph = table[table["strategy"] == "graphreach"]
    assert graph["distinct_across_runs"].tolist() == [2, 4] and graph["in_every_run"].tolist() == [2, 4]
    assert graph["mean_pairwise_jaccard"].tolist() == [1.0, 1.0] and graph["picks_per_run"].tolist() == [2, 4]
    active = table[table["strategy"] == "typiclust"].set_index("cycle")
    # cycle 1: {A,B}, {A,B}, {E,F} -> union 4, intersection 0, Jaccard (1 + 0 + 0) / 3
    assert active.loc[1, "distinct_across_runs"] == 4 and active.loc[1, "in_every_run"] == 0
    assert active.loc[1, "mean_pairwise_jaccard"] == pytest.approx(1 / 3)
    # cycle 2: {A,B,C,D} twice and {E,F,A,B}: union 6, intersection {A,B}; Jaccard (1 + 2/6 + 2/6) / 3
    assert active.loc[2, "distinct_across_runs"] == 6 and active.loc[2, "in_every_run"] == 2
    assert active.loc[2, "mean_pairwise_jaccard"] == pytest.approx((1 + 2 / 6 + 2 / 6) / 3)
    assert (table["runs"] == 3).all() and set(table["kind"]) == {"one-shot", "active"}
    plot_stability(table, tmp_path / "s.svg", title="toy")
    assert "distinct across runs" in (tmp_path / "s.svg").read_text()


def test_one_run_has_no_jaccard_and_short_runs_fail():
    table = stability_table({"random": [list("AB")]}, perturbations_per_cycle=1, cycles=2)
    assert np.isnan(table["mean_pairwise_jaccard"]).all() and table["distinct_across_runs"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="random: a run has 2 picks"):
        stability_table({"random": [list("AB")]}, perturbations_per_cycle=1, cycles=3)


def test_the_statement_names_what_differs():
    from perturb_select.evaluation.stability import stability_statement

    runs = {"graphreach": [list("ABCD")] * 3, "typiclust": [list("ABCD"), list("ABDC"), list("EFAB")]}
    table = stability_table(runs, perturbations_per_cycle=2, cycles=2)
    assert stability_statement(table) == (
        "Up to cycle 2: graphreach picked the same perturbations in all 3 runs; the picks of typiclust "
        "(6 distinct for 4 per run, Jaccard 0.56) depend on the initialisation."
    )
