"""Typed configuration blocks: the single home of every default of the workflow and the command line.

Each block of ``config/*.yaml`` becomes one frozen dataclass through its ``from_config``, which fills the
defaults, checks types and ranges, and names the offending key in an ``InputError`` (source ``config``,
field ``<block>.<key>``). The JSON schema (``workflow/schemas/config.schema.yaml``) checks the file's shape
before any job and documents the same defaults; ``tests/test_config.py`` asserts that they agree.

Modules, one concern each (every public name is re-exported here: ``from perturb_select.config import X``):

- ``checks``: what is checked before the schema (renamed keys and values, ``RENAMED_KEYS``; alias bombs;
  control characters; NaN; integer maxima, ``MAX_INTEGER``), the schema in one line, and the per-setting
  checks every block uses;
- ``graph``: :class:`GraphConfig` (``graph:`` and ``go.taxid``) and the GO file names;
- ``datasets``: :class:`DatasetConfig` (one entry of ``datasets:``) and :class:`SimulationConfig`;
- ``experiment``: :class:`ExperimentConfig` (``experiment:``) and :class:`StabilityConfig`;
- ``design``: :class:`DesignConfig` (one entry of ``design:``);
- ``trainers``: :data:`TRAINER_REGISTRY`, the one list of trainers (module, inputs, whether it scores a pool);
- ``training``: :class:`TrainingConfig` (``gears:``) and GEARS's own schedule;
- ``load``: :class:`Config` and :func:`load_config`, the whole configuration and what spans blocks.

This package imports no numpy, torch or pandas: the Snakefile and the command line read it.
"""

from .checks import (
    MAX_CONFIG_VALUES,
    MAX_INTEGER,
    NAME_PATTERN,
    RENAMED_KEYS,
    RENAMED_VALUES,
    canonical_params,
    check_before_schema,
    check_config_size,
    check_names_and_numbers,
    check_renamed_keys,
    check_renamed_values,
    check_schema,
    schema_error,
)
from .datasets import (
    CONTROL_LABEL,
    DATASET_FORMATS,
    SIMULATED_LABEL,
    SIMULATION_MECHANISMS,
    DatasetConfig,
    SimulationConfig,
)
from .design import DESIGN_LISTS, DESIGN_METHODS, DesignConfig
from .experiment import MAX_STABILITY_INITS, TEST_FRACTION, ExperimentConfig, StabilityConfig
from .graph import GO_FILE_NAMES, GRAPH_CACHE_ENV, GRAPH_K, GRAPH_THRESHOLD, HUMAN_TAXID, GraphConfig
from .load import Config, load_config
from .trainers import DEFAULT_TRAINER, TRAINER_OF_MODULE, TRAINER_REGISTRY, Trainer
from .training import (
    DEFAULT_HOPS,
    DEVICES,
    GEARS_FIXED,
    GEARS_SCHEDULE,
    GEARS_TRAINERS,
    NO_TRAINER,
    POOL_SCORING_TRAINERS,
    RENAMED_TRAINERS,
    TRAINERS,
    TrainingConfig,
)

__all__ = [
    "MAX_CONFIG_VALUES",
    "MAX_INTEGER",
    "NAME_PATTERN",
    "RENAMED_KEYS",
    "RENAMED_VALUES",
    "canonical_params",
    "check_before_schema",
    "check_config_size",
    "check_names_and_numbers",
    "check_renamed_keys",
    "check_renamed_values",
    "check_schema",
    "schema_error",
    "CONTROL_LABEL",
    "DATASET_FORMATS",
    "SIMULATED_LABEL",
    "SIMULATION_MECHANISMS",
    "DatasetConfig",
    "SimulationConfig",
    "DESIGN_LISTS",
    "DESIGN_METHODS",
    "DesignConfig",
    "MAX_STABILITY_INITS",
    "TEST_FRACTION",
    "ExperimentConfig",
    "StabilityConfig",
    "GO_FILE_NAMES",
    "GRAPH_CACHE_ENV",
    "GRAPH_K",
    "GRAPH_THRESHOLD",
    "HUMAN_TAXID",
    "GraphConfig",
    "Config",
    "load_config",
    "DEFAULT_TRAINER",
    "TRAINER_OF_MODULE",
    "TRAINER_REGISTRY",
    "Trainer",
    "DEFAULT_HOPS",
    "DEVICES",
    "GEARS_FIXED",
    "GEARS_SCHEDULE",
    "GEARS_TRAINERS",
    "NO_TRAINER",
    "POOL_SCORING_TRAINERS",
    "RENAMED_TRAINERS",
    "TRAINERS",
    "TrainingConfig",
]
