"""perturb_select.metrics: hand-checked values, properties, and equality with GEARS's own evaluation."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from perturb_select.evaluation.metrics import METRICS, evaluate_predictions, pearson_or_zero, perturbation_metrics


def _cycle(pred, truth, ctrl, de, conditions=None, de_nd=None):
    pred = np.asarray(pred, dtype=np.float32)
    return SimpleNamespace(
        conditions=np.array(conditions or [f"G{i}+ctrl" for i in range(len(pred))]),
        pred=pred,
        truth=np.asarray(truth, dtype=np.float32),
        ctrl_mean=np.asarray(ctrl, dtype=np.float32),
        de_idx=np.asarray(de, dtype=np.int64),
        **({} if de_nd is None else {"de_idx_non_dropout": np.asarray(de_nd, dtype=np.int64)}),
    )


def test_hand_checked_values():
    # Row 0: pred (1,2,3,4) vs truth (1,2,3,6), control (0,2,0,0), DE genes {3, 0}.
    #   mse = 4/4 = 1; DE mse = (2^2 + 0^2)/2 = 2
    #   pearson: dx = (-1.5,-.5,.5,1.5), dy = (-2,-1,0,3): 8 / sqrt(5 * 14) = 8/sqrt(70)
    #   delta: (1,0,3,4) vs (1,0,3,6): dx = (-1,-2,1,2), dy = (-1.5,-2.5,.5,3.5): 14 / sqrt(10 * 21)
    #   delta on DE genes (3, 0): (4, 1) vs (6, 1): two points, same order -> 1
    # Row 1: pred == truth -> 0 errors, correlations 1; constant DE deltas -> r undefined -> 0.
    pred = [[1, 2, 3, 4], [5, 1, 1, 2]]
    truth = [[1, 2, 3, 6], [5, 1, 1, 2]]
    ctrl = [0, 2, 0, 0]
    de = [[3, 0, -1], [1, 2, -1]]
    out = evaluate_predictions(_cycle(pred, truth, ctrl, de, conditions=["A+ctrl", "B+ctrl"]))
    a, b = out["per_perturbation"]["A+ctrl"], out["per_perturbation"]["B+ctrl"]
    assert a["mse"] == pytest.approx(1.0)
    assert a["mse_top20_de"] == pytest.approx(2.0)
    assert a["pearson"] == pytest.approx(8 / math.sqrt(70))
    assert a["pearson_delta"] == pytest.approx(14 / math.sqrt(210))
    assert a["pearson_delta_top20_de"] == pytest.approx(1.0)
    assert b["mse"] == 0 and b["mse_top20_de"] == 0
    assert b["pearson"] == pytest.approx(1.0) and b["pearson_delta"] == pytest.approx(1.0)
    # DE genes 1 and 2 of B: deltas (1-2, 1-0) = (-1, 1) for both -> r = 1 (not constant)
    assert b["pearson_delta_top20_de"] == pytest.approx(1.0)
    assert out["n_perturbations"] == 2
    assert out["primary_metric"] == "mse_top20_de"
    assert out["mean"]["mse"] == pytest.approx(0.5)
    assert out["mean"]["mse_top20_de"] == pytest.approx(1.0)
    assert set(out["mean"]) == set(METRICS)


def test_undefined_pearson_is_zero_like_gears():
    assert pearson_or_zero([1, 1, 1], [1, 2, 3]) == 0.0
    assert pearson_or_zero([1, 2, 3], [4, 4, 4]) == 0.0
    assert pearson_or_zero([1.0], [2.0]) == 0.0
    # constant DE deltas: pred and truth equal to control on the DE genes
    out = perturbation_metrics([[1, 2, 3]], [[1, 2, 4]], [1, 2, 0], [[0, 1]])
    assert out["pearson_delta_top20_de"][0] == 0.0
    assert out["mse_top20_de"][0] == 0.0


def test_anticorrelated_and_padding():
    out = perturbation_metrics([[1, 2, 3, 9]], [[3, 2, 1, -5]], [0, 0, 0, 0], [[0, 1, 2, -1, -1]])
    assert out["pearson_delta_top20_de"][0] == pytest.approx(-1.0)
    assert out["mse_top20_de"][0] == pytest.approx((4 + 0 + 4) / 3)
    # no valid DE index -> nan, not a silent 0
    empty = perturbation_metrics([[1, 2]], [[1, 3]], [0, 0], [[-1, -1]])
    assert np.isnan(empty["mse_top20_de"][0]) and np.isnan(empty["pearson_delta_top20_de"][0])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="ctrl_mean"):
        perturbation_metrics([[1, 2]], [[1, 2]], [0, 0, 0], [[0]])
    with pytest.raises(ValueError, match="outside"):
        perturbation_metrics([[1, 2]], [[1, 2]], [0, 0], [[2]])
    with pytest.raises(ValueError, match="no test"):
        evaluate_predictions(_cycle(np.zeros((0, 2)), np.zeros((0, 2)), [0, 0], np.zeros((0, 1))))


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, (3, 8), elements=st.floats(-5, 5)),
    arrays(np.float64, (3, 8), elements=st.floats(-5, 5)),
    st.floats(0.1, 10),
)
def test_properties(pred, truth, scale):
    ctrl = truth.mean(axis=0)
    de = np.tile(np.arange(4), (3, 1))
    base = perturbation_metrics(pred, truth, ctrl, de)
    # symmetric in pred/truth
    swapped = perturbation_metrics(truth, pred, ctrl, de)
    for name in METRICS:
        np.testing.assert_allclose(base[name], swapped[name], rtol=1e-9, atol=1e-12)
    # correlations lie in [-1, 1]; MSEs are non-negative; MSE scales quadratically
    for name in ("pearson", "pearson_delta", "pearson_delta_top20_de"):
        assert np.all(np.abs(base[name]) <= 1.0)
    scaled = perturbation_metrics(pred * scale, truth * scale, ctrl * scale, de)
    np.testing.assert_allclose(scaled["mse"], base["mse"] * scale**2, rtol=1e-9, atol=1e-12)
    # perfect prediction: zero error
    perfect = perturbation_metrics(truth, truth, ctrl, de)
    assert np.all(perfect["mse"] == 0) and np.all(perfect["mse_top20_de"] == 0)


# --------------------------------------------------------------------------------------------------
# Equality with GEARS (gears/inference.py::compute_metrics, deeper_analysis, non_dropout_analysis)
# --------------------------------------------------------------------------------------------------


def _gears_fixture(seed=0, n_genes=40, n_test=3, cells=(7, 5, 9), n_ctrl=11):
    """Per-cell predictions, GEARS's ``evaluate`` output and a matching AnnData in GEARS layout."""
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    genes = np.array([f"GENE{i:02d}" for i in range(n_genes)])
    conditions = [f"T{i}+ctrl" for i in range(n_test)]
    names = {c: f"THP-1_{c}_1+1" for c in conditions}

    # sparse-ish expression: many zeros, as after log1p of counts
    def expr(n):
        x = rng.gamma(1.0, 1.0, size=(n, n_genes)).astype(np.float32)
        x[rng.random(x.shape) < 0.4] = 0
        return x

    ctrl_x = expr(n_ctrl)
    ctrl_x[:, 0] = 0  # a gene never detected in control
    truth_cells = [expr(n) for n in cells]
    pred_cells = [t + rng.normal(0, 0.5, t.shape).astype(np.float32) for t in truth_cells]
    ranking = {names[c]: list(genes[rng.permutation(n_genes)]) for c in conditions}
    non_dropout = {names[c]: genes[rng.choice(n_genes, 20, replace=False)] for c in conditions}

    X = sp.csr_matrix(np.vstack([ctrl_x, *truth_cells]))
    cond_col = ["ctrl"] * n_ctrl + [c for c, n in zip(conditions, cells) for _ in range(n)]
    obs = pd.DataFrame(
        {
            "condition": cond_col,
            "condition_name": ["THP-1_ctrl_1" if c == "ctrl" else names[c] for c in cond_col],
            "cell_type": "THP-1",
        },
        index=[f"cell{i}" for i in range(len(cond_col))],
    ).astype("category")
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame({"gene_name": genes}, index=genes))
    adata.uns["rank_genes_groups_cov_all"] = ranking
    adata.uns["top_non_dropout_de_20"] = non_dropout
    adata.uns["non_zeros_gene_idx"] = {n: np.arange(n_genes) for n in names.values()}
    adata.uns["non_dropout_gene_idx"] = {n: np.arange(n_genes) for n in names.values()}

    # GEARS's evaluate(): per cell, pred/truth on all genes and on the DE genes, whose indices
    # PertData.create_cell_graph_dataset takes as np.where(var_names.isin(top 20)) (var order).
    pert_cat, pred_de, truth_de = [], [], []
    for c, p, t in zip(conditions, pred_cells, truth_cells):
        de_sorted = np.where(np.isin(genes, ranking[names[c]][:20]))[0]
        pert_cat += [c] * len(p)
        pred_de.append(p[:, de_sorted])
        truth_de.append(t[:, de_sorted])
    test_res = {
        "pert_cat": np.array(pert_cat),
        "pred": np.vstack(pred_cells),
        "truth": np.vstack(truth_cells),
        "pred_de": np.vstack(pred_de),
        "truth_de": np.vstack(truth_de),
    }
    index = {g: i for i, g in enumerate(genes)}
    cycle = _cycle(
        pred=[p.mean(axis=0) for p in pred_cells],
        truth=[t.mean(axis=0) for t in truth_cells],
        ctrl=ctrl_x.astype(np.float64).mean(axis=0),  # independent of GEARS's own control mean
        de=[[index[g] for g in ranking[names[c]][:20]] for c in conditions],  # ranked order
        conditions=conditions,
        de_nd=[[index[g] for g in non_dropout[names[c]]] for c in conditions],
    )
    return adata, test_res, cycle


