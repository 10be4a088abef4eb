"""The one registry of GEARS trainers: every value of ``gears.trainer``, what implements it, the files it reads
and whether it scores a pool.

The config (``training``: which names ``gears.trainer`` takes, which trainers the active strategies can use),
the workflow (``workflow/rules/common.smk``: a training job's inputs) and ``perturb_select.gears`` (what
trains: a model class that ``gears.cycle.run_trainer`` fits, or a trainer's own function) all read
:data:`TRAINER_REGISTRY`; ``tests/test_config.py`` checks that the schema's enum of
``gears.trainer`` lists the same names. This module imports nothing (the gears package imports torch's
neighbours; the Snakefile reads this).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trainer:
    """One value of ``gears.trainer``.

    Attributes
    ----------
    name : str
    summary : str
        One line: how it trains.
    module : str or None
        The module that implements it (``perturb_select.gears`` imports it on demand); None for
        :data:`NO_TRAINER`, which trains nothing.
    model_class : str or None
        A tensor trainer: its model, a class in ``module`` (``gears.cells.BatchedGears`` or a subclass) that
        ``gears.cycle.run_trainer``, the one adapter of these trainers, fits for a cycle.
    function : str or None
        A trainer with a cycle of its own: its function in ``module``, with the trainer interface's signature.
        A GEARS trainer names either ``model_class`` or ``function``.
    inputs : tuple of str
        The training job's inputs it reads (``screen``, ``edges``, ``adata``, ``gene2go``); the workflow passes
        only those.
    edge_file : str or None
        The GO graph file it reads as ``edges`` (in ``results/graph/``): the fast ``.npz``, or the edge table
        as GEARS reads it.
    scores_pool : bool
        It scores the remaining pool for the active strategies (``train(..., score_genes=...)``).
    rows_per_step : str or None
        The ``gears:`` setting that is the number of network rows of one training step (memory estimate).
    runs_gears_train : bool
        It runs cell-gears's ``GEARS.train`` as it is: the settings GEARS fixes (``GEARS_FIXED``) must keep
        GEARS's values.
    """

    name: str
    summary: str
    module: str | None = None
    model_class: str | None = None
    function: str | None = None
    inputs: tuple[str, ...] = ()
    edge_file: str | None = None
    scores_pool: bool = False
    rows_per_step: str | None = None
    runs_gears_train: bool = False

    def __post_init__(self):
        if self.module is not None and (self.model_class is None) == (self.function is None):
            raise ValueError(f"trainer {self.name!r}: name either its model_class or its function")
        if self.module is None and (self.model_class or self.function):
            raise ValueError(f"trainer {self.name!r}: a model_class or function needs its module")

    @property
    def trains_gears(self) -> bool:
        return self.module is not None


#: ``gears.trainer: none``: GEARS is not trained; every run's baselines are scored on its picks and split
#: all the same (rule score_baselines, ``stages.baselines``), and no active strategy can run.
NO_TRAINER = "none"

#: Every value of ``gears.trainer``, in the order the schema and the messages list them.
TRAINER_REGISTRY = {
    trainer.name: trainer
    for trainer in (
        Trainer(
            "perturbations",
            "mini-batches of perturbations, one network row each, all of its cells scored",
            module="perturb_select.gears.perturbations",
            model_class="PerturbationGears",
            inputs=("screen", "edges"),
            edge_file="go_jaccard.npz",
            scores_pool=True,
            rows_per_step="perturbations_per_step",
        ),
        Trainer(
            "cells",
            "GEARS's mini-batches of cells",
            module="perturb_select.gears.cells",
            model_class="BatchedGears",
            inputs=("screen", "edges"),
            edge_file="go_jaccard.npz",
            scores_pool=True,
            rows_per_step="cells_per_step",
        ),
        Trainer(
            "cell-gears",
            "cell-gears's own PertData and GEARS.train, the reference",
            module="perturb_select.gears.cell_gears",
            function="train_cell_gears",
            inputs=("adata", "gene2go", "edges"),
            edge_file="go_jaccard.tsv",
            rows_per_step="cells_per_step",
            runs_gears_train=True,
        ),
        Trainer(NO_TRAINER, "GEARS is not trained; the baselines are scored on their own"),
    )
}
#: ``gears.trainer`` when the block does not set it (chosen on validation data: docs/benchmarks.md).
DEFAULT_TRAINER = "perturbations"
#: Module -> the trainer it implements: each trainer module records its runs under this name.
TRAINER_OF_MODULE = {entry.module: name for name, entry in TRAINER_REGISTRY.items() if entry.module}
