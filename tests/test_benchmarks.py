"""The benchmark code (benchmarks/bench_suite.py) on hand-checked tiny inputs: it runs, and the peers
optimise the same objective as ours (apricot's coverage equals ours where greedy has no choice)."""

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_suite as suite  # noqa: E402


def _fields(rows, n):
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate([np.asarray(sorted(r), dtype=np.int32) for r in rows])
    return sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(rows), n))


def test_apricot_objective_is_our_coverage_on_a_hand_example():
    from apricot import MaxCoverageSelection

    # rows 0 and 2 cover all six columns; greedy: row 0 (3 new, ties with row 2 -> lower index), then row 2 (3 new)
    fields = _fields([{0, 1, 2}, {2, 3}, {3, 4, 5}, {0, 5}], 6)
    ours = suite.ours_greedy(fields, 2)
    assert ours.tolist() == [0, 2]
    assert suite.coverage(fields, ours) == 6
    selector = MaxCoverageSelection(n_samples=2, optimizer="lazy").fit(suite.apricot_matrix(fields))
    assert sorted(selector.ranking.tolist()) == [0, 2]
    assert selector.gains.tolist() == [3.0, 3.0]  # its objective: number of columns covered
    assert suite.coverage(fields, selector.ranking) == 6
    assert suite.apricot_greedy(suite.apricot_matrix(fields), 2, "naive").tolist() == selector.ranking.tolist()


def test_apricot_lazy_picks_a_zero_gain_row_when_two_stale_rows_are_exhausted():
    # After row 0, rows 1 and 2 still carry their stale bound 2 but gain 0; row 3 gains 1. apricot 0.6.1's
    # LazyGreedy stops at the second zero it re-evaluates ("gain == best_gain and best_gain == 0") and
    # takes it, so it covers 4 columns where greedy covers 5: why its coverage is below ours at scale.
    fields = _fields([{0, 1, 2, 3}, {0, 1}, {0, 2}, {4}], 5)
    ours = suite.ours_greedy(fields, 2)
    assert ours.tolist() == [0, 3]
    assert suite.coverage(fields, ours) == 5
    lazy = suite.apricot_greedy(suite.apricot_matrix(fields), 2, "lazy")
    assert lazy[0] == 0 and lazy[1] in (1, 2)
    assert suite.coverage(fields, lazy) == 4


@pytest.fixture
def tiny_workdir(tmp_path):
    """Six genes: R_1(B) = {A, B, C} and R_1(E) = {D, E, F}; every other field is the gene alone."""
    from perturb_select.knowledge.graph import KnowledgeGraph

    edges = pd.DataFrame(
        {
            "source": ["A", "C", "D", "F"],
            "target": ["B", "B", "E", "E"],
            "importance": [1.0, 1.0, 1.0, 1.0],
        }
    )
    KnowledgeGraph.from_edges(edges).write(tmp_path / suite.GRAPH_FILE)
    (tmp_path / suite.REPLOGLE_FILE).write_text("E\nA\nB\n")
    terms = {"G1": {"a", "b"}, "G2": {"a", "b", "c"}, "G3": {"c", "d"}, "G4": {"x"}, "G5": {"a"}}
    with open(tmp_path / suite.GENE_TERMS_FILE, "wb") as handle:
        pickle.dump({g: frozenset(t) for g, t in terms.items()}, handle)
    return tmp_path


def test_bench_coverage_rows_on_the_tiny_graph(tiny_workdir, monkeypatch):
    # apricot (about 2 s per fit: it compiles its kernels at every fit) is checked on the hand examples above
    monkeypatch.setattr(suite, "REPEATS", 1)
    rows = suite.bench_coverage(tiny_workdir, hops=1, budget=2, peers=("plain greedy",), full_call=True)
    assert [r["peer"] for r in rows] == [None, "plain greedy", None]
    assert rows[0]["note"] == "6 x 6 incidence, 10 entries"  # 6 genes + 4 edges
    assert (rows[1]["coverage_ours"], rows[1]["coverage_peer"], rows[1]["coverage_ratio"]) == (6, 6, 1.0)
    assert rows[1]["ours_s"] > 0 and rows[1]["peer_s"] > 0
    assert rows[2]["coverage_ours"] == 6  # graphreach's own objective after picking B and E


def test_bench_maxspec_on_the_tiny_graph(tiny_workdir, monkeypatch):
    monkeypatch.setattr(suite, "REPEATS", 1)
    # B and E tie on the norm (isomorphic blocks); A reaches nothing new, so E wins the tie on reach
    (row,) = suite.bench_maxspec(tiny_workdir, budget=2)
    assert (row["budget"], row["pool"], row["coverage_ours"]) == (2, 3, 6)
    (row,) = suite.bench_maxspec(tiny_workdir, budget=5, n_candidates=2)
    assert (row["budget"], row["pool"]) == (2, 2)
    # a pool no larger than the shortlist is evaluated exhaustively: both runs pick B then E
    (row,) = suite.bench_maxspec_agreement(tiny_workdir, budget=2)
    assert (row["identical_prefix"], row["max_objective_difference"]) == (2, 0.0)
    assert (row["coverage_ours"], row["coverage_peer"]) == (6, 6)


