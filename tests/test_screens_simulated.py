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
    readout_genes,
    simulate_screen,
)


def _chain_graph(n: int = 60) -> KnowledgeGraph:
    """A ring of n genes G00..G59 with edges both ways: neighbours are graph neighbours."""
    genes = [f"G{i:02d}" for i in range(n)]
    rows = [(genes[i], genes[(i + 1) % n]) for i in range(n)] + [(genes[(i + 1) % n], genes[i]) for i in range(n)]
    return KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target"]).assign(importance=1.0))


def _control(n_genes: int = 40) -> ControlModel:
    rng = np.random.default_rng(0)
    return ControlModel(
        means=rng.uniform(0.5, 5.0, n_genes),
        dispersions=rng.uniform(0.05, 0.5, n_genes),
        log_library_sd=0.3,
        source="test",
    )


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
    settings = SimulationConfig(
        graph_signal=0.5,
        n_genes=40,
        cells_per_perturbation=30,
        control_cells=6000,
        programmes=4,
        genes_per_programme=10,
        knockdown=0.2,
        truth_cells=3000,
    )
    screen = simulate_screen(graph, candidates, control, settings, seed=3)
    assert screen.counts.shape == (6000 + 20 * 30, 40)
    assert (screen.perturbation == "non-targeting").sum() == 6000
    assert set(candidates) <= set(screen.genes) and len(set(screen.genes)) == 40
    # control cells: the drawn genes' means and dispersions (each readout gene takes a pair of the model)
    ctrl = screen.counts[:6000].toarray()
    refit = fit_control_model(ctrl, "ctrl")
    pairs = {(round(m, 9), round(d, 9)) for m, d in zip(control.means, control.dispersions)}
    assert len(refit.means) == 40
    matched = [min(pairs, key=lambda p: abs(p[0] - m)) for m in refit.means]
    assert np.array([m for m, _ in matched]) == pytest.approx(refit.means, rel=0.1)
    assert np.log(ctrl.sum(axis=1)).std() == pytest.approx(np.sqrt(0.3**2 + 0.02), abs=0.1)
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
    settings = SimulationConfig(
        graph_signal=graph_signal,
        n_genes=60,
        cells_per_perturbation=2,
        control_cells=10,
        programmes=20,
        genes_per_programme=30,
        strong_share=1.0,
        beta=4.0,
        truth_cells=2,
    )
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
    settings = SimulationConfig(
        n_genes=30, cells_per_perturbation=5, control_cells=20, programmes=3, genes_per_programme=5, truth_cells=10
    )
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


def test_a_simulation_larger_than_memory_is_refused_before_drawing_it():
    """`cells_per_perturbation` at its maximum with 60 candidates and 100,000 genes: 6 million cells x 100,000
    genes; once a MemoryError traceback after minutes, now one line naming the key."""
    from perturb_select.screens.simulated import simulation_memory

    settings = SimulationConfig(cells_per_perturbation=100_000, n_genes=100_000)
    need = simulation_memory(60, settings)
    assert need == 8.0 * (1000 + 100_000 * 60) * 100_000 + 24.0 * 100_000 * 100_000 + 8.0 * 61 * 100_000
    with pytest.raises(
        InputError,
        match=r"config, field 'simulation.cells_per_perturbation': the simulated counts .*"
        r"need about 5,040\.8 GB, more than this machine's",
    ):
        simulate_screen(_chain_graph(), [f"G{i:02d}" for i in range(60)], _control(), settings, seed=1)


def test_readout_genes_are_the_candidates_then_random_graph_genes():
    graph = _chain_graph()
    genes = readout_genes(graph, ["G05", "G01"], 10, np.random.default_rng(0))
    assert len(genes) == 10 and {"G01", "G05"} <= set(genes) and list(genes) == sorted(genes)
    assert list(readout_genes(graph, ["G05", "G01", "G02"], 2, np.random.default_rng(0))) == ["G01", "G02", "G05"]