@pytest.mark.gears
def test_equal_to_gears_evaluation():
    pytest.importorskip("gears")
    with warnings.catch_warnings():  # gears switches every warning off at import
        from gears.inference import compute_metrics, deeper_analysis, non_dropout_analysis

    adata, test_res, cycle = _gears_fixture()
    ours = evaluate_predictions(cycle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GEARS's fold changes divide by 0
        gears_mean, gears_pert = compute_metrics(test_res)
        deeper = deeper_analysis(adata, test_res)
        non_dropout = non_dropout_analysis(adata, test_res)

    pairs = [
        ("mse_top20_de", lambda c: gears_pert[c]["mse_de"]),
        ("mse", lambda c: gears_pert[c]["mse"]),
        ("pearson", lambda c: gears_pert[c]["pearson"]),
        ("pearson_delta", lambda c: deeper[c]["pearson_delta"]),
        ("pearson_delta_top20_de", lambda c: deeper[c]["pearson_delta_de"]),
        ("mse_top20_de_non_dropout", lambda c: non_dropout[c]["mse_top20_de_non_dropout"]),
    ]
    for cond, values in ours["per_perturbation"].items():
        for ours_name, gears_value in pairs:
            assert values[ours_name] == pytest.approx(float(gears_value(cond)), rel=1e-5, abs=1e-6), (
                cond,
                ours_name,
            )
    assert ours["mean"]["mse_top20_de"] == pytest.approx(gears_mean["mse_de"], rel=1e-5)
    assert ours["mean"]["mse"] == pytest.approx(gears_mean["mse"], rel=1e-5)
    assert ours["mean"]["pearson"] == pytest.approx(gears_mean["pearson"], rel=1e-5)
    # the fixture is not degenerate: metrics differ between perturbations
    assert len({round(v["mse_top20_de"], 6) for v in ours["per_perturbation"].values()}) == 3
