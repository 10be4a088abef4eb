"""GEARS (Roohani et al. 2023, cell-gears 0.1.2) trained for one cycle, behind one trainer interface.

Every trainer is a function ``(data, train_genes, test_genes, *, seed, config, score_genes=None,
score_controls=None, score_train=False) -> TrainingResult``: :class:`TrainingData` (the graph and the
screen), the cycle's training perturbations, the fixed test perturbations, the run's seed and a
:class:`perturb_select.config.TrainingConfig`; it returns the test predictions with one run-record schema,
when ``score_genes`` are given the model's view of them, and with ``score_train`` its predictions of the
perturbations it was fitted on (``results``). :func:`train` picks the trainer named by ``config.trainer``
from :data:`TRAINERS`: the tensor trainers (``cells``, ``perturbations``) are their model class fitted by
``cycle.run_trainer``, their one adapter; ``cell-gears`` is its own function.

Modules: ``upstream`` (cell-gears's network and losses, loaded without the ``gears`` package), ``common``
(seeds, devices, initial weights, the validation split), ``results`` (predictions, pool scores, run record),
``cells`` (the tensor model shared by the ``cells`` and ``perturbations`` trainers, and the ``cells``
trainer), ``cycle`` (one cycle of a tensor trainer: split, fit, predict, score the pool, record),
``perturbations`` (one network row per perturbation) and ``cell_gears`` (cell-gears's own
``GEARS.train``, the reference).
Nothing is imported from torch until a trainer runs.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import TRAINER_REGISTRY, TrainingConfig
from ..knowledge.graph import KnowledgeGraph

#: Trainer name (``gears.trainer``) -> (module, what implements it there: the model class ``cycle.run_trainer``
#: fits, or the trainer function) (from the one registry, ``perturb_select.config.TRAINER_REGISTRY``).
TRAINERS = {
    name: (entry.module, entry.model_class or entry.function)
    for name, entry in TRAINER_REGISTRY.items()
    if entry.trains_gears
}
#: Which of the training job's inputs each trainer reads (the workflow passes only those).
TRAINER_INPUTS = {name: entry.inputs for name, entry in TRAINER_REGISTRY.items() if entry.trains_gears}


@dataclass(frozen=True)
class TrainingData:
    """What a trainer reads besides the cycle's perturbations.

    Attributes
    ----------
    graph : KnowledgeGraph
        The whole GO graph (a trainer takes the receptive field it needs).
    screen : perturb_select.screens.arrays.ScreenArrays or None
        The processed screen as arrays (``screen.npz``): the input of the ``perturbations`` and ``cells``
        trainers.
    adata_path, gene2go_path : path or None
        GEARS's processed h5ad and gene2go pickle: the cell-gears trainer's inputs.
    work_dir : path or None
        Scratch folder of the cell-gears trainer (emptied first, removed after).
    """

    graph: KnowledgeGraph
    screen: object = None
    adata_path: Path | None = None
    gene2go_path: Path | None = None
    work_dir: Path | None = None


def trainer(name: str):
    """The trainer function registered as ``name`` in :data:`TRAINERS` (imported on demand): a tensor trainer's
    model class through ``cycle.run_trainer``, its runs recorded under ``name``, or the trainer's own function."""
    module, implementation = TRAINERS[name]
    implementation = getattr(importlib.import_module(module), implementation)
    if TRAINER_REGISTRY[name].model_class is None:
        return implementation
    from .cycle import run_trainer

    return functools.partial(run_trainer, implementation, name)


def train(
    data: TrainingData,
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    *,
    seed: int,
    config: TrainingConfig,
    score_genes: Sequence[str] | None = None,
    score_controls: int | None = None,
    score_train: bool = False,
):
    """Train GEARS with the trainer ``config.trainer`` and predict the test perturbations.

    ``score_genes`` (an active strategy's labelled and remaining pool perturbations) are scored from a fixed,
    seeded sample of ``score_controls`` control cells (the strategy's ``controls``). ``score_train`` also
    predicts the perturbations the model was fitted on, as the test ones (``TrainingResult.train_predictions``:
    can it fit what it has seen?); the test predictions do not change.

    Returns
    -------
    perturb_select.gears.results.TrainingResult

    Raises
    ------
    InputError
        The trainer's own errors (bad genes, missing inputs, settings it cannot apply); a network larger
        than this machine's memory (``gears.hidden_size``, ``common.check_model_memory``).
    """
    if score_genes is not None and not score_controls:
        raise ValueError("scoring perturbations needs score_controls, the size of the control sample")
    if data.screen is not None:  # the cell-gears trainer reads its own files; its size is GEARS's default
        from .common import check_model_memory

        check_model_memory(len(data.screen.genes), data.graph.n_nodes, config)
    extra = {"score_train": True} if score_train else {}
    return trainer(config.trainer)(
        data,
        train_genes,
        test_genes,
        seed=seed,
        config=config,
        score_genes=score_genes,
        score_controls=score_controls,
        **extra,
    )


def training_data(
    graph: KnowledgeGraph,
    *,
    screen: str | os.PathLike | None = None,
    adata: str | os.PathLike | None = None,
    gene2go: str | os.PathLike | None = None,
    work_dir: str | os.PathLike | None = None,
) -> TrainingData:
    """:class:`TrainingData` from the training job's files (the screen arrays are loaded here)."""
    arrays = None
    if screen:
        from ..screens.arrays import ScreenArrays

        arrays = ScreenArrays.load(screen)
    return TrainingData(
        graph=graph,
        screen=arrays,
        adata_path=Path(adata) if adata else None,
        gene2go_path=Path(gene2go) if gene2go else None,
        work_dir=Path(work_dir) if work_dir else None,
    )