def _two_clusters_graph() -> KnowledgeGraph:
    """Two rings of 6 genes (A0..A5, B0..B5), edges both ways within a ring, none between."""
    rows = []
    for ring in "AB":
        genes = [f"{ring}{i}" for i in range(6)]
        rows += [(genes[i], genes[(i + 1) % 6]) for i in range(6)] + [(genes[(i + 1) % 6], genes[i]) for i in range(6)]
    return KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target"]).assign(importance=1.0))


def test_receptive_field_root_is_the_unit_rows_of_the_sgc_operator_power():
    """Hand-checked on a 6-ring (every node: in-degree 2 + self-loop = 3): Â[p, u] = 1/3 on p and its two
    neighbours, so the unit row is 1/sqrt(3) there; at K = 2 the row reaches 2 hops, weights (3, 2, 2, 1, 1)/9
    before scaling."""
    from perturb_select.screens.simulated import receptive_field_root

    graph = _two_clusters_graph()
    one = receptive_field_root(graph, ["A0", "B3"], hops=1).toarray()
    a = {g: i for i, g in enumerate(graph.genes)}
    assert one.shape == (2, 12)
    expected = np.zeros(12)
    expected[[a["A5"], a["A0"], a["A1"]]] = 1 / np.sqrt(3)
    assert one[0] == pytest.approx(expected)
    assert set(np.flatnonzero(one[1])) == {a["B2"], a["B3"], a["B4"]}
    two = receptive_field_root(graph, ["A0"], hops=2).toarray()[0]
    raw = np.zeros(12)
    raw[[a["A0"], a["A1"], a["A5"], a["A2"], a["A4"]]] = [3, 2, 2, 1, 1]
    assert two == pytest.approx(raw / np.linalg.norm(raw))
    assert receptive_field_root(graph, ["A0"], hops=0).toarray()[0] == pytest.approx(np.eye(12)[a["A0"]])
    with pytest.raises(InputError, match="num_go_gnn_layers"):
        receptive_field_root(graph, ["A0"], hops=-1)


def test_receptive_field_mechanism_disjoint_fields_give_independent_activations():
    """K = 1, graph_signal 1: the programme activations of two perturbations are correlated exactly as
    their receptive fields overlap (R R^T): 0 for disjoint fields (A0 and A3, or any A and B), 2/3 for ring
    neighbours (they share 2 of 3 nodes at equal weight). Measured over 4,000 draws of the mixture."""
    from perturb_select.screens.simulated import graph_mixture, receptive_field_root

    graph = _two_clusters_graph()
    candidates = ["A0", "A1", "A3", "B0"]
    root = receptive_field_root(graph, candidates, hops=1)
    overlap = (root @ root.T).toarray()
    assert overlap[0, 2] == 0 and overlap[0, 3] == 0 and overlap[0, 1] == pytest.approx(2 / 3)
    draws = graph_mixture(root, 4000, 1.0, np.random.default_rng(0))
    correlation = np.corrcoef(draws)
    assert np.diag(np.cov(draws)) == pytest.approx(np.ones(4), abs=0.08)  # N(0, 1) marginals
    assert correlation[0, 1] == pytest.approx(2 / 3, abs=0.04)
    assert abs(correlation[0, 2]) < 0.05 and abs(correlation[0, 3]) < 0.05 and abs(correlation[1, 3]) < 0.05
    # graph_signal 0: the same structure on relabelled candidates, so the ring neighbours A0, A1 are
    # alike only if the permutation happens to keep them together; over seeds it averages out
    shuffled = [np.corrcoef(graph_mixture(root, 2000, 0.0, np.random.default_rng(s)))[0, 1] for s in range(30)]
    assert np.mean(shuffled) < 0.4


