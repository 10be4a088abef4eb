"""Batch selection rules of the active-learning baselines, given a trained model's view of the pool.

These pick the next batch of perturbations from model outputs (features or uncertainty scores); the
model and its features come from the previous cycle's training job (``gears.results.PoolScores``). Every
random choice takes an explicit seed. :func:`choose_batch` is one cycle of an active strategy: a seeded
random first batch, GraphReach during a hybrid's warm-up, then the strategy's rule.

* ``uncertainty_batch``: GEARS's uncertainty score ``exp(-mean log-variance)`` (``GEARS.predict``) is
  small where the predicted variance is large, so the least certain perturbations are those with the
  *smallest* score.
* ``typiclust_batch``: TypiClust (Hacohen, Dekel & Weinshall 2022), as Huang et al. 2024 (IterPert,
  ``iterpert/query_strategies/typiclust.py``) use it for GEARS: k-means with |labelled| + batch clusters
  over the labelled and pool perturbations; clusters ordered by how few labelled members they hold,
  then by size (largest first); round-robin, each takes its most typical unlabelled member, typicality
  being 1 / (mean Euclidean distance to its K nearest neighbours within the cluster + 1e-5),
  K = min(20, cluster size // 2) as IterPert, at least 1 (a lone point has typicality 0 instead of NaN).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..gears.results import PoolScores
from ..io import InputError
from ..strategies import ACS_RANDOM_FEATURES, ACS_SIGMA, TIE_BREAKS, TYPICLUST_NEIGHBOURS


def _check_batch(perturbations_per_cycle: int, available: int, what: str) -> None:
    if (
        isinstance(perturbations_per_cycle, bool)
        or not isinstance(perturbations_per_cycle, (int, np.integer))
        or perturbations_per_cycle < 1
    ):
        raise InputError(
            "config", "experiment.perturbations_per_cycle", f"must be an integer >= 1, got {perturbations_per_cycle!r}"
        )
    if perturbations_per_cycle > available:
        raise InputError(
            "config",
            "experiment.perturbations_per_cycle",
            f"a batch of {perturbations_per_cycle} is larger than the {available} {what} left to pick from",
        )


def uncertainty_batch(scores: Sequence[float], perturbations_per_cycle: int) -> np.ndarray:
    """Indices of the ``perturbations_per_cycle`` least certain pool perturbations (smallest GEARS score first).

    Parameters
    ----------
    scores : sequence of float, shape (n_pool,)
        GEARS's ``exp(-mean log-variance)`` per pool perturbation (> 0; larger = more certain).
    perturbations_per_cycle : int

    Returns
    -------
    numpy.ndarray of int64, shape (perturbations_per_cycle,)
        Ascending score; ties by pool position (stable sort).

    Raises
    ------
    InputError
        A batch (``perturbations_per_cycle``) larger than the pool; ValueError for non-finite scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    _check_batch(perturbations_per_cycle, len(scores), "pool perturbations")
    if not np.all(np.isfinite(scores)):
        raise ValueError("uncertainty scores must be finite")
    return np.argsort(scores, kind="stable")[:perturbations_per_cycle].astype(np.int64)


def typicality(features: np.ndarray, neighbours: int) -> np.ndarray:
    """1 / (mean distance to the ``neighbours`` nearest other points + 1e-5), shape (n,); 0 for n == 1."""
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if n == 1:
        return np.zeros(1)
    k = max(1, min(int(neighbours), n - 1))
    sq = np.sum(features**2, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * features @ features.T, 0.0))
    np.fill_diagonal(dist, np.inf)
    nearest = np.sort(dist, axis=1)[:, :k]
    return 1.0 / (nearest.mean(axis=1) + 1e-5)


