"""Typed configuration blocks: the single home of every default of the workflow and the command line.

Each block of ``config/*.yaml`` becomes one frozen dataclass through its ``from_config``, which fills the
defaults, checks types and ranges, and names the offending key in an ``InputError`` (source ``config``,
field ``<block>.<key>``). The JSON schema (``workflow/schemas/config.schema.yaml``) checks the file's shape
before any job and documents the same defaults; ``tests/test_config.py`` asserts that they agree.

Blocks: :class:`GraphConfig` (``graph:`` and ``go.taxid``), :class:`DatasetConfig` (one entry of
``datasets:``), :class:`ExperimentConfig` (``experiment:``, with :class:`StabilityConfig`),
:class:`DesignConfig` (one entry of ``design:``) and :class:`TrainingConfig` (``gears:``).

Keys renamed since 0.1 (``RENAMED_KEYS``) are refused by :func:`check_renamed_keys` with their new name.
This module imports no numpy, torch or pandas: the Snakefile and the command line read it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from .io import InputError
from .strategies import (ACTIVE, GRAPHREACH_WEIGHTS, MAXSPEC_OPERATORS, TIE_BREAKS, UNCERTAINTY_REG, VARIANT_KEY,
                         strategy_params)

# --------------------------------------------------------------------------------------------------
# Renamed keys
# --------------------------------------------------------------------------------------------------

#: Old key path -> (new key, why). ``*`` stands for any dataset or design name.
RENAMED_KEYS = {
    "experiment.batch_size": ("perturbations_per_cycle", "perturbations added per cycle"),
    "datasets.*.batch_size": ("perturbations_per_cycle", "perturbations added per cycle for this dataset"),
    "design.*.batch": ("perturbations_per_cycle", "perturbations per cycle of the design"),
    "gears.batch_size": ("cells_per_step", "cells per GEARS training step"),
    "gears.test_batch_size": ("cells_per_prediction_step", "cells per forward pass when predicting"),
}


def check_before_schema(config: Mapping) -> None:
    """What the JSON schema cannot say, or not clearly, checked before it and before any job: no
    configuration at all, an alias bomb (:func:`check_config_size`), keys and values that were renamed,
    keys with control characters, NaN or infinite numbers and integers above their maximum
    (:func:`check_names_and_numbers`).

    Raises
    ------
    InputError
        Source ``config``: empty (no ``--configfile`` and no default), or the first of the problems above,
        naming its key.
    """
    if not config:
        raise InputError("config", None, "no configuration: pass --configfile FILE (in the repository, "
                         "profiles/default makes config/config.yaml the default)")
    check_config_size(config)
    check_renamed_keys(config)
    check_renamed_values(config)
    check_names_and_numbers(config)


def check_renamed_keys(config: Mapping) -> None:
    """Refuse a key that was renamed, naming the new one (before the schema's generic message).

    Raises
    ------
    InputError
        Source ``config``, field the old key path, e.g. ``experiment.batch_size: renamed to
        experiment.perturbations_per_cycle (perturbations added per cycle)``.
    """
    for old, (new, meaning) in RENAMED_KEYS.items():
        *parents, leaf = old.split(".")
        blocks = [((), config)]
        for part in parents:  # follow the path; '*' fans out over every entry of the block
            blocks = [((*path, name), child) for path, node in blocks if isinstance(node, Mapping)
                      for name, child in (node.items() if part == "*" else [(part, node.get(part))])]
        for path, node in blocks:
            if isinstance(node, Mapping) and leaf in node:
                where = ".".join(path)
                raise InputError("config", f"{where}.{leaf}", f"renamed to {where}.{new} ({meaning})")


#: Values of earlier releases -> their name now, by key path (``gears.trainer: batched`` is ``cells``).
RENAMED_VALUES = {"gears.trainer": {"batched": "cells"}}


def check_renamed_values(config: Mapping) -> None:
    """Refuse a value that was renamed, naming the new one (before the schema's generic enum error).

    Raises
    ------
    InputError
        Source ``config``, field the key path, e.g. ``gears.trainer: 'batched' was renamed 'cells' ...``.
    """
    for path, renamed in RENAMED_VALUES.items():
        node = config
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str) and node in renamed:
            raise _bad(path, _renamed_value_problem(path, node))


def _renamed_value_problem(path: str, value: str) -> str:
    new = RENAMED_VALUES[path][value]
    if path == "gears.trainer":
        return (f"{value!r} was renamed {new!r} (GEARS's mini-batches of cells); 'perturbations' trains one "
                "network row per perturbation")
    return f"{value!r} was renamed {new!r}"


#: The most values a configuration may hold once YAML's aliases are expanded (the repository's configs hold
#: fewer than 500): a few lines of nested aliases ("billion laughs") expand to millions, which the schema's
#: error message would print in full.
MAX_CONFIG_VALUES = 100_000


def check_config_size(config: Mapping) -> None:
    """Refuse a configuration that expands to more than :data:`MAX_CONFIG_VALUES` values.

    YAML aliases make a shared node appear at every place that names it; the count is taken per distinct
    node (memoised), so an alias bomb is measured without being expanded.

    Raises
    ------
    InputError
        Source ``config``: the expanded size, and that repeated aliases make it.
    """
    sizes: dict[int, int] = {}

    def size(node) -> int:
        if not isinstance(node, (Mapping, list, tuple)):
            return 1
        if id(node) not in sizes:
            sizes[id(node)] = 0  # a recursive alias counts once
            children = node.values() if isinstance(node, Mapping) else node
            sizes[id(node)] = 1 + sum(size(child) for child in children)
        return sizes[id(node)]

    total = size(config)
    if total > MAX_CONFIG_VALUES:
        raise InputError("config", None, f"expands to {total:,} values through repeated YAML aliases (&name / "
                                         f"*name), more than {MAX_CONFIG_VALUES:,}: write each block once")


#: The largest value of every integer setting, by its key in any block, and why: each bounds a loop, a job
#: count or an allocation, so that a typo (``cycles: 1000000000000``) fails here, not after hours or when
#: memory runs out. ``tests/test_config.py`` checks that the schema's maxima are these.
MAX_INTEGER = {
    "taxid": (2**31 - 1, "NCBI taxonomy ids are 32-bit"),
    "k": (1_000, "similar genes kept per gene; GEARS keeps 20"),
    "seed": (2**32 - 1, "numpy's legacy seeds, used by cell-gears"),
    "seeds": (2**32 - 1, "numpy's legacy seeds, used by cell-gears"),
    "split_seed": (2**32 - 1, "numpy's legacy seeds, used by cell-gears"),
    "cycles": (1_000, "jobs are planned per cycle"),
    "warmup_cycles": (1_000, "at most experiment.cycles"),
    "perturbations_per_cycle": (100_000, "more perturbations than any genome-wide screen"),
    "budget": (100_000, "more perturbations than any genome-wide screen"),
    "min_cells_per_condition": (10_000_000, "cells of one condition"),
    "max_cells_per_condition": (10_000_000, "cells of one condition"),
    "n_top_genes": (100_000, "more genes than a transcriptome"),
    "n_genes": (100_000, "more genes than a transcriptome"),
    "cells_per_perturbation": (100_000, "cells of one perturbation"),
    "control_cells": (1_000_000, "control cells of a screen"),
    "truth_cells": (100_000, "cells per condition of the truth estimate"),
    "programmes": (1_000, "latent programmes"),
    "genes_per_programme": (100_000, "more genes than a transcriptome"),
    "hops": (20, "receptive-field radius; GEARS uses 1"),
    "num_go_gnn_layers": (20, "GO-graph layers; GEARS uses 1"),
    "shortlist": (100_000, "candidates"),
    "controls": (100_000, "control cells"),
    "neighbours": (10_000, "neighbours per candidate"),
    "random_features": (100_000, "random features of ACS-FW; IterPert uses 512"),
    "inits": (100, "each adds a run of every strategy; the paper uses 5"),
    "epochs": (100_000, "training epochs"),
    "patience": (100_000, "training epochs"),
    "steps_per_epoch": (1_000_000, "steps per epoch"),
    "cells_per_step": (1_000_000, "cells per step"),
    "perturbations_per_step": (1_000_000, "perturbations per step"),
    "cells_per_prediction_step": (1_000_000, "cells per step"),
    "hidden_size": (4_096, "GEARS uses 64; the network's size grows with its square"),
    "coexpress_k": (10_000, "co-expressed genes kept per gene; GEARS keeps 20"),
    "threads": (1_024, "CPU threads of a job"),
    "gpus": (64, "GPUs of a job"),
}
#: Characters a dataset or design name may hold (the whole name: it names files and folders).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_names_and_numbers(config: Mapping) -> None:
    """One walk over every key and value of a configuration, before the schema and before any job.

    Every key must be printable (no newline, tab or other control character: names become file names);
    every number must be finite (the schema's ``minimum``/``maximum`` let NaN through, and ``.inf`` is a
    valid YAML float); every integer must be at most its key's :data:`MAX_INTEGER`.

    Raises
    ------
    InputError
        Source ``config``, field the key path (``experiment.seeds[1]`` for a list item), and the problem.
    """
    seen: set[int] = set()

    def walk(node, path: str, key: str | None) -> None:
        if isinstance(node, (Mapping, list, tuple)):
            if id(node) in seen:  # an aliased node is checked once
                return
            seen.add(id(node))
            if isinstance(node, Mapping):
                for name, child in node.items():
                    if not isinstance(name, str) or not name.isprintable() or not name.strip():
                        raise _bad(path or None, f"the key {name!r} is not a printable name (a newline, tab or "
                                                 "other control character, or blank): names become file names")
                    walk(child, f"{path}.{name}".lstrip("."), name)
            else:
                for i, child in enumerate(node):
                    walk(child, f"{path}[{i}]", key)
            return
        if isinstance(node, float) and not math.isfinite(node):
            raise _bad(path, f"must be a finite number, got {node!r}")
        if isinstance(node, int) and not isinstance(node, bool) and key in MAX_INTEGER:
            _at_most(node, path, key)

    walk(config, "", None)


def _at_most(value: int, field_path: str, key: str) -> None:
    maximum, why = MAX_INTEGER[key]
    if value > maximum:
        raise _bad(field_path, f"must be at most {maximum} (the maximum: {why}), got {value!r}")


def check_schema(config: Mapping, schema_path: str) -> None:
    """Validate ``config`` against the JSON schema at ``schema_path``, the most relevant error in one line
    (:func:`schema_error`). Snakemake's ``validate`` formats the whole block at fault into its message, even
    before printing it; it still runs afterwards, to fill in the schema's defaults.

    Raises
    ------
    InputError
        Source ``config``, field the key path at fault.
    """
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise schema_error(error)


def schema_error(error) -> InputError:
    """One line for a JSON-schema ``ValidationError``: the key path and the schema's message, cut short
    (the message can quote a whole block).

    Parameters
    ----------
    error : jsonschema.exceptions.ValidationError

    Returns
    -------
    InputError
        Source ``config``, field the dotted path of the value at fault (None at the top level).
    """
    path = ".".join(str(part) for part in error.absolute_path) or None
    message = " ".join(str(error.message).split())
    if len(message) > 300:
        message = message[:300] + " ..."
    return InputError("config", path, f"{message} (workflow/schemas/config.schema.yaml)")


def canonical_params(value):
    """``value`` with every mapping's keys sorted, recursively, as plain dicts and lists.

    Snakemake compares a rule's params by their ``repr``: a block passed as written would differ with the
    order of its keys, and rerun every job that reads it.

    Parameters
    ----------
    value : mapping, list, tuple or scalar

    Returns
    -------
    dict, list or the scalar unchanged
    """
    if isinstance(value, Mapping):
        return {key: canonical_params(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical_params(item) for item in value]
    return value


#: NCBI taxonomy id of human, the default species of the GO files.
HUMAN_TAXID = 9606


# --------------------------------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------------------------------

def _bad(field_path: str, problem: str) -> InputError:
    return InputError("config", field_path, problem)


def _integer(value, field_path: str, minimum: int | None = None, optional: bool = False):
    """Check an integer setting: its type, ``minimum`` and the maximum of its key (:data:`MAX_INTEGER`,
    looked up by the last part of ``field_path``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise _bad(field_path, f"must be an integer{bound}{' or null' if optional else ''}, got {value!r}")
    key = field_path.rsplit(".", 1)[-1]
    if key in MAX_INTEGER:
        _at_most(value, field_path, key)
    return value


def _number(value, field_path: str, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    """Check a real setting: finite (NaN passes every comparison, so the bounds alone would take it) and in
    the range ``low``..``high``, each end open or closed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(field_path, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _bad(field_path, f"must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise _bad(field_path, f"must lie in {left}{low if low is not None else '-inf'}, "
                               f"{high if high is not None else 'inf'}{right}, got {value!r}")
    return float(value)


def _choice(value, choices, field_path: str):
    if value not in choices:
        raise _bad(field_path, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _unknown_keys(block: Mapping, known: set, where: str) -> None:
    unknown = sorted(set(block) - known)
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")


def _field_names(cls) -> set:
    return {f.name for f in fields(cls) if f.init}


# --------------------------------------------------------------------------------------------------
# graph: GEARS's Jaccard GO graph
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphConfig:
    """How GEARS's GO graph is built (``gears/utils.py::make_GO``; the ``build_go_graph`` stage, ``design``
    and ``perturb-select graph`` all build it from this one object).

    Attributes
    ----------
    k : int
        Most similar other genes kept per gene (GEARS: ``num_similar_genes_go_graph=20``).
    threshold : float
        Jaccard similarities kept strictly above this, in [0, 1) (GEARS: 0.1).
    taxid : int
        NCBI taxonomy id of the annotations (``go.taxid``; 9606 human).
    evidence_codes, namespaces : tuple of str or None
        Keep only these gene2go evidence codes / GO namespaces (None: all, as GEARS's pickle).
    universe : str or None
        A gene list file restricting the graph's genes.
    """

    k: int = 20
    threshold: float = 0.1
    taxid: int = HUMAN_TAXID
    evidence_codes: tuple[str, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    universe: str | None = None

    def __post_init__(self):
        _integer(self.k, "graph.k", 1)
        _number(self.threshold, "graph.threshold", 0.0, 1.0, high_open=True)
        _integer(self.taxid, "go.taxid", 1)
        for name in ("evidence_codes", "namespaces"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(v, str) for v in value) or not value:
                    raise _bad(f"graph.{name}", f"must be a non-empty list of strings or null, got {value!r}")
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_config(cls, config: Mapping) -> "GraphConfig":
        """From the whole config: the ``graph:`` block and ``go.taxid``."""
        return cls.from_block(config.get("graph") or {}, (config.get("go") or {}).get("taxid"))

    @classmethod
    def from_block(cls, block: Mapping, taxid: int | None = None) -> "GraphConfig":
        """From the ``graph:`` block and the taxonomy id (``go.taxid``; None: the default)."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"taxid"}, "graph")
        return cls(**block, taxid=cls.taxid if taxid is None else taxid)

    def cache_params(self) -> dict:
        """The parameters a cached graph is keyed by (with the input files' content)."""
        return {"k": int(self.k), "threshold": float(self.threshold), "taxid": int(self.taxid),
                **({"evidence_codes": list(self.evidence_codes)} if self.evidence_codes else {}),
                **({"namespaces": list(self.namespaces)} if self.namespaces else {}),
                **({"universe": self.universe} if self.universe else {})}

    def record(self) -> dict:
        """The build parameters as written to ``go_jaccard.stats.json`` (``params``)."""
        return {"k": self.k, "threshold": self.threshold,
                "evidence_codes": list(self.evidence_codes) if self.evidence_codes is not None else None,
                "namespaces": list(self.namespaces) if self.namespaces is not None else None,
                "universe": self.universe}


#: Environment variable naming the graph cache folder (default ``$XDG_CACHE_HOME/perturb-select``).
GRAPH_CACHE_ENV = "PERTURB_SELECT_CACHE"
#: The GO files looked for in a GO directory, first match wins: the mirror's names (config/config.yaml
#: ``mirror_name``), then the names the pipeline fetches them under (``resources/go/``).
GO_FILE_NAMES = {
    "gene2go": ("gene2go_human.gz", "gene2go.gz"),
    "obo": ("go-basic.obo",),
    "gene_info": ("Homo_sapiens.gene_info.gz", "gene_info.gz"),
}


# --------------------------------------------------------------------------------------------------
# datasets: one screen
# --------------------------------------------------------------------------------------------------

DATASET_FORMATS = ("raw", "gears", "simulated")
#: The word every simulated dataset's name carries, so that every file and figure made from it says so.
SIMULATED_LABEL = "simulated"


SIMULATION_MECHANISMS = ("kernel", "receptive_field")
"""How a SIMULATED screen's effects depend on the graph (``screens.simulated``)."""


@dataclass(frozen=True)
class SimulationConfig:
    """The knobs of a SIMULATED screen (``datasets.<name>.simulation``; ``screens.simulated`` explains the
    model). Every field is recorded in the screen's truth file.

    Attributes
    ----------
    graph_signal : float in [0, 1]
        How much which perturbations have similar effects, and which have a strong phenotype, follows the
        GO graph (0: not at all).
    n_genes : int
        Readout genes: the candidates, then other graph nodes drawn at random (seeded) up to ``n_genes``.
    cells_per_perturbation, control_cells : int
    programmes, genes_per_programme : int
        Latent programmes and the genes each (and the shared response) moves.
    shared : float
        Weight of the response every perturbation shares (no graph information) against the programmes.
    strong_share : float in [0, 1]
        Share of perturbations with a strong phenotype, exactly ``round(strong_share x candidates)``
        (Replogle 2022 K562 essential: 1,092 of 2,057 targets pass GEARS's strong-perturbation filter, 53 %).
    strong_effect, weak_effect : float
        Amplitudes (natural-log fold change per unit of loading); calibrated on the Papalexi screen.
    knockdown : float in (0, 1]
        Expression fraction left to a measured target.
    beta : float
        Diffusion time of the GO kernel of the Gaussian process.
    truth_cells : int
        Cells per condition of the truth estimate (250: its Monte-Carlo variance is a fifth of that of the
        mean of a screen's 50 cells; with 1,000 a 1,500-gene screen took 152 s to draw, with 250 ~100 s).
    mechanism : {'kernel', 'receptive_field'}
        How the programme activations depend on the graph: ``kernel``, a Gaussian process on the GO
        diffusion kernel between the candidates; ``receptive_field``, GEARS's propagation of latent node
        vectors over each perturbation's receptive field (K = ``gears.num_go_gnn_layers``).
    replicate_screens : bool
        Every experiment seed draws its own screen (seeded by the dataset's seed and the experiment seed),
        so paired tests over seeds count screens, not only splits.
    """

    graph_signal: float = 0.9
    n_genes: int = 2000
    cells_per_perturbation: int = 100
    control_cells: int = 1000
    programmes: int = 10
    genes_per_programme: int = 100
    shared: float = 1.0
    strong_share: float = 0.53
    strong_effect: float = 1.0
    weak_effect: float = 0.1
    knockdown: float = 0.2
    beta: float = 8.0
    truth_cells: int = 250
    mechanism: str = "kernel"
    replicate_screens: bool = False

    def __post_init__(self):
        _choice(self.mechanism, SIMULATION_MECHANISMS, "simulation.mechanism")
        if not isinstance(self.replicate_screens, bool):
            raise _bad("simulation.replicate_screens", f"must be true or false, got {self.replicate_screens!r}")
        for name, low, high in (("graph_signal", 0.0, 1.0), ("strong_share", 0.0, 1.0)):
            _number(getattr(self, name), f"simulation.{name}", low, high)
        _number(self.knockdown, "simulation.knockdown", 0.0, 1.0, low_open=True)
        for name in ("n_genes", "cells_per_perturbation", "control_cells", "programmes", "genes_per_programme",
                     "truth_cells"):
            _integer(getattr(self, name), f"simulation.{name}", 2)
        for name in ("strong_effect", "weak_effect", "beta", "shared"):
            _number(getattr(self, name), f"simulation.{name}", 0.0, None)

    @classmethod
    def from_config(cls, block: Mapping | None, where: str = "simulation") -> "SimulationConfig":
        """From a ``simulation:`` block (integers accepted for floats), naming ``<where>.<key>`` in errors."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls), where)
        for f in fields(cls):
            value = block.get(f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                block[f.name] = float(value)
        try:
            return cls(**block)
        except InputError as err:  # name the dataset's block, not the bare key
            raise InputError("config", str(err.field).replace("simulation", where, 1), err.problem) from None


@dataclass(frozen=True)
class DatasetConfig:
    """One entry of ``datasets:``.

    Attributes
    ----------
    name : str
    format : {'raw', 'gears', 'simulated'}
        ``raw``: a raw-count screen processed here (``screens.raw``); ``gears``: GEARS's own
        ``perturb_processed.h5ad``, or an archive holding it (``screens.published``); ``simulated``: a
        SIMULATED raw-count screen drawn here (``screens.simulated``), then processed as ``raw``; its name
        must contain ``simulated``.
    url, mirror, mirror_name, sha256
        Where the file comes from (``knowledge.fetch.fetch_source``).
    archive_member : str
        ``format: gears``: the file taken from the archive.
    perturbations_per_cycle : int or None
        This dataset's perturbations per cycle (None: ``experiment.perturbations_per_cycle``).
    perturbation_key, control_label, cell_type
        Raw screens: the ``obs`` column of the targets, the label of control cells, the cell type.
    max_cells_per_condition, min_cells_per_condition, n_top_genes, seed
        Raw screens: cell cap per condition (seeded), minimum cells, optional HVG count; ``seed`` also
        seeds a simulated screen.
    candidates, reference, simulation
        Simulated screens: the candidate gene list (symbols, resolved to graph nodes), the real screen whose
        control cells (``control_label`` under ``perturbation_key``) give the control expression, and the
        :class:`SimulationConfig`.
    """

    name: str
    format: str = "raw"
    url: str | None = None
    mirror: str | None = None
    mirror_name: str | None = None
    sha256: str | None = None
    archive_member: str = "perturb_processed.h5ad"
    perturbations_per_cycle: int | None = None
    perturbation_key: str = "perturbation"
    control_label: str = "non-targeting"
    cell_type: str | None = None
    max_cells_per_condition: int | None = None
    min_cells_per_condition: int = 1
    n_top_genes: int | None = None
    seed: int = 0
    candidates: str | None = None
    reference: str | None = None
    simulation: SimulationConfig | None = None

    def __post_init__(self):
        where = f"datasets.{self.name}"
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):  # fullmatch: no trailing \n
            raise _bad("datasets", f"a dataset name is letters, digits, '_' and '-' (it names files), got {self.name!r}")
        _choice(self.format, DATASET_FORMATS, f"{where}.format")
        simulated = self.format == "simulated"
        if simulated:
            if SIMULATED_LABEL not in self.name:
                raise _bad(where, f"a simulated dataset's name must contain '{SIMULATED_LABEL}' (every file and "
                                  "figure made from it carries the name)")
            for key in ("candidates", "reference"):
                if not getattr(self, key):
                    raise _bad(f"{where}.{key}", "a simulated screen needs it")
            if self.simulation is None:
                object.__setattr__(self, "simulation", SimulationConfig())
            if not self.cell_type:
                object.__setattr__(self, "cell_type", SIMULATED_LABEL)
        else:
            for key in ("candidates", "reference", "simulation"):
                if getattr(self, key) is not None:
                    raise _bad(f"{where}.{key}", f"only a simulated dataset takes it (format is {self.format!r})")
        if self.format == "raw" and not self.cell_type:
            raise _bad(f"{where}.cell_type", "a raw-count screen needs its cell type")
        _integer(self.perturbations_per_cycle, f"{where}.perturbations_per_cycle", 1, optional=True)
        _integer(self.min_cells_per_condition, f"{where}.min_cells_per_condition", 1)
        _integer(self.max_cells_per_condition, f"{where}.max_cells_per_condition", 2, optional=True)
        _integer(self.n_top_genes, f"{where}.n_top_genes", 2, optional=True)
        _integer(self.seed, f"{where}.seed", 0)

    @classmethod
    def from_config(cls, name: str, block: Mapping) -> "DatasetConfig":
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"name"}, f"datasets.{name}")
        if "simulation" in block:
            block["simulation"] = SimulationConfig.from_config(block["simulation"], f"datasets.{name}.simulation")
        return cls(name=name, **block)

    @property
    def simulated(self) -> bool:
        return self.format == "simulated"

    def source(self) -> dict:
        """Keyword arguments of the fetch stage: url, mirror, mirror_name, sha256, archive_member
        (``None`` for a raw screen: the file is taken as it is; a simulated screen is not fetched)."""
        return {"url": self.url, "mirror": self.mirror, "mirror_name": self.mirror_name, "sha256": self.sha256,
                "archive_member": self.archive_member if self.format == "gears" else None}


# --------------------------------------------------------------------------------------------------
# experiment: seeds, split, cycles, strategies, stability
# --------------------------------------------------------------------------------------------------

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
    test_fraction: float = 0.1
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
        per_cycle = _integer(block["perturbations_per_cycle"], "experiment.perturbations_per_cycle", 1)
        test_fraction = _number(block.get("test_fraction", cls.test_fraction), "experiment.test_fraction",
                                0.0, 1.0, low_open=True, high_open=True)
        stability_block = dict(block.get("stability") or {})
        _unknown_keys(stability_block, _field_names(StabilityConfig), "experiment.stability")
        hops = TrainingConfig.from_config(config.get("gears") or {}).num_go_gnn_layers
        strategies = dict(block["strategies"] or {})
        if not strategies:
            raise _bad("experiment.strategies", "no strategy")
        params = {name: strategy_params(name, strategies[name], hops=hops, cycles=cycles) for name in strategies}
        return cls(seeds=tuple(int(s) for s in seeds), cycles=cycles, perturbations_per_cycle=per_cycle,
                   strategies=params, test_fraction=test_fraction, stability=StabilityConfig(**stability_block))

    def method(self, name: str) -> str:
        """The strategy that ``strategies[name]`` runs: ``name``, or a variant's ``variant_of``."""
        return self.strategies[name].get(VARIANT_KEY, name)

    def is_active(self, name: str) -> bool:
        """Whether ``strategies[name]`` picks cycle by cycle with a model (``strategies.ACTIVE``)."""
        return self.method(name) in ACTIVE

    def per_cycle(self, dataset: DatasetConfig | None = None) -> int:
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


# --------------------------------------------------------------------------------------------------
# design: one screen to design from a gene list
# --------------------------------------------------------------------------------------------------

#: The one-shot selectors a design can use (``perturb_select.selection``).
DESIGN_METHODS = ("graphreach", "maxspec", "facility")
#: Optional symbol files of a design entry.
DESIGN_LISTS = ("screened", "require", "exclude")


@dataclass(frozen=True)
class DesignConfig:
    """One entry of ``design:`` (the ``design_screen`` rule; ``perturb-select design`` takes the same).

    Attributes
    ----------
    name : str
    genes : str
        Candidate symbols or pairs ``A+B``, one per line.
    budget : int or None
        Perturbations to pick; or ``cycles`` and ``perturbations_per_cycle`` (budget = their product).
    screened, require, exclude : str or None
        Symbol files: already screened (their coverage is the start), picked first, never picked.
    method : {'graphreach', 'maxspec', 'facility'}
    weights : {'uniform', 'candidates'}
        GraphReach's node weights (``strategies.GRAPHREACH_WEIGHTS``; default ``'uniform'``, the selector's
        own default); other methods take only ``'uniform'`` (they weigh no nodes).
    tie_break : {'symbol', 'lookahead', 'seeded'}
        How GraphReach's and MaxSpec's equal gains are decided (``strategies.TIE_BREAKS``); facility takes
        only the default.
    operator : {'whole_graph', 'induced'}
        MaxSpec's operator (``strategies.MAXSPEC_OPERATORS``); other methods take only the default.
    hops : int or None
        Receptive-field radius K (None: ``gears.num_go_gnn_layers``, filled in by ``from_config``).
    seed : int
        Seed of the random-order baseline of the coverage plot, and of ``tie_break: seeded``.
    """

    name: str
    genes: str
    budget: int | None = None
    cycles: int | None = None
    perturbations_per_cycle: int | None = None
    screened: str | None = None
    require: str | None = None
    exclude: str | None = None
    method: str = "graphreach"
    weights: str = GRAPHREACH_WEIGHTS[0]
    tie_break: str = TIE_BREAKS[0]
    operator: str = MAXSPEC_OPERATORS[0]
    hops: int | None = None
    seed: int = 0

    def __post_init__(self):
        _choice(self.method, DESIGN_METHODS, f"design.{self.name}.method")
        _choice(self.weights, GRAPHREACH_WEIGHTS, f"design.{self.name}.weights")
        if self.method != "graphreach" and self.weights != GRAPHREACH_WEIGHTS[0]:
            raise _bad(f"design.{self.name}.weights",
                       f"only method graphreach weighs nodes; method {self.method} takes no weights {self.weights!r}")
        _choice(self.tie_break, TIE_BREAKS, f"design.{self.name}.tie_break")
        _choice(self.operator, MAXSPEC_OPERATORS, f"design.{self.name}.operator")
        if self.method == "facility" and self.tie_break != TIE_BREAKS[0]:
            raise _bad(f"design.{self.name}.tie_break", "method facility takes no tie rule")
        if self.method != "maxspec" and self.operator != MAXSPEC_OPERATORS[0]:
            raise _bad(f"design.{self.name}.operator", f"only method maxspec takes an operator, not {self.method}")
        for name, minimum in (("hops", 0), ("budget", 1), ("cycles", 1), ("perturbations_per_cycle", 1)):
            _integer(getattr(self, name), f"design.{self.name}.{name}", minimum, optional=True)
        _integer(self.seed, f"design.{self.name}.seed", 0)

    @classmethod
    def from_config(cls, name: str, block: Mapping, *, default_hops: int) -> "DesignConfig":
        """From one ``design:`` entry; ``hops`` defaults to ``default_hops`` (``gears.num_go_gnn_layers``)."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"name"}, f"design.{name}")
        if block.get("hops") is None:
            block["hops"] = int(default_hops)
        return cls(name=name, **block)

    def lists(self) -> dict:
        """The optional symbol files that are set, ``{'screened': path, ...}``."""
        return {key: getattr(self, key) for key in DESIGN_LISTS if getattr(self, key)}


# --------------------------------------------------------------------------------------------------
# gears: GEARS training
# --------------------------------------------------------------------------------------------------

#: The GEARS trainers (``perturb_select.gears.TRAINERS`` implements them) and those that score the pool for
#: the active strategies: ``perturbations`` (mini-batches of perturbations, one network row each), ``cells``
#: (GEARS's mini-batches of cells) and ``cell-gears`` (cell-gears's own ``GEARS.train``, the reference).
GEARS_TRAINERS = ("perturbations", "cells", "cell-gears")
POOL_SCORING_TRAINERS = ("perturbations", "cells")
#: ``gears.trainer: none``: GEARS is not trained; every run's baselines are scored on its picks and split
#: all the same (rule score_baselines, ``stages.baselines``), and no active strategy can run.
NO_TRAINER = "none"
#: Every value of ``gears.trainer`` (the schema's enum lists the same).
TRAINERS = GEARS_TRAINERS + (NO_TRAINER,)
#: Trainer names of earlier releases -> their name now.
RENAMED_TRAINERS = RENAMED_VALUES["gears.trainer"]
DEVICES = ("auto", "cpu", "cuda")
#: GEARS's own schedule (cell-gears 0.1.2 ``GEARS.train`` and ``PertData.get_dataloader``): what the
#: ``cell-gears`` trainer runs, and the ``cells`` trainer's schedule when it reproduces GEARS.
GEARS_SCHEDULE = {"epochs": 20, "lr": 1e-3, "lr_decay": 0.5, "cells_per_step": 32}
#: Settings ``GEARS.train`` (cell-gears 0.1.2) cannot take, at GEARS's values: the ``cell-gears`` trainer
#: is refused any other value.
GEARS_FIXED = {"lr_decay": GEARS_SCHEDULE["lr_decay"], "direction_lambda": 0.1, "coexpress_k": 20,
               "coexpress_threshold": 0.4, "uncertainty": False, "patience": None}


@dataclass(frozen=True)
class TrainingConfig:
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
        The trainer (``perturb_select.gears.TRAINERS``): ``perturbations`` (``gears.perturbations``: each
        step evaluates the network once per perturbation and scores all of its cells), ``cells`` (GEARS's
        mini-batches of cells, ``gears.batched``) or cell-gears's own ``PertData``/``GEARS.train`` (the
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

    trainer: str = "perturbations"
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
    num_go_gnn_layers: int = 1
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
        for name, low in (("epochs", 1), ("cells_per_step", 2), ("cells_per_prediction_step", 1),
                          ("hidden_size", 1), ("num_go_gnn_layers", 1), ("coexpress_k", 1), ("threads", 1),
                          ("gpus", 0), ("perturbations_per_step", 2)):
            _integer(getattr(self, name), f"gears.{name}", low)
        for name in ("patience", "cells_per_perturbation", "steps_per_epoch"):
            _integer(getattr(self, name), f"gears.{name}", 1, optional=True)
        for name, low, high, low_open, high_open in (
                ("lr", 0.0, None, True, False), ("weight_decay", 0.0, None, False, False),
                ("lr_decay", 0.0, 1.0, True, False), ("direction_lambda", 0.0, None, False, False),
                ("uncertainty_reg", 0.0, None, False, False), ("coexpress_threshold", 0.0, 1.0, False, False),
                ("val_fraction", 0.0, 1.0, True, True)):
            _number(getattr(self, name), f"gears.{name}", low, high, low_open, high_open)
        for name in ("uncertainty", "eval_train", "use_subgraph"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(f"gears.{name}", f"must be true or false, got {getattr(self, name)!r}")
        if self.trainer == "cell-gears":
            for name, value in GEARS_FIXED.items():
                if getattr(self, name) != value:
                    raise _bad(f"gears.{name}", (
                        f"the cell-gears trainer runs GEARS.train as it is: set gears.{name}: {json.dumps(value)} "
                        f"(GEARS's value, not {json.dumps(getattr(self, name))}), or gears.trainer: perturbations "
                        f"or cells to change it"))

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


# --------------------------------------------------------------------------------------------------
# The whole configuration
# --------------------------------------------------------------------------------------------------

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

    def per_cycle(self, dataset: str) -> int:
        """Perturbations per cycle of ``dataset`` (its own value, else the experiment's)."""
        return self.experiment.per_cycle(self.datasets[dataset])


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
        raise InputError("config", f"experiment.strategies.{active[0]}",
                         f"an active strategy selects from GEARS's predictions of the pool, and gears.trainer: "
                         f"{NO_TRAINER} trains no GEARS: remove "
                         f"{', '.join(f'experiment.strategies.{name}' for name in active)}, or set gears.trainer "
                         f"to {' or '.join(POOL_SCORING_TRAINERS)}")
    if active and training.trainer not in POOL_SCORING_TRAINERS:
        raise InputError("config", "gears.trainer",
                         f"the active strategies {active} need a trainer that scores the pool "
                         f"({', '.join(POOL_SCORING_TRAINERS)}), got {training.trainer!r}")
    datasets = {name: DatasetConfig.from_config(name, block) for name, block in (config.get("datasets") or {}).items()}
    if not datasets:
        raise InputError("config", "datasets", "no dataset")
    designs = {name: DesignConfig.from_config(name, block, default_hops=training.num_go_gnn_layers)
               for name, block in (config.get("design") or {}).items()}
    return Config(graph=GraphConfig.from_config(config), datasets=datasets, experiment=experiment,
                  training=training, designs=designs)
