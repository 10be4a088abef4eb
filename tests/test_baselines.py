"""The baselines every GEARS score is reported beside, on hand-made arrays and a small graph."""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from perturb_select.evaluation.baselines import (
    BETAS,
    baseline_predictions,
    choose_kernel_ridge,
    de_mask,
    graph_kernels,
    kernel_ridge_predict,
    load_kernels,
    save_kernels,
    sgc_kernel,
)
from perturb_select.knowledge.graph import KnowledgeGraph
from perturb_select.knowledge.kernels import diffusion_kernels


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
    graph = _graph(
        [
            ("A", "T", 0.9),
            ("T", "A", 0.9),
            ("B", "T", 0.9),
            ("T", "B", 0.9),
            ("A", "B", 0.9),
            ("C", "X", 0.9),
            ("X", "C", 0.9),
            ("Y", "X", 0.9),
        ]
    )
    genes = ["A", "B", "C", "T"]
    kernels = diffusion_kernels(graph, genes, BETAS)
    ctrl = np.zeros(2)
    train = np.array([[3.0, 0.0], [3.0, 0.0], [-3.0, 0.0]])
    out = baseline_predictions(ctrl, train, kernels, n_test=1)
    assert out["train_mean"][0, 0] == pytest.approx(1.0)
    # the graph model moves T's prediction from the mean effect (1) towards its neighbours' (+3)
    assert out["go_kernel_ridge"][0, 0] > 1.5
    assert out["go_kernel_ridge"][0, 1] == pytest.approx(0.0)


def _ring(n: int = 8, prefix: str = "G") -> list:
    genes = [f"{prefix}{i}" for i in range(n)]
    return [(genes[i], genes[(i + 1) % n], 1.0) for i in range(n)] + [
        (genes[(i + 1) % n], genes[i], 1.0) for i in range(n)
    ]


def test_sgc_kernel_is_the_overlap_of_unit_receptive_field_rows():
    """On a ring (in-degree 2, self-loop: Â = 1/3 on a node and its two neighbours) the unit rows are
    1/sqrt(3) on 3 nodes: neighbours share 2 nodes (2/3), nodes two apart share 1 (1/3), further apart 0."""
    graph = _graph(_ring(8))
    k = sgc_kernel(graph, ["G0", "G1", "G2", "G4"], hops=1)
    np.testing.assert_allclose(
        k, [[1, 2 / 3, 1 / 3, 0], [2 / 3, 1, 2 / 3, 0], [1 / 3, 2 / 3, 1, 1 / 3], [0, 0, 1 / 3, 1]], atol=1e-12
    )


def test_sgc_ridge_equals_the_direct_primal_solve():
    """sgc_ridge in dual form (kernel F F^T) against ridge on the features themselves: every node's weight
    W = (F^T F + lam I)^-1 F^T (Y - mu) over the whole graph, prediction mu + F_test W."""
    from perturb_select.knowledge.graph import propagation_rows

    graph = _graph(_ring(12) + [("G0", "H0", 0.5), ("H0", "H1", 0.7), ("H1", "G5", 0.3)])
    train, test = ["G0", "G2", "G3", "G7", "H1"], ["G1", "G9", "H0"]
    genes = train + test
    rng = np.random.default_rng(0)
    ctrl = rng.normal(size=5)
    train_means = ctrl + rng.normal(size=(len(train), 5))
    sgc = sgc_kernel(graph, genes, hops=2)
    out = baseline_predictions(ctrl, train_means, None, n_test=len(test), sgc=sgc)
    lam = out["sgc_fit"].lam
    f = propagation_rows(graph, genes, 2).toarray()
    effects = train_means - ctrl
    mu = effects.mean(axis=0)
    weights = np.linalg.solve(f[:5].T @ f[:5] + lam * np.eye(graph.n_nodes), f[:5].T @ (effects - mu))
    np.testing.assert_allclose(out["sgc_ridge"], ctrl + mu + f[5:] @ weights, rtol=1e-8, atol=1e-10)
    assert "go_kernel_ridge" not in out