def typiclust_batch(
    features: np.ndarray,
    labelled: np.ndarray,
    perturbations_per_cycle: int,
    *,
    seed: int,
    neighbours: int = TYPICLUST_NEIGHBOURS,
) -> np.ndarray:
    """TypiClust's batch (module docstring).

    Parameters
    ----------
    features : numpy.ndarray, shape (n, d)
        One row per perturbation, labelled and pool alike (e.g. predicted expression over a fixed
        control sample).
    labelled : numpy.ndarray of bool, shape (n,)
        True for perturbations already trained on.
    perturbations_per_cycle : int
    seed : int
        Seeds k-means (scikit-learn ``KMeans(n_init=10, random_state=seed)``).
    neighbours : int
        K of the typicality (IterPert: 20).

    Returns
    -------
    picks : numpy.ndarray of int64, shape (perturbations_per_cycle,)
        Row indices of unlabelled perturbations, in pick order.
    typicality : numpy.ndarray of float64, shape (perturbations_per_cycle,)
        Each pick's typicality within its cluster when it was taken.

    Raises
    ------
    InputError
        A batch (``perturbations_per_cycle``) larger than the unlabelled rows; ValueError for mismatched shapes.
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, dtype=np.float64)
    labelled = np.asarray(labelled, dtype=bool)
    if features.ndim != 2 or labelled.shape != (len(features),):
        raise ValueError(f"features {features.shape} and labelled {labelled.shape} disagree")
    _check_batch(perturbations_per_cycle, int((~labelled).sum()), "unlabelled perturbations")
    n_clusters = min(len(features), int(labelled.sum()) + int(perturbations_per_cycle))
    clusters = KMeans(n_clusters=n_clusters, n_init=10, random_state=int(seed)).fit_predict(features)
    sizes = np.bincount(clusters, minlength=n_clusters)
    labelled_counts = np.bincount(clusters[labelled], minlength=n_clusters)
    order = sorted(range(n_clusters), key=lambda c: (labelled_counts[c], -sizes[c], c))
    available = ~labelled
    picks: list[int] = []
    scores: list[float] = []
    i = 0
    while len(picks) < perturbations_per_cycle:
        cluster = order[i % n_clusters]
        members = np.flatnonzero(clusters == cluster)
        free = members[available[members]]
        if free.size:
            # typicality among the members not yet labelled or picked, as IterPert (clusters[idx] = -1)
            typ = typicality(features[free], min(neighbours, len(free) // 2))
            pick = int(free[int(np.argmax(typ))])
            picks.append(pick)
            scores.append(float(typ.max()))
            available[pick] = False
        i += 1
    return np.array(picks, dtype=np.int64), np.array(scores, dtype=np.float64)


def _import_bmdal():
    """bmdal-reg 3.0.2's ``select_batch`` and ``TensorFeatureData``.

    bmdal-reg 3.0.2 uses ``np.Inf``, which numpy 2 removed (``np.inf`` is the same float). The alias is
    set on numpy before the import, only when missing: a documented shim, no file of bmdal-reg edited.
    """
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # shim for bmdal-reg 3.0.2 under numpy >= 2
    from bmdal_reg.bmdal.algorithms import select_batch
    from bmdal_reg.bmdal.feature_data import TensorFeatureData

    return select_batch, TensorFeatureData


def acsfw_batch(
    pool_features: np.ndarray,
    train_features: np.ndarray,
    perturbations_per_cycle: int,
    *,
    seed: int,
    random_features: int = ACS_RANDOM_FEATURES,
    sigma: float = ACS_SIGMA,
) -> np.ndarray:
    """ACS-FW (Pinsler et al. 2019) through bmdal-reg, configured as Huang et al. 2024 (IterPert).

    ``select_batch(perturbations_per_cycle, models=[placeholder], data={'train', 'pool'}, y_train=None,
    selection_method='fw', base_kernel='linear', kernel_transforms=[('acs-rf', [512, 0.1, None])])``
    on the given features.
    The random features of 'acs-rf' are drawn from torch's global generator, so the call runs inside
    ``torch.random.fork_rng()`` after ``torch.manual_seed(seed)``: the same inputs and seed give the same
    batch, and the caller's torch random state is left as it was.

    Parameters
    ----------
    pool_features : numpy.ndarray, shape (n_pool, d)
    train_features : numpy.ndarray, shape (n_train, d)
        The perturbations already trained on (IterPert's ``x_train``).
    perturbations_per_cycle : int
    seed : int
    random_features, sigma : int, float
        The 'acs-rf' transform's number of random features and GP noise standard deviation
        (IterPert: 512, 0.1).

    Returns
    -------
    numpy.ndarray of int64, shape (perturbations_per_cycle,)
        Row indices into ``pool_features``, distinct.

    Raises
    ------
    InputError
        A batch (``perturbations_per_cycle``) larger than the pool; ValueError for mismatched feature widths.
    """
    import torch

    pool = np.asarray(pool_features, dtype=np.float64)
    train = np.asarray(train_features, dtype=np.float64)
    if pool.ndim != 2 or train.ndim != 2 or pool.shape[1] != train.shape[1]:
        raise ValueError(f"pool {pool.shape} and train {train.shape} features must be 2-D of the same width")
    _check_batch(perturbations_per_cycle, len(pool), "pool perturbations")
    select_batch, TensorFeatureData = _import_bmdal()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        data = {
            "train": TensorFeatureData(torch.tensor(train, dtype=torch.float32)),
            "pool": TensorFeatureData(torch.tensor(pool, dtype=torch.float32)),
        }
        # One placeholder model: bmdal-reg builds one feature map per model; 'linear' never calls it.
        idx, _ = select_batch(
            batch_size=int(perturbations_per_cycle),
            models=[torch.nn.Identity()],
            data=data,
            y_train=None,
            selection_method="fw",
            base_kernel="linear",
            kernel_transforms=[("acs-rf", [int(random_features), float(sigma), None])],
        )
    picks = idx.detach().cpu().numpy().astype(np.int64)
    if len(picks) != perturbations_per_cycle or len(set(picks.tolist())) != perturbations_per_cycle:
        raise RuntimeError(
            f"bmdal-reg returned {len(picks)} indices ({len(set(picks.tolist()))} distinct) "
            f"for a batch of {perturbations_per_cycle}"
        )
    return picks


def cycle_seed(init_seed: int, cycle: int) -> int:
    """The seed of one cycle's selection in a run: ``SeedSequence([init_seed, cycle])``'s first word."""
    return int(np.random.SeedSequence([int(init_seed), int(cycle)]).generate_state(1)[0])


def next_batch(
    method: str,
    params: dict,
    scores: PoolScores,
    labelled: Sequence[str],
    remaining: Sequence[str],
    perturbations_per_cycle: int,
    *,
    seed: int,
) -> tuple[list[str], np.ndarray]:
    """The next batch of an active method from the model's view of the pool.

    Parameters
    ----------
    method : {'uncertainty', 'typiclust', 'acsfw'}
    params : dict
        The strategy's parameters (``strategies.active_params``).
    scores : PoolScores
        Written by the previous cycle's training job; must hold every ``labelled`` and ``remaining`` gene.
    labelled : sequence of str
        Perturbations trained on so far (the picks of the previous cycles).
    remaining : sequence of str
        The pool left to pick from.
    perturbations_per_cycle : int
    seed : int
        Seeds k-means (TypiClust) or the random features (ACS-FW).

    Returns
    -------
    genes : list of str, length perturbations_per_cycle
    score : numpy.ndarray of float64, shape (perturbations_per_cycle,)
        The uncertainty score or typicality of each pick (NaN for ACS-FW).

    Raises
    ------
    InputError
        ``scores`` that do not match the labelled set or miss pool genes (field ``genes``), a batch
        larger than the pool left (field ``experiment.perturbations_per_cycle``).
    """
    position = {g: i for i, g in enumerate(scores.genes.tolist())}
    source = scores.info.get("path", "pool scores")
    missing = [g for g in list(labelled) + list(remaining) if g not in position]
    if missing:
        raise InputError(source, "genes", f"no scores for {missing[:10]}")
    if sorted(scores.genes[scores.labelled].tolist()) != sorted(labelled):
        raise InputError(source, "labelled", "the perturbations trained on differ from the previous cycles' picks")
    remaining = list(remaining)
    _check_batch(perturbations_per_cycle, len(remaining), "pool perturbations")
    pool_rows = np.array([position[g] for g in remaining], dtype=np.int64)
    train_rows = np.array([position[g] for g in labelled], dtype=np.int64)
    if method == "uncertainty":
        values = scores.uncertainty[pool_rows]
        if np.isnan(values).any():
            raise InputError(source, "uncertainty", "no uncertainty scores: the model was trained without its head")
        idx = uncertainty_batch(values, perturbations_per_cycle)
        return [remaining[i] for i in idx], values[idx]
    if method == "typiclust":
        rows = np.concatenate([train_rows, pool_rows])
        is_labelled = np.arange(len(rows)) < len(train_rows)
        idx, typ = typiclust_batch(
            scores.features[rows], is_labelled, perturbations_per_cycle, seed=seed, neighbours=int(params["neighbours"])
        )
        return [remaining[i - len(train_rows)] for i in idx], typ
    if method == "acsfw":
        idx = acsfw_batch(
            scores.features[pool_rows],
            scores.features[train_rows],
            perturbations_per_cycle,
            seed=seed,
            random_features=int(params["random_features"]),
            sigma=float(params["sigma"]),
        )
        return [remaining[i] for i in idx], np.full(perturbations_per_cycle, np.nan)
    raise ValueError(f"unknown active method {method!r}")


def choose_batch(
    strategy: str,
    params: dict,
    pool: Sequence[str],
    labelled: Sequence[str],
    cycle: int,
    perturbations_per_cycle: int,
    *,
    seed: int,
    scores: PoolScores | None = None,
    graph=None,
    source: str = "picks",
) -> tuple[list[str], np.ndarray, str]:
    """The batch of cycle ``cycle`` of an active strategy.

    Cycle 1 is a seeded random batch of the pool: the first batch of ``random`` for the same ``seed`` (the
    run's initialisation seed), so every active run starts where the random run does. Hybrid's warm-up
    cycles (``params['warmup_cycles']``) continue GraphReach's greedy on the pool (needs ``graph``). Later
    cycles apply the strategy's method (:func:`next_batch`) to ``scores``, written by the training job of
    cycle ``cycle - 1``; k-means and random features are seeded by :func:`cycle_seed`.

    Parameters
    ----------
    strategy : str
        The strategy's name (for messages).
    params : dict
        ``strategies.active_params(strategy, ...)``.
    pool : sequence of str
        The split's pool.
    labelled : sequence of str
        The picks of cycles 1..cycle-1, in order.
    cycle, perturbations_per_cycle : int
    seed : int
        The run's initialisation seed.
    source : str
        The last pick file, named in errors about the picks.

    Returns
    -------
    genes : list of str, length perturbations_per_cycle
    scores : numpy.ndarray of float64
        What chose each pick (GraphReach's gain, the uncertainty score, the typicality; NaN for random
        and ACS-FW).
    method : str
        ``'random'``, ``'graphreach'`` or the strategy's method.

    Raises
    ------
    InputError
        Picks outside the pool, warm-up picks that are not GraphReach's, a batch larger than the pool left
        (``experiment.perturbations_per_cycle``), scores that do not belong to the picks.
    """
    from ..selection.graphreach import graphreach
    from ..selection.random import random_selection

    cycle, perturbations_per_cycle = int(cycle), int(perturbations_per_cycle)
    labelled = list(labelled)
    outside = sorted(set(labelled) - set(pool))
    if outside:
        raise InputError(source, "gene", f"picks outside the split's pool: {outside[:10]}")
    taken = set(labelled)
    remaining = [g for g in pool if g not in taken]
    if perturbations_per_cycle > len(remaining):
        raise InputError(
            "config",
            "experiment.perturbations_per_cycle",
            f"cycle {cycle}: a batch of {perturbations_per_cycle} is larger than the {len(remaining)} pool "
            f"perturbations left (experiment.cycles x perturbations_per_cycle must fit the pool of "
            f"{len(pool)})",
        )
    if cycle <= int(params.get("warmup_cycles", 0)):
        if graph is None:
            raise ValueError(f"{strategy}: the GraphReach warm-up needs the graph")
        ranking = graphreach(
            graph,
            list(pool),
            cycle * perturbations_per_cycle,
            hops=int(params["hops"]),
            tie_break=params.get("tie_break", TIE_BREAKS[0]),
            seed=int(seed),
        )
        if ranking.genes[: len(labelled)] != labelled:
            raise InputError(source, "gene", "the warm-up picks so far are not GraphReach's")
        return ranking.genes[len(labelled) :], ranking.gains[len(labelled) :], "graphreach"
    if cycle == 1:
        first = random_selection(list(pool), perturbations_per_cycle, seed=int(seed))
        return first.genes, np.full(perturbations_per_cycle, np.nan), "random"
    if scores is None:
        raise ValueError(f"{strategy}: cycle {cycle} needs the pool scores of cycle {cycle - 1}")
    method = params["method"]
    genes, values = next_batch(
        method, dict(params), scores, labelled, remaining, perturbations_per_cycle, seed=cycle_seed(int(seed), cycle)
    )
    return genes, values, method
