"""What a GEARS training job produces, whichever trainer ran it: one result type, one info schema.

* :class:`CyclePredictions`: the predicted and observed mean expression of the cycle's test perturbations,
  with their DE genes and the run record ``info`` (``predictions.npz``);
* :class:`PoolScores`: an active strategy's view of the pool from the trained model (``pool_scores.npz``);
* :class:`TrainingResult`: both, as every trainer returns them;
* :func:`run_info`: the one ``info`` schema (:data:`RUN_INFO_KEYS`) every trainer fills.

numpy only: the evaluation jobs read these files without torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..io import InputError, load_container, save_container
from ..screens.layout import N_DE

PREDICTIONS_FORMAT = "perturb-select predictions v1"
POOL_FORMAT = "perturb-select pool scores v1"
_ARRAY_FIELDS = ("conditions", "genes", "pred", "truth", "ctrl_mean", "de_idx", "de_idx_non_dropout")
_POOL_FIELDS = ("genes", "labelled", "features", "uncertainty")

#: Keys of every run record (``CyclePredictions.info``), whichever trainer wrote it; a value a trainer does not
#: have is ``None`` (the cell-gears trainer records no per-epoch diagnostics, no co-expression edge count).
RUN_INFO_KEYS = (
    "trainer",
    "seed",
    "cycle",
    "train_conditions",
    "val_conditions",
    "test_conditions",
    "n_cells",
    "graph",
    "coexpress_edges",
    "device",
    "torch_threads",
    "config",
    "best_val_mse_top20_de",
    "best_val_mse",
    "diagnostics",
    "test_uncertainty",
    "seconds",
    "versions",
)


def run_info(**values) -> dict:
    """A run record with exactly the keys of :data:`RUN_INFO_KEYS` (``cycle`` may be left for the stage).

    Raises
    ------
    ValueError
        A key outside the schema (a trainer must not invent its own).
    """
    unknown = sorted(set(values) - set(RUN_INFO_KEYS))
    if unknown:
        raise ValueError(f"run info keys outside the schema: {unknown}")
    return {key: values.get(key) for key in RUN_INFO_KEYS}


def package_versions(distributions=("cell-gears", "torch", "torch-geometric")) -> dict:
    """Installed versions of ``distributions`` (None for one that is missing), for the run record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in distributions:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