def test_sgc_ridge_predicts_the_mean_where_no_training_perturbation_reaches():
    """A test perturbation whose receptive field holds no node of any training perturbation's field is
    predicted as train_mean exactly: those nodes' weights are never learnt."""
    graph = _graph(_ring(6, "A") + _ring(6, "B"))
    train, test = ["A0", "A1", "A3"], ["B0", "A2"]
    ctrl = np.zeros(3)
    train_means = np.array([[3.0, 0.0, 1.0], [2.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    out = baseline_predictions(ctrl, train_means, None, n_test=2, sgc=sgc_kernel(graph, train + test, hops=1))
    np.testing.assert_allclose(out["sgc_ridge"][0], train_means.mean(axis=0), atol=1e-12)
    assert not np.allclose(out["sgc_ridge"][1], train_means.mean(axis=0))


def test_de_mask_and_the_top20_de_criterion():
    """The leave-one-out criterion over each training perturbation's own DE genes equals the brute-force
    refit error averaged over those entries only; -1 pads no gene."""
    assert de_mask(np.array([[2, 0, -1], [-1, -1, -1]]), 4).tolist() == [[True, False, True, False], [False] * 4]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3))
    kernels = np.stack([x @ x.T])
    effects = rng.normal(size=(7, 5))
    scored = rng.random((7, 5)) < 0.4
    lambdas = [0.01, 1.0, 100.0]
    fit = choose_kernel_ridge(kernels, effects, lambdas=lambdas, scored=scored)
    centred = effects - effects.mean(axis=0)
    scale = np.mean(np.diag(kernels[0]))
    for j, lam in enumerate(lambdas):
        errors = np.empty_like(centred)
        for i in range(7):
            keep = np.arange(7) != i
            alpha = np.linalg.solve(kernels[0][np.ix_(keep, keep)] + lam * scale * np.eye(6), centred[keep])
            errors[i] = centred[i] - kernels[0][i, keep] @ alpha
        assert fit.loo_mse[0, j] == pytest.approx(np.mean(errors[scored] ** 2), rel=1e-9)
    # an empty mask falls back to every entry
    everything = choose_kernel_ridge(kernels, effects, lambdas=lambdas)
    np.testing.assert_allclose(
        choose_kernel_ridge(kernels, effects, lambdas=lambdas, scored=np.zeros_like(scored)).loo_mse, everything.loo_mse
    )


def test_graph_kernels_file_round_trip(tmp_path):
    graph = _graph(_ring(8))
    kernels = graph_kernels(graph, ["G0", "G3", "G5"], hops=1, betas=(1.0, 2.0))
    save_kernels(tmp_path / "kernels.npz", kernels)
    back = load_kernels(tmp_path / "kernels.npz")
    assert back.genes == ["G0", "G3", "G5"] and back.hops == 1
    np.testing.assert_array_equal(back.sgc, kernels.sgc)
    np.testing.assert_array_equal(back.diffusion, kernels.diffusion)
    np.testing.assert_array_equal(back.betas, [1.0, 2.0])


def test_diffusion_kernels_chebyshev_equals_expm_multiply_on_a_random_graph():
    """The Chebyshev series against scipy's expm_multiply on a 300-node random graph, betas 0 to 16."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import expm_multiply

    rng = np.random.default_rng(3)
    names = [f"N{i:03d}" for i in range(300)]
    pairs = {(int(a), int(b)) for a, b in zip(rng.integers(0, 300, 1500), rng.integers(0, 300, 1500)) if a != b}
    edges = [(names[a], names[b], float(w)) for (a, b), w in zip(sorted(pairs), rng.uniform(0.1, 1, len(pairs)))]
    graph = _graph(edges)
    genes = [names[i] for i in (0, 5, 17, 120, 299)]
    betas = [0.0, 1.0, 8.0, 16.0]
    kernels = diffusion_kernels(graph, genes, betas)
    a = graph.adjacency.astype(np.float64)
    w = ((a + a.T) * 0.5 + sp.identity(graph.n_nodes)).tocsr()
    d = np.asarray(w.sum(axis=1)).ravel()
    s = sp.diags(1 / np.sqrt(d)) @ w @ sp.diags(1 / np.sqrt(d))
    idx = graph.index_of(genes)
    columns = np.eye(graph.n_nodes)[:, idx]
    for k, beta in zip(kernels, betas):
        expected = (expm_multiply(-beta * (sp.identity(graph.n_nodes) - s), columns))[idx]
        np.testing.assert_allclose(k, (expected + expected.T) / 2, atol=1e-13)
    np.testing.assert_allclose(kernels[0], np.eye(len(genes)), atol=1e-15)  # beta 0: the identity


def test_the_simulated_kernel_truth_needs_no_evaluation_module():
    """Graph maths lives in knowledge: the SIMULATED kernel truth (screens.simulated.graph_root) and its
    diffusion kernel load nothing from perturb_select.evaluation."""
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from perturb_select.knowledge.graph import KnowledgeGraph\n"
        "from perturb_select.screens.simulated import graph_root\n"
        "edges = pd.DataFrame([('A', 'B', 0.5), ('B', 'C', 1.0), ('C', 'A', 0.2)], "
        "columns=['source', 'target', 'importance'])\n"
        "root = graph_root(KnowledgeGraph.from_edges(edges), ['A', 'B', 'C'], 8.0)\n"
        "print(root.shape, sorted(m for m in sys.modules if m.startswith('perturb_select.evaluation')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "(3, 3) []"
