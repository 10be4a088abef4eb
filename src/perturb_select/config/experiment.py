"""``experiment:``: seeds, split, cycles, strategies and the stability analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..strategies import ACTIVE, VARIANT_KEY, strategy_params
from .checks import MAX_INTEGER, _bad, _field_names, _integer, _number, _unknown_keys
from .datasets import DatasetConfig
from .training import TrainingConfig

#: Share of candidates held out per seed (``experiment.test_fraction``).
TEST_FRACTION = 0.1
#: The most initialisations the stability analysis takes (``experiment.stability.inits``; the schema's maximum).
MAX_STABILITY_INITS = MAX_INTEGER["inits"][0]


@dataclass(frozen=True)
class StabilityConfig:
    """``experiment.stability``: the paper's Figure 1, ``inits`` initialisation seeds on one split.

    Attributes
    ----------
    inits : int
        Initialisation seeds ``split_seed, split_seed + 1, ...``; fewer than 2 = no analysis.
    split_seed : int or None
        The split (None: the first of ``experiment.seeds``); its first initialisation is that seed's main run.
    """

    inits: int = 5
    split_seed: int | None = None

    def __post_init__(self):
        # at most MAX_STABILITY_INITS: each adds a run of every active strategy; planning alone took minutes
        _integer(self.inits, "experiment.stability.inits", 0)
        _integer(self.split_seed, "experiment.stability.split_seed", 0, optional=True)


@dataclass(frozen=True)
class ExperimentConfig:
    """``experiment:``.

    Attributes
    ----------
    seeds : tuple of int
        One fixed test split per seed (also the initialisation seed of the seed's main run).
    cycles : int
    perturbations_per_cycle : int
        Perturbations added per cycle (a dataset may set its own).
    test_fraction : float
        Share of candidates held out per seed (``experiment.splits.split_test_set``).
    strategies : dict of str to dict
        Strategy name -> its parameters: one-shot blocks as written plus ``hops`` for the graph
        selectors (default ``gears.num_go_gnn_layers``), active blocks over their documented defaults
        (``strategies.active_params``).
    stability : StabilityConfig
    """

    seeds: tuple[int, ...]
    cycles: int
    perturbations_per_cycle: int
    strategies: dict = field(default_factory=dict)
    test_fraction: float = TEST_FRACTION
    stability: StabilityConfig = field(default_factory=StabilityConfig)

    @classmethod
    def from_config(cls, config: Mapping) -> "ExperimentConfig":
        """From the whole config (strategy defaults need ``gears.num_go_gnn_layers``).

        Raises
        ------
        InputError
            Naming ``experiment.<key>`` or ``experiment.strategies.<name>[.<key>]``.
        """
        block = dict(config.get("experiment") or {})
        _unknown_keys(block, _field_names(cls), "experiment")
        for key in ("seeds", "cycles", "perturbations_per_cycle", "strategies"):
            if key not in block:
                raise _bad(f"experiment.{key}", "missing")
        seeds = block["seeds"]
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise _bad("experiment.seeds", f"must be a non-empty list of integers, got {seeds!r}")
        for seed in seeds:
            _integer(seed, "experiment.seeds", 0)
        if len(set(seeds)) != len(seeds):
            raise _bad("experiment.seeds", "a seed is listed twice")
        cycles = _integer(block["cycles"], "experiment.cycles", 1)
        perturbations_per_cycle = _integer(block["perturbations_per_cycle"], "experiment.perturbations_per_cycle", 1)
        test_fraction = _number(
            block.get("test_fraction", cls.test_fraction),
            "experiment.test_fraction",
            0.0,
            1.0,
            low_open=True,
            high_open=True,
        )
        stability_block = dict(block.get("stability") or {})
        _unknown_keys(stability_block, _field_names(StabilityConfig), "experiment.stability")
        hops = TrainingConfig.from_config(config.get("gears") or {}).num_go_gnn_layers
        strategies = dict(block["strategies"] or {})
        if not strategies:
            raise _bad("experiment.strategies", "no strategy")
        params = {name: strategy_params(name, strategies[name], hops=hops, cycles=cycles) for name in strategies}
        return cls(
            seeds=tuple(int(s) for s in seeds),
            cycles=cycles,
            perturbations_per_cycle=perturbations_per_cycle,
            strategies=params,
            test_fraction=test_fraction,
            stability=StabilityConfig(**stability_block),
        )

    def method(self, name: str) -> str:
        """The strategy that ``strategies[name]`` runs: ``name``, or a variant's ``variant_of``."""
        return self.strategies[name].get(VARIANT_KEY, name)

    def is_active(self, name: str) -> bool:
        """Whether ``strategies[name]`` picks cycle by cycle with a model (``strategies.ACTIVE``)."""
        return self.method(name) in ACTIVE

    def perturbations_per_cycle_of(self, dataset: DatasetConfig | None = None) -> int:
        """Perturbations per cycle for ``dataset`` (its own value, else the experiment's)."""
        if dataset is not None and dataset.perturbations_per_cycle is not None:
            return dataset.perturbations_per_cycle
        return self.perturbations_per_cycle

    @property
    def stability_split(self) -> int:
        """The split seed of the stability analysis."""
        split = self.stability.split_seed
        return self.seeds[0] if split is None else split

    @property
    def stability_seeds(self) -> list[tuple[int, int]]:
        """(split seed, initialisation seed) of every run of the stability analysis, the main run first."""
        split = self.stability_split
        return [(split, split + r) for r in range(self.stability.inits)]