def test_run_isolated_reports_rows_memory_and_timeouts(tiny_workdir):
    result = suite.run_isolated(
        suite.bench_coverage, dict(workdir=tiny_workdir, hops=1, budget=2, peers=("plain greedy",)), time_limit_s=120
    )
    assert result["error"] is None and not result["timed_out"]
    assert [r["coverage_ours"] for r in result["rows"][1:]] == [6]
    assert result["peak_rss_mib"] >= result["baseline_rss_mib"] > 0
    assert result["rss_increase_mib"] == result["peak_rss_mib"] - result["baseline_rss_mib"]

    result = suite.run_isolated(suite.bench_maxspec, dict(workdir=tiny_workdir, budget=2), time_limit_s=0.01)
    assert result["timed_out"] and result["rows"] == []
    assert result["error"] == "timed out after 0.01 s"


def test_candidate_pool_subsets_are_seeded_and_nested(tiny_workdir):
    graph = suite.load_graph(tiny_workdir)
    assert suite.candidate_pool(graph, tiny_workdir, "all") == list("ABCDEF")
    assert suite.candidate_pool(graph, tiny_workdir, "replogle") == ["A", "B", "E"]
    small = suite.candidate_pool(graph, tiny_workdir, "all", 2, seed=3)
    large = suite.candidate_pool(graph, tiny_workdir, "all", 4, seed=3)
    assert len(small) == 2 and set(small) <= set(large) and small == sorted(small)


def test_markdown_table_and_scaling_table():
    rows = [
        suite.make_row("cover", "lazy", 0.5, peer="apricot lazy", peer_s=50.0, coverage_ours=10, coverage_peer=8),
        suite.make_row("maxspec b=5", "maxspec", 2.0, budget=5, pool=100),
        suite.make_row("maxspec b=9", "maxspec", None, note="timed out after 9 s", budget=9, pool=100),
    ]
    assert rows[0]["ratio"] == 100.0 and rows[0]["coverage_ratio"] == 1.25
    table = suite.markdown_table(rows[:1]).splitlines()
    assert table[2] == "| cover | lazy | 0.5 | apricot lazy | 50 | 100.0x | 10 / 8 = 1.2500 | - | - |  |"
    assert suite.scaling_table(rows).splitlines()[2:] == ["| 5 | 2 s |", "| 9 | timed out after 9 s |"]


@pytest.mark.slow
@pytest.mark.gears
def test_jaccard_against_gears_make_go_on_a_hand_example(tiny_workdir, monkeypatch):
    monkeypatch.setattr(suite, "REPEATS", 1)
    # Jaccard > 0.1 pairs: G1-G2 2/3, G1-G5 1/2, G2-G5 1/3, G2-G3 1/4 -> 8 directed edges; G4 shares nothing
    (row,) = suite.bench_jaccard_gears(tiny_workdir, n_genes=5, workers=1)
    assert (row["edges_ours"], row["edges_gears"], row["edges_common"]) == (8, 8, 8)
    assert "max weight diff 0;" in row["note"]


@pytest.mark.gears
def test_training_throughput_bench_on_the_tiny_graph(tiny_workdir):
    import bench_training

    epoch, row = bench_training.bench_gears_throughput(
        tiny_workdir, n_genes=25, cells_per_perturbation=40, steps=2, cells_per_step=8, fit_perturbations=3
    )
    # an epoch: the perturbations trainer's steps over 3 perturbations + control (3 per step: 2 steps) against
    # the cells trainer's over 3 x 40 + 1000 cells (140 steps of 8)
    assert (epoch["ours"], epoch["peer"]) == ("perturbations", "cells")
    assert "2 steps per epoch" in epoch["note"] and "140 steps" in epoch["note"]
    assert epoch["epoch_s_peer"] == pytest.approx(140 * row["ours_s"])
    assert row["ours"] == "cells" and row["peer"] == "cell-gears step"
    assert row["ours_s"] > 0 and row["peer_s"] > 0 and row["ratio"] == row["peer_s"] / row["ours_s"]
    assert "3 perturbations x 40 cells, 25 genes" in row["benchmark"]
    assert row["cells_per_s_ours"] == pytest.approx(8 / row["ours_s"])


def test_synthetic_screen_layout():
    import bench_training

    screen = bench_training.synthetic_screen(
        ["A", "B"], [f"g{i}" for i in range(30)], cells_per_perturbation=5, n_ctrl=7
    )
    assert list(screen.conditions) == ["A+ctrl", "B+ctrl", "ctrl"]
    assert screen.X.shape == (17, 30) and len(screen.cells_of("ctrl")) == 7
    assert (screen.de_idx[2] == -1).all() and (screen.de_idx[0] >= 0).all()
    assert screen.nonzero_genes("A+ctrl").size == 15 and screen.nonzero_genes("ctrl").size == 0


def test_active_selection_bench_rows():
    import bench_training

    rows = bench_training.bench_active_selection(n_pool=30, n_labelled=5, dim=4, batch=3)
    assert [r["ours"] for r in rows] == ["typiclust", "acs-fw (bmdal-reg)"]
    assert all(r["ours_s"] > 0 and r["note"] == "3 distinct picks" for r in rows)