def test_receptive_field_graph_signal_makes_neighbours_alike_and_keeps_effect_sizes():
    """The knob measured on generated screens (the ring of 60): the neighbours' excess effect correlation is
    ~0 at graph_signal 0 and clearly positive at 0.9; the mean |effect| does not change with the knob."""
    graph = _chain_graph()
    candidates = graph.genes.tolist()
    position = {g: i for i, g in enumerate(candidates)}
    neighbours = np.zeros((60, 60), dtype=bool)
    for a, b in zip(candidates, candidates[1:] + candidates[:1]):
        neighbours[position[a], position[b]] = neighbours[position[b], position[a]] = True
    others = ~neighbours & ~np.eye(60, dtype=bool)
    excess, size = {}, {}
    for signal in (0.0, 0.9):
        settings = SimulationConfig(
            graph_signal=signal,
            n_genes=60,
            cells_per_perturbation=2,
            control_cells=10,
            programmes=20,
            genes_per_programme=30,
            strong_share=1.0,
            truth_cells=2,
            mechanism="receptive_field",
        )
        runs = [
            simulate_screen(graph, candidates, _control(), settings, seed=seed, with_truth=False, hops=1)
            for seed in range(4)
        ]
        correlations = [np.corrcoef(r.effects.astype(np.float64)) for r in runs]
        excess[signal] = np.mean([c[neighbours].mean() - c[others].mean() for c in correlations])
        size[signal] = np.mean([np.abs(r.effects).mean() for r in runs])
    assert abs(excess[0.0]) < 0.05
    assert excess[0.9] > 0.25
    assert size[0.9] == pytest.approx(size[0.0], rel=0.1)


def test_receptive_field_screen_is_bit_identical_per_seed_and_replicates_differ():
    graph, control = _chain_graph(), _control()
    candidates = [f"G{i:02d}" for i in range(10)]
    settings = SimulationConfig(
        n_genes=30,
        cells_per_perturbation=5,
        control_cells=20,
        programmes=3,
        genes_per_programme=5,
        truth_cells=10,
        mechanism="receptive_field",
    )
    a = simulate_screen(graph, candidates, control, settings, seed=7, hops=2)
    b = simulate_screen(graph, candidates, control, settings, seed=7, hops=2)
    for field in ("effects", "truth", "strong", "genes", "perturbation"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert (a.counts != b.counts).nnz == 0
    kernel = simulate_screen(
        graph,
        candidates,
        control,
        SimulationConfig(
            n_genes=30, cells_per_perturbation=5, control_cells=20, programmes=3, genes_per_programme=5, truth_cells=10
        ),
        seed=7,
    )
    assert not np.array_equal(a.effects, kernel.effects)
    r1 = simulate_screen(graph, candidates, control, settings, seed=7, hops=2, replicate=1)
    r1_again = simulate_screen(graph, candidates, control, settings, seed=7, hops=2, replicate=1)
    r2 = simulate_screen(graph, candidates, control, settings, seed=7, hops=2, replicate=2)
    assert np.array_equal(r1.effects, r1_again.effects) and (r1.counts != r1_again.counts).nnz == 0
    assert not np.array_equal(r1.effects, r2.effects) and not np.array_equal(r1.effects, a.effects)
    with pytest.raises(InputError, match="experiment.seeds"):
        simulate_screen(graph, candidates, control, settings, seed=7, replicate=-1)
    with pytest.raises(InputError, match="simulation.mechanism"):
        SimulationConfig(mechanism="grn")


@pytest.mark.parametrize(
    "damage, message",
    [
        (np.log1p, "non-integer values"),  # a log-normalised reference
        (lambda x: x - 1.0, "negative values"),
        (lambda x: np.where(np.arange(x.shape[1]) == 2, np.nan, x), "NaN or infinite"),
    ],
)
def test_a_reference_that_is_not_raw_counts_is_refused(damage, message):
    counts = np.random.default_rng(2).poisson(3.0, size=(50, 20)).astype(np.float64)
    fit_control_model(counts, "ref.h5ad")  # raw counts fit
    for matrix in (damage(counts), sp.csr_matrix(damage(counts))):
        with pytest.raises(InputError, match=message) as err:
            fit_control_model(matrix, "ref.h5ad")
        assert err.value.source == "ref.h5ad" and err.value.field == "X"
