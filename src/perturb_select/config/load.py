"""The whole configuration: every block typed and checked, and what spans blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..io import InputError
from .checks import check_before_schema
from .datasets import DatasetConfig
from .design import DesignConfig
from .experiment import ExperimentConfig
from .graph import GraphConfig
from .training import NO_TRAINER, POOL_SCORING_TRAINERS, TrainingConfig


@dataclass(frozen=True)
class Config:
    """A whole configuration, every block typed and checked (what ``workflow/rules/common.smk`` reads).

    Attributes
    ----------
    graph : GraphConfig
    datasets : dict of str to DatasetConfig
    experiment : ExperimentConfig
    training : TrainingConfig
        The ``gears:`` block.
    designs : dict of str to DesignConfig
    """

    graph: GraphConfig
    datasets: dict
    experiment: ExperimentConfig
    training: TrainingConfig
    designs: dict

    def perturbations_per_cycle_of(self, dataset: str) -> int:
        """Perturbations per cycle of ``dataset`` (its own value, else the experiment's)."""
        return self.experiment.perturbations_per_cycle_of(self.datasets[dataset])


def load_config(config: Mapping) -> Config:
    """Type and check a whole configuration (after the JSON schema): renamed keys, every block, and what
    spans blocks (the active strategies need a trainer that scores the pool).

    Raises
    ------
    InputError
        Source ``config``, naming the key at fault.
    """
    check_before_schema(config)
    training = TrainingConfig.from_config(config.get("gears") or {})
    experiment = ExperimentConfig.from_config(config)
    active = sorted(name for name in experiment.strategies if experiment.is_active(name))
    if active and not training.trains_gears:
        raise InputError(
            "config",
            f"experiment.strategies.{active[0]}",
            f"an active strategy selects from GEARS's predictions of the pool, and gears.trainer: "
            f"{NO_TRAINER} trains no GEARS: remove "
            f"{', '.join(f'experiment.strategies.{name}' for name in active)}, or set gears.trainer "
            f"to {' or '.join(POOL_SCORING_TRAINERS)}",
        )
    if active and training.trainer not in POOL_SCORING_TRAINERS:
        raise InputError(
            "config",
            "gears.trainer",
            f"the active strategies {active} need a trainer that scores the pool "
            f"({', '.join(POOL_SCORING_TRAINERS)}), got {training.trainer!r}",
        )
    datasets = {name: DatasetConfig.from_config(name, block) for name, block in (config.get("datasets") or {}).items()}
    if not datasets:
        raise InputError("config", "datasets", "no dataset")
    designs = {
        name: DesignConfig.from_config(name, block, default_hops=training.num_go_gnn_layers)
        for name, block in (config.get("design") or {}).items()
    }
    return Config(
        graph=GraphConfig.from_config(config),
        datasets=datasets,
        experiment=experiment,
        training=training,
        designs=designs,
    )
