"""The SIMULATED screen (screens/simulated.py): marginal statistics, the graph_signal knob, determinism."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from perturb_select.config import SimulationConfig
from perturb_select.io import InputError
from perturb_select.knowledge.graph import KnowledgeGraph
from perturb_select.screens.simulated import (
    ControlModel,
    fit_control_model,
    read_truth,
    readout_genes,
    simulate_screen,
    write_simulated_screen,
)


def _chain_graph(n: int = 60) -> KnowledgeGraph:
    """A ring of n genes G00..G59 with edges both ways: neighbours are graph neighbours."""
    genes = [f"G{i:02d}" for i in range(n)]
    rows = [(genes[i], genes[(i + 1) % n]) for i in range(n)] + [(genes[(i + 1) % n], genes[i]) for i in range(n)]
    return KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target"]).assign(importance=1.0))


def _control(n_genes: int = 40) -> ControlModel:
    rng = np.random.default_rng(0)
    return ControlModel(means=rng.uniform(0.5, 5.0, n_genes), dispersions=rng.uniform(0.05, 0.5, n_genes),
                        log_library_sd=0.3, source="test")


def test_control_model_recovers_negative_binomial_means_and_dispersions():
    rng = np.random.default_rng(1)
    n_cells, n_genes = 20000, 300
    mu, phi = rng.uniform(0.5, 5.0, n_genes), rng.uniform(0.1, 1.0, n_genes)
    size = np.exp(rng.normal(-0.08, 0.4, n_cells))  # cell size factors, log sd 0.4
    counts = rng.poisson(rng.gamma(1 / phi, mu * phi * size[:, None]))  # NB(s mu, phi)
    model = fit_control_model(sp.csr_matrix(counts.astype(np.float32)), "sim")
    assert len(model.means) == n_genes
    scale = np.mean(size)  # the fit normalises size factors to mean 1
    assert np.median(np.abs(model.means / (mu * scale) - 1)) < 0.02
    assert np.median(np.abs(model.dispersions / phi - 1)) < 0.05
    assert np.corrcoef(model.dispersions, phi)[0, 1] > 0.98
    assert model.log_library_sd == pytest.approx(0.4, abs=0.03)
    # a gene below the mean cut is left out; too few cells, empty cells: errors naming the source
    low = np.hstack([counts, np.zeros((n_cells, 1))])
    low[:3, -1] = 1
    assert len(fit_control_model(low, "sim").means) == n_genes
    with pytest.raises(InputError, match="sim, field 'X': need at least 10"):
        fit_control_model(counts[:5], "sim")
    with pytest.raises(InputError, match="no counts"):
        fit_control_model(np.vstack([counts[:20], np.zeros((1, n_genes))]), "sim")


def test_simulated_counts_have_the_control_model_statistics_and_the_knockdown():
    graph = _chain_graph()
    control = _control()
    candidates = [f"G{i:02d}" for i in range(0, 60, 3)]  # 20 candidates
    settings = SimulationConfig(graph_signal=0.5, n_genes=40, cells_per_perturbation=30, control_cells=6000,
                                  programmes=4, genes_per_programme=10, knockdown=0.2, truth_cells=3000)
    screen = simulate_screen(graph, candidates, control, settings, seed=3)
    assert screen.counts.shape == (6000 + 20 * 30, 40)
    assert (screen.perturbation == "non-targeting").sum() == 6000
    assert set(candidates) <= set(screen.genes) and len(set(screen.genes)) == 40
    # control cells: the drawn genes' means and dispersions (each readout gene takes a pair of the model)
    ctrl = screen.counts[: 6000].toarray()
    refit = fit_control_model(ctrl, "ctrl")
    pairs = {(round(m, 9), round(d, 9)) for m, d in zip(control.means, control.dispersions)}
    assert len(refit.means) == 40
    matched = [min(pairs, key=lambda p: abs(p[0] - m)) for m in refit.means]
    assert np.array([m for m, _ in matched]) == pytest.approx(refit.means, rel=0.1)
    assert np.log(ctrl.sum(axis=1)).std() == pytest.approx(np.sqrt(0.3 ** 2 + 0.02), abs=0.1)
    # the targeted gene keeps ~20 % of its control expression in its own cells
    gene = candidates[0]
    column = list(screen.genes).index(gene)
    target_cells = screen.counts[screen.perturbation == gene].toarray()[:, column]
    assert target_cells.mean() / ctrl[:, column].mean() == pytest.approx(0.2, abs=0.12)
    assert screen.effects[0, column] == pytest.approx(np.log(0.2))
    # the truth is the expected log-normalised expression: the observed control mean agrees with it within
    # the two means' Monte-Carlo error (4 standard errors)
    normalised = np.log1p(ctrl / ctrl.sum(axis=1, keepdims=True) * 1e4)
    error = np.sqrt(normalised.var(axis=0) * (1 / 6000 + 1 / 3000))
    assert np.all(np.abs(screen.truth[0] - normalised.mean(axis=0)) < 4 * error)


def _neighbour_correlation(graph_signal: float, seed: int) -> float:
    graph = _chain_graph()
    candidates = graph.genes.tolist()
    settings = SimulationConfig(graph_signal=graph_signal, n_genes=60, cells_per_perturbation=2, control_cells=10,
                                  programmes=20, genes_per_programme=30, strong_share=1.0, beta=4.0, truth_cells=2)
    screen = simulate_screen(graph, candidates, _control(), settings, seed=seed, with_truth=False)
    effects = screen.effects.astype(np.float64)
    position = {g: i for i, g in enumerate(candidates)}
    correlation = np.corrcoef(effects)
    neighbours = np.zeros_like(correlation, dtype=bool)
    for a, b in zip(candidates, candidates[1:] + candidates[:1]):
        neighbours[position[a], position[b]] = neighbours[position[b], position[a]] = True
    others = ~neighbours & ~np.eye(len(candidates), dtype=bool)
    # the shared response correlates every pair alike; what the graph adds is the neighbours' excess
    return float(correlation[neighbours].mean() - correlation[others].mean())


def test_graph_signal_makes_graph_neighbours_alike():
    """Effect correlation of GO-graph neighbours above that of other pairs: about 0 at graph_signal 0, rising
    with the knob."""
    by_signal = {s: np.mean([_neighbour_correlation(s, seed) for seed in range(4)]) for s in (0.0, 0.5, 0.9)}
    assert abs(by_signal[0.0]) < 0.05
    assert by_signal[0.0] < by_signal[0.5] < by_signal[0.9]
    assert by_signal[0.9] > 0.25


def test_graph_signal_makes_neighbours_strong_or_weak_together():
    """Strength follows the same knob (it once ignored the graph at every setting, so that at 0.9 the 10-fold
    strong/weak contrast carried no graph information): ring neighbours agree on strong/weak about as often
    as random pairs (~0.5 at share 0.5) at 0, clearly more at 0.9; the share is exact at every setting."""
    from perturb_select.screens.simulated import graph_root, strong_perturbations

    graph = _chain_graph()
    root = graph_root(graph, graph.genes.tolist(), 4.0)
    agreement = {}
    for signal in (0.0, 0.9):
        draws = [strong_perturbations(root, 0.5, signal, np.random.default_rng(seed)) for seed in range(8)]
        assert all(d.sum() == 30 for d in draws)
        agreement[signal] = np.mean([np.mean(d == np.roll(d, 1)) for d in draws])
    assert abs(agreement[0.0] - 0.5) < 0.1 and agreement[0.9] > 0.65


def test_same_settings_and_seed_give_the_same_screen_bit_for_bit():
    graph, control = _chain_graph(), _control()
    candidates = [f"G{i:02d}" for i in range(10)]
    settings = SimulationConfig(n_genes=30, cells_per_perturbation=5, control_cells=20, programmes=3,
                                  genes_per_programme=5, truth_cells=10)
    a = simulate_screen(graph, candidates, control, settings, seed=7)
    b = simulate_screen(graph, candidates, control, settings, seed=7)
    c = simulate_screen(graph, candidates, control, settings, seed=8)
    for field in ("effects", "truth", "strong", "genes", "perturbation"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert (a.counts != b.counts).nnz == 0
    assert not np.array_equal(a.effects, c.effects)


def test_bad_simulation_input_names_the_field():
    graph, control = _chain_graph(), _control()
    with pytest.raises(InputError, match="simulation.graph_signal"):
        SimulationConfig(graph_signal=1.5)
    with pytest.raises(InputError, match="simulation.n_genes"):
        SimulationConfig(n_genes=1)
    with pytest.raises(InputError, match="not GO-graph nodes"):
        simulate_screen(graph, ["G01", "NOPE", "G02"], control, SimulationConfig(), seed=1)
    with pytest.raises(InputError, match="at least 3 candidates"):
        simulate_screen(graph, ["G01", "G02"], control, SimulationConfig(), seed=1)
    with pytest.raises(InputError, match="seed"):
        simulate_screen(graph, ["G01", "G02", "G03"], control, SimulationConfig(), seed=-1)


def test_readout_genes_are_the_candidates_then_random_graph_genes():
    graph = _chain_graph()
    genes = readout_genes(graph, ["G05", "G01"], 10, np.random.default_rng(0))
    assert len(genes) == 10 and {"G01", "G05"} <= set(genes) and list(genes) == sorted(genes)
    assert list(readout_genes(graph, ["G05", "G01", "G02"], 2, np.random.default_rng(0))) == ["G01", "G02", "G05"]
