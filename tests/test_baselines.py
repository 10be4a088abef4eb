"""The baselines every GEARS score is reported beside, on hand-made arrays and a small graph."""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from perturb_select.evaluation.baselines import (

    baseline_predictions,

    choose_kernel_ridge,

    diffusion_kernels,

    kernel_ridge_predict,

)
from perturb_select.knowledge.graph import KnowledgeGraph


def _graph(edges):
    return KnowledgeGraph.from_edges(pd.DataFrame(edges, columns=["source", "target", "importance"]))


def test_trivial_baselines_by_hand():
    ctrl = np.array([1.0, 2.0, 3.0])
    train = np.array([[2.0, 2.0, 3.0], [0.0, 4.0, 3.0]])
    out = baseline_predictions(ctrl, train, n_test=2)
    assert set(out) == {"no_change", "train_mean"}
    np.testing.assert_array_equal(out["no_change"], [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_array_equal(out["train_mean"], [[1, 3, 3], [1, 3, 3]])


def test_diffusion_kernel_equals_dense_expm_on_a_small_graph():
    graph = _graph([("A", "B", 0.5), ("B", "C", 1.0), ("C", "A", 0.2), ("D", "C", 0.4)])
    kernels = diffusion_kernels(graph, ["C", "A", "D"], betas=[0.5, 2.0])
    a = graph.adjacency.toarray()
    w = (a + a.T) / 2 + np.eye(4)
    d = w.sum(axis=1)
    s = w / np.sqrt(np.outer(d, d))
    for k, beta in zip(kernels, [0.5, 2.0]):
        dense = scipy.linalg.expm(-beta * (np.eye(4) - s))
        idx = graph.index_of(["C", "A", "D"])
        np.testing.assert_allclose(k, dense[np.ix_(idx, idx)], rtol=1e-10, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(k) > -1e-12)  # positive semi-definite


def test_kernel_ridge_by_hand_and_in_the_limits():
    # two training perturbations, one test perturbation that shares the kernel with the first only
    k_train = np.array([[1.0, 0.0], [0.0, 1.0]])
    effects = np.array([[2.0, 0.0], [0.0, 0.0]])  # mean effect [1, 0]; centred [[1, 0], [-1, 0]]
    k_test = np.array([[0.5, 0.0]])
    # alpha = (K + lam I)^-1 (Y - mu) = centred / (1 + lam); prediction = mu + 0.5 * alpha[0]
    np.testing.assert_allclose(kernel_ridge_predict(k_train, k_test, effects, 1.0), [[1.0 + 0.5 * 1 / 2, 0.0]])
    # huge lambda: the mean effect, i.e. train_mean; unrelated test perturbation (kernel 0): the same
    np.testing.assert_allclose(kernel_ridge_predict(k_train, k_test, effects, 1e12), [[1.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(kernel_ridge_predict(k_train, np.zeros((1, 2)), effects, 1e-3), [[1.0, 0.0]])


def test_leave_one_out_is_the_closed_form_of_refitting():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    kernels = np.stack([x @ x.T, np.exp(-((x[:, None] - x[None]) ** 2).sum(-1))])
    effects = rng.normal(size=(6, 4))
    fit = choose_kernel_ridge(kernels, effects, lambdas=[0.1, 1.0])
    # brute force: refit without i, with the intercept fixed at the full mean (what the closed form assumes)
    for b, k in enumerate(kernels):
        scale = np.mean(np.diag(k))
        for j, lam in enumerate([0.1, 1.0]):
            centred = effects - effects.mean(axis=0)
            errors = []
            for i in range(6):
                keep = np.arange(6) != i
                alpha = np.linalg.solve(k[np.ix_(keep, keep)] + lam * scale * np.eye(5), centred[keep])
                errors.append(centred[i] - k[i, keep] @ alpha)
            assert fit.loo_mse[b, j] == pytest.approx(np.mean(np.square(errors)), rel=1e-9)
    best = np.unravel_index(np.nanargmin(fit.loo_mse), fit.loo_mse.shape)
    assert fit.beta_index == best[0]


def test_graph_model_predicts_a_neighbour_effect():
    # T's neighbours A (effect +3 on gene 0) and B (the same); C far away with effect -3
    graph = _graph([("A", "T", 0.9), ("T", "A", 0.9), ("B", "T", 0.9), ("T", "B", 0.9), ("A", "B", 0.9),
                    ("C", "X", 0.9), ("X", "C", 0.9), ("Y", "X", 0.9)])
    genes = ["A", "B", "C", "T"]
    kernels = diffusion_kernels(graph, genes)
    ctrl = np.zeros(2)
    train = np.array([[3.0, 0.0], [3.0, 0.0], [-3.0, 0.0]])
    out = baseline_predictions(ctrl, train, kernels, n_test=1)
    assert out["train_mean"][0, 0] == pytest.approx(1.0)
    # the graph model moves T's prediction from the mean effect (1) towards its neighbours' (+3)
    assert out["go_kernel_ridge"][0, 0] > 1.5
    assert out["go_kernel_ridge"][0, 1] == pytest.approx(0.0)
