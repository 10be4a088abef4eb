"""Batch selection rules of the active-learning baselines, given a trained model's view of the pool.

These pick the next batch of perturbations from model outputs (features or uncertainty scores); the
model and its features come from ``gears_batched.BatchedGears`` (``predict_perturbations``). Every
random choice takes an explicit seed.

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

from .io import InputError

TYPICLUST_NEIGHBOURS = 20


def _check_batch(batch: int, available: int, what: str) -> None:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise InputError("config", "experiment.batch_size", f"must be an integer >= 1, got {batch!r}")
    if batch > available:
        raise InputError("config", "experiment.batch_size",
                         f"a batch of {batch} is larger than the {available} {what} left to pick from")


def uncertainty_batch(scores: Sequence[float], batch: int) -> np.ndarray:
    """Indices of the ``batch`` least certain pool perturbations (smallest GEARS score first).

    Parameters
    ----------
    scores : sequence of float, shape (n_pool,)
        GEARS's ``exp(-mean log-variance)`` per pool perturbation (> 0; larger = more certain).
    batch : int

    Returns
    -------
    numpy.ndarray of int64, shape (batch,)
        Ascending score; ties by pool position (stable sort).

    Raises
    ------
    InputError
        A batch larger than the pool; ValueError for non-finite scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    _check_batch(batch, len(scores), "pool perturbations")
    if not np.all(np.isfinite(scores)):
        raise ValueError("uncertainty scores must be finite")
    return np.argsort(scores, kind="stable")[:batch].astype(np.int64)


def typicality(features: np.ndarray, neighbours: int) -> np.ndarray:
    """1 / (mean distance to the ``neighbours`` nearest other points + 1e-5), shape (n,); 0 for n == 1."""
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if n == 1:
        return np.zeros(1)
    k = max(1, min(int(neighbours), n - 1))
    sq = np.sum(features ** 2, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * features @ features.T, 0.0))
    np.fill_diagonal(dist, np.inf)
    nearest = np.sort(dist, axis=1)[:, :k]
    return 1.0 / (nearest.mean(axis=1) + 1e-5)


def typiclust_batch(features: np.ndarray, labelled: np.ndarray, batch: int, *, seed: int,
                    neighbours: int = TYPICLUST_NEIGHBOURS) -> np.ndarray:
    """TypiClust's batch (module docstring).

    Parameters
    ----------
    features : numpy.ndarray, shape (n, d)
        One row per perturbation, labelled and pool alike (e.g. predicted expression over a fixed
        control sample).
    labelled : numpy.ndarray of bool, shape (n,)
        True for perturbations already trained on.
    batch : int
    seed : int
        Seeds k-means (scikit-learn ``KMeans(n_init=10, random_state=seed)``).
    neighbours : int
        K of the typicality (IterPert: 20).

    Returns
    -------
    numpy.ndarray of int64, shape (batch,)
        Row indices of unlabelled perturbations, in pick order.

    Raises
    ------
    InputError
        A batch larger than the unlabelled rows; ValueError for mismatched shapes.
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, dtype=np.float64)
    labelled = np.asarray(labelled, dtype=bool)
    if features.ndim != 2 or labelled.shape != (len(features),):
        raise ValueError(f"features {features.shape} and labelled {labelled.shape} disagree")
    _check_batch(batch, int((~labelled).sum()), "unlabelled perturbations")
    n_clusters = min(len(features), int(labelled.sum()) + int(batch))
    clusters = KMeans(n_clusters=n_clusters, n_init=10, random_state=int(seed)).fit_predict(features)
    sizes = np.bincount(clusters, minlength=n_clusters)
    labelled_counts = np.bincount(clusters[labelled], minlength=n_clusters)
    order = sorted(range(n_clusters), key=lambda c: (labelled_counts[c], -sizes[c], c))
    available = ~labelled
    picks: list[int] = []
    i = 0
    while len(picks) < batch:
        cluster = order[i % n_clusters]
        members = np.flatnonzero(clusters == cluster)
        free = members[available[members]]
        if free.size:
            # typicality among the members not yet labelled or picked, as IterPert (clusters[idx] = -1)
            typ = typicality(features[free], min(neighbours, len(free) // 2))
            pick = int(free[int(np.argmax(typ))])
            picks.append(pick)
            available[pick] = False
        i += 1
    return np.array(picks, dtype=np.int64)


ACSFW_TRANSFORMS = (("acs-rf", [512, 0.1, None]),)
"""Huang et al. 2024's configuration of ACS-FW in bmdal-reg: 512 random features, GP noise sigma 0.1."""


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


def acsfw_batch(pool_features: np.ndarray, train_features: np.ndarray, batch: int, *, seed: int) -> np.ndarray:
    """ACS-FW (Pinsler et al. 2019) through bmdal-reg, configured as Huang et al. 2024 (IterPert).

    ``select_batch(batch, models=[placeholder], data={'train', 'pool'}, y_train=None, selection_method='fw',
    base_kernel='linear', kernel_transforms=[('acs-rf', [512, 0.1, None])])`` on the given features.
    The random features of 'acs-rf' are drawn from torch's global generator, so the call runs inside
    ``torch.random.fork_rng()`` after ``torch.manual_seed(seed)``: the same inputs and seed give the same
    batch, and the caller's torch random state is left as it was.

    Parameters
    ----------
    pool_features : numpy.ndarray, shape (n_pool, d)
    train_features : numpy.ndarray, shape (n_train, d)
        The perturbations already trained on (IterPert's ``x_train``).
    batch : int
    seed : int

    Returns
    -------
    numpy.ndarray of int64, shape (batch,)
        Row indices into ``pool_features``, distinct.

    Raises
    ------
    InputError
        A batch larger than the pool; ValueError for mismatched feature widths.
    """
    import torch

    pool = np.asarray(pool_features, dtype=np.float64)
    train = np.asarray(train_features, dtype=np.float64)
    if pool.ndim != 2 or train.ndim != 2 or pool.shape[1] != train.shape[1]:
        raise ValueError(f"pool {pool.shape} and train {train.shape} features must be 2-D of the same width")
    _check_batch(batch, len(pool), "pool perturbations")
    select_batch, TensorFeatureData = _import_bmdal()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        data = {"train": TensorFeatureData(torch.tensor(train, dtype=torch.float32)),
                "pool": TensorFeatureData(torch.tensor(pool, dtype=torch.float32))}
        # One placeholder model: bmdal-reg builds one feature map per model; 'linear' never calls it.
        idx, _ = select_batch(batch_size=int(batch), models=[torch.nn.Identity()], data=data, y_train=None,
                              selection_method="fw",
                              base_kernel="linear", kernel_transforms=[tuple(t) for t in ACSFW_TRANSFORMS])
    picks = idx.detach().cpu().numpy().astype(np.int64)
    if len(picks) != batch or len(set(picks.tolist())) != batch:
        raise RuntimeError(f"bmdal-reg returned {len(picks)} indices ({len(set(picks.tolist()))} distinct) for a "
                           f"batch of {batch}")
    return picks
