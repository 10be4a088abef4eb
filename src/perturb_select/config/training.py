"""``gears:``: one GEARS training job's settings, the trainers and GEARS's own schedule."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..strategies import UNCERTAINTY_REG
from .checks import (
    RENAMED_VALUES,
    JobBlock,
    _bad,
    _choice,
    _field_names,
    _integer,
    _number,
    _renamed_value_problem,
    _unknown_keys,
    check_renamed_keys,
)
from .trainers import DEFAULT_TRAINER, NO_TRAINER, TRAINER_REGISTRY

#: The GEARS trainers (``config.trainers.TRAINER_REGISTRY``; ``perturb_select.gears`` implements them) and those
#: that score the pool for the active strategies.
GEARS_TRAINERS = tuple(name for name, trainer in TRAINER_REGISTRY.items() if trainer.trains_gears)
POOL_SCORING_TRAINERS = tuple(name for name, trainer in TRAINER_REGISTRY.items() if trainer.scores_pool)
#: Every value of ``gears.trainer`` (the schema's enum lists the same).
TRAINERS = tuple(TRAINER_REGISTRY)
#: GEARS's GO-graph layers (``gears.num_go_gnn_layers``, GEARS's 1): the receptive-field radius K of every
#: function that takes ``hops`` and is not given it.
DEFAULT_HOPS = 1
#: Trainer names of earlier releases -> their name now.
RENAMED_TRAINERS = RENAMED_VALUES["gears.trainer"]
DEVICES = ("auto", "cpu", "cuda")
#: GEARS's own schedule (cell-gears 0.1.2 ``GEARS.train`` and ``PertData.get_dataloader``): what the
#: ``cell-gears`` trainer runs, and the ``cells`` trainer's schedule when it reproduces GEARS.
GEARS_SCHEDULE = {"epochs": 20, "lr": 1e-3, "lr_decay": 0.5, "cells_per_step": 32}
#: Settings ``GEARS.train`` (cell-gears 0.1.2) cannot take, at GEARS's values: the ``cell-gears`` trainer
#: is refused any other value.
GEARS_FIXED = {
    "lr_decay": GEARS_SCHEDULE["lr_decay"],
    "direction_lambda": 0.1,
    "coexpress_k": 20,
    "coexpress_threshold": 0.4,
    "uncertainty": False,
    "patience": None,
}


@dataclass(frozen=True)
class TrainingConfig(JobBlock):
    """Everything one GEARS training job needs to know besides its data (the ``gears:`` block).

    The model's defaults are GEARS's own (cell-gears 0.1.2, ``GEARS.model_initialize``: hidden 64, 1 GO-graph
    SGC layer, co-expression graph k = 20 at |r| > 0.4, ``direction_lambda`` 0.1, ``uncertainty_reg`` 1;
    Adam with weight decay 5e-4, gradient values clipped at 1.0). The default trainer is ``perturbations``
    with the schedule chosen for it on validation data only (docs/benchmarks.md, "Training schedule"):
    4 perturbations per step, lr 1e-2, decay 0.95 per epoch, 40 epochs. GEARS's own schedule
    (``GEARS.train``: 20 epochs, lr 1e-3, ``StepLR(step_size=1, gamma=0.5)``; ``PertData.get_dataloader``:
    32 cells per step) is :data:`GEARS_SCHEDULE`, which the ``cell-gears`` trainer requires.

    Attributes
    ----------
    trainer : {'perturbations', 'cells', 'cell-gears', 'none'}
        The trainer (``config.trainers.TRAINER_REGISTRY``): ``perturbations`` (``gears.perturbations``: each
        step evaluates the network once per perturbation and scores all of its cells), ``cells`` (GEARS's
        mini-batches of cells, ``gears.cells``) or cell-gears's own ``PertData``/``GEARS.train`` (the
        reference, ``gears.cell_gears``); or ``none`` (:data:`NO_TRAINER`): GEARS is not trained, each run's
        baselines are still scored on the same picks and split (rule score_baselines, no torch), the report
        covers the baselines only, and the active strategies, which need GEARS's predictions, are refused.
        The other settings of the block then change nothing (``num_go_gnn_layers`` still sets K).
    epochs, lr, weight_decay, lr_decay
        The schedule: Adam, learning rate multiplied by ``lr_decay`` after every epoch (``StepLR`` step 1;
        GEARS: 0.5), the best epoch by validation top-20 DE MSE kept.
    patience : int or None
        Stop after this many epochs without a better validation score (None: run every epoch, as GEARS).
    cells_per_step : int
        ``cells``: cells per step (GEARS: 32); an epoch is one pass over the training cells.
    perturbations_per_step, cells_per_perturbation, steps_per_epoch
        ``perturbations``: perturbations per step (the control counts as one), their training cells scored
        per step (None: all; else a seeded sample of at most that many), steps per epoch (None: one pass over
        the training perturbations).
    cells_per_prediction_step : int
        Cells per forward pass when predicting. It matters slightly: ``GEARS_Model``'s co-expression
        ``SGConv`` gets an ``edge_index`` over the first ``num_genes`` rows of the batch, so only the first
        cell of each batch receives co-expression messages (cell-gears 0.1.2 behaviour, kept as it is).
    hidden_size, num_go_gnn_layers, direction_lambda, coexpress_k, coexpress_threshold
        ``GEARS.model_initialize`` arguments (``num_similar_genes_co_express_graph``,
        ``coexpress_threshold``).
    uncertainty, uncertainty_reg
        GEARS's uncertainty head and the weight of its loss term.
    val_fraction : float
        Share of a cycle's training perturbations held out for validation (model selection by top-20
        DE MSE): ``max(1, round(val_fraction * n))``.
    eval_train : bool
        Also evaluate the training set after every epoch (``GEARS.train`` always does; off by default:
        it costs about as much as the epoch and selects nothing).
    device : {'auto', 'cpu', 'cuda', 'cuda:N'}
    use_subgraph : bool
        Train on the receptive field of the cycle's genes (same model, far cheaper).
    threads : int
        torch CPU threads of the job.
    gpus : int
        GPUs a training job asks the scheduler for (workflow only; 0 on CPU clusters).
    """

    trainer: str = DEFAULT_TRAINER
    epochs: int = 40
    patience: int | None = None
    cells_per_step: int = 32
    perturbations_per_step: int = 4
    cells_per_perturbation: int | None = None
    steps_per_epoch: int | None = None
    cells_per_prediction_step: int = 128
    lr: float = 1e-2
    weight_decay: float = 5e-4
    lr_decay: float = 0.95
    hidden_size: int = 64
    num_go_gnn_layers: int = DEFAULT_HOPS
    direction_lambda: float = 0.1
    coexpress_k: int = 20
    coexpress_threshold: float = 0.4
    uncertainty: bool = False
    uncertainty_reg: float = UNCERTAINTY_REG
    val_fraction: float = 0.1
    eval_train: bool = False
    device: str = "auto"
    use_subgraph: bool = True
    threads: int = 1
    gpus: int = 0

    def __post_init__(self):
        if self.trainer in RENAMED_TRAINERS:
            raise _bad("gears.trainer", _renamed_value_problem("gears.trainer", self.trainer))
        _choice(self.trainer, TRAINERS, "gears.trainer")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise _bad("gears.device", f"must be one of {', '.join(DEVICES)} or 'cuda:N', got {self.device!r}")
        for name, low in (
            ("epochs", 1),
            ("cells_per_step", 2),
            ("cells_per_prediction_step", 1),
            ("hidden_size", 1),
            ("num_go_gnn_layers", 1),
            ("coexpress_k", 1),
            ("threads", 1),
            ("gpus", 0),
            ("perturbations_per_step", 2),
        ):
            _integer(getattr(self, name), f"gears.{name}", low)
        for name in ("patience", "cells_per_perturbation", "steps_per_epoch"):
            _integer(getattr(self, name), f"gears.{name}", 1, optional=True)
        for name, low, high, low_open, high_open in (
            ("lr", 0.0, None, True, False),
            ("weight_decay", 0.0, None, False, False),
            ("lr_decay", 0.0, 1.0, True, False),
            ("direction_lambda", 0.0, None, False, False),
            ("uncertainty_reg", 0.0, None, False, False),
            ("coexpress_threshold", 0.0, 1.0, False, False),
            ("val_fraction", 0.0, 1.0, True, True),
        ):
            _number(getattr(self, name), f"gears.{name}", low, high, low_open, high_open)
        for name in ("uncertainty", "eval_train", "use_subgraph"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(f"gears.{name}", f"must be true or false, got {getattr(self, name)!r}")
        if TRAINER_REGISTRY[self.trainer].runs_gears_train:
            for name, value in GEARS_FIXED.items():
                if getattr(self, name) != value:
                    free = [n for n in GEARS_TRAINERS if not TRAINER_REGISTRY[n].runs_gears_train]
                    raise _bad(
                        f"gears.{name}",
                        (
                            f"the {self.trainer} trainer runs GEARS.train as it is: "
                            f"set gears.{name}: {json.dumps(value)} "
                            f"(GEARS's value, not {json.dumps(getattr(self, name))}), or gears.trainer: "
                            f"{' or '.join(free)} to change it"
                        ),
                    )

    @classmethod
    def from_config(cls, gears: Mapping[str, Any]) -> "TrainingConfig":
        """Build from the config's ``gears:`` block.

        Raises
        ------
        InputError
            A renamed or unknown key, or a value of the wrong type or range, naming ``gears.<key>``.
        """
        gears = dict(gears or {})
        check_renamed_keys({"gears": gears})
        _unknown_keys(gears, _field_names(cls), "gears")
        for f in fields(cls):  # YAML reads `lr: 1` as an int
            value = gears.get(f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                gears[f.name] = float(value)
        return cls(**gears)

    @property
    def trains_gears(self) -> bool:
        """False for ``trainer: none`` (no GEARS job; the baselines are scored on their own)."""
        return self.trainer != NO_TRAINER

    def to_dict(self) -> dict:
        return asdict(self)