@dataclass
class CyclePredictions:
    """GEARS's predictions for the test perturbations of one cycle.

    Attributes
    ----------
    conditions : numpy.ndarray of str, shape (n_test,)
        Test conditions, ``'GENE+ctrl'``.
    genes : numpy.ndarray of str, shape (n_genes,)
        Measured genes (``var_names`` of the processed screen), the column order of the arrays below.
    pred : numpy.ndarray, shape (n_test, n_genes), float32
        Mean over the condition's test cells of GEARS's predicted expression (log1p-normalised).
    truth : numpy.ndarray, shape (n_test, n_genes), float32
        Mean observed expression of the same cells.
    ctrl_mean : numpy.ndarray, shape (n_genes,), float32
        Mean expression of all control cells.
    de_idx : numpy.ndarray, shape (n_test, 20), int64
        Top-20 DE genes (column indices) in ``rank_genes_groups_cov_all`` order, padded with -1.
    de_idx_non_dropout : numpy.ndarray, shape (n_test, 20), int64
        Top-20 non-dropout DE genes (``top_non_dropout_de_20``), padded with -1.
    info : dict
        JSON-ready run record: conditions per split, cell counts, graph size, device, seconds, ...
    """

    conditions: np.ndarray
    genes: np.ndarray
    pred: np.ndarray
    truth: np.ndarray
    ctrl_mean: np.ndarray
    de_idx: np.ndarray
    de_idx_non_dropout: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        _coerce(
            self,
            conditions=str,
            genes=str,
            pred=np.float32,
            truth=np.float32,
            ctrl_mean=np.float32,
            de_idx=np.int64,
            de_idx_non_dropout=np.int64,
        )
        n_test, n_genes = len(self.conditions), len(self.genes)
        expected = {
            "pred": (n_test, n_genes),
            "truth": (n_test, n_genes),
            "ctrl_mean": (n_genes,),
            "de_idx": (n_test, N_DE),
            "de_idx_non_dropout": (n_test, N_DE),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")

    def save(self, path: str | os.PathLike) -> None:
        """Write a container (:func:`perturb_select.io.save_container`, ``info`` as JSON), atomically."""
        save_container(path, PREDICTIONS_FORMAT, {name: getattr(self, name) for name in _ARRAY_FIELDS}, self.info)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CyclePredictions":
        """Read a file written by ``save``.

        Raises
        ------
        InputError
            If the file is not a readable predictions container (truncated, corrupt, another format), an
            array is missing or has the wrong shape, or ``info`` is not JSON.
        """
        return _load(cls, path, PREDICTIONS_FORMAT, _ARRAY_FIELDS)


@dataclass
class PoolScores:
    """What a training job of an active strategy hands to the next cycle's selection.

    Attributes
    ----------
    genes : numpy.ndarray of str, shape (n,)
        The perturbations trained on in the cycle (labelled) and the pool perturbations left.
    labelled : numpy.ndarray of bool, shape (n,)
    features : numpy.ndarray of float32, shape (n, n_genes)
        Predicted mean expression after perturbing each gene, over one fixed seeded sample of control
        cells (``gears.cells.BatchedGears.predict_perturbations``; IterPert's ``linear_fix_ctrl``).
    uncertainty : numpy.ndarray of float64, shape (n,)
        GEARS's ``exp(-mean log-variance)`` per perturbation; NaN without the uncertainty head.
    info : dict
        Provenance (seed, number of control cells, cycle, strategy).
    """

    genes: np.ndarray
    labelled: np.ndarray
    features: np.ndarray
    uncertainty: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        _coerce(self, genes=str, labelled=bool, features=np.float32, uncertainty=np.float64)
        n = len(self.genes)
        if (
            self.labelled.shape != (n,)
            or self.uncertainty.shape != (n,)
            or self.features.ndim != 2
            or len(self.features) != n
        ):
            raise ValueError(
                f"{n} genes but labelled {self.labelled.shape}, features {self.features.shape}, "
                f"uncertainty {self.uncertainty.shape}"
            )

    def save(self, path: str | os.PathLike) -> None:
        """Write a container (``info`` as JSON), atomically."""
        save_container(path, POOL_FORMAT, {name: getattr(self, name) for name in _POOL_FIELDS}, self.info)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PoolScores":
        """Read ``save``'s file; ``InputError`` naming the file for a missing array or a corrupt file."""
        return _load(cls, path, POOL_FORMAT, _POOL_FIELDS)


def _coerce(result, **dtypes) -> None:
    """Set each named attribute of ``result`` to a numpy array of its dtype (``str`` arrays as unicode)."""
    for name, dtype in dtypes.items():
        value = np.asarray(getattr(result, name))
        setattr(result, name, value.astype(str) if dtype is str else value.astype(dtype, copy=False))


def _load(cls, path, format_tag: str, fields: tuple):
    """A result read from its container: the arrays as fields, ``info``; ``InputError`` naming the file."""
    arrays, info = load_container(path, format_tag, fields, hint="rerun the training job")
    try:
        return cls(**arrays, info=info)
    except ValueError as err:
        raise InputError(path, None, str(err)) from None


@dataclass
class TrainingResult:
    """What every trainer returns (``perturb_select.gears.train``).

    Attributes
    ----------
    predictions : CyclePredictions
        The test perturbations' predictions and the run record (``info``, :data:`RUN_INFO_KEYS`).
    pool : PoolScores or None
        The model's view of the labelled and remaining pool perturbations, when they were asked for
        (active strategies).
    train_predictions : CyclePredictions or None
        In-sample predictions, when asked for (``score_train``): the perturbations the model was fitted on
        (the cycle's picks less the validation ones), predicted by the kept model exactly as the test
        perturbations are; ``info`` holds ``split: 'train'``.
    """

    predictions: CyclePredictions
    pool: PoolScores | None = None
    train_predictions: CyclePredictions | None = None
