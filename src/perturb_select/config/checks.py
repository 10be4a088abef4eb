"""Checks of a configuration before its blocks are typed, and the checks every block shares.

Before the JSON schema (:func:`check_before_schema`): no configuration, an alias bomb, renamed keys and values
(``RENAMED_KEYS``, ``RENAMED_VALUES``), keys with control characters, NaN or infinite numbers and integers
above their maximum (``MAX_INTEGER``). Then the schema in one line (:func:`check_schema`). The helpers
``_integer``, ``_number``, ``_choice`` and ``_unknown_keys`` check one setting of a block and name its key in
an ``InputError`` (source ``config``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, fields
from typing import Any, ClassVar, Mapping

from ..io import InputError

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
        raise InputError(
            "config",
            None,
            "no configuration: pass --configfile FILE (in the repository, "
            "profiles/default makes config/config.yaml the default)",
        )
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
            blocks = [
                ((*path, name), child)
                for path, node in blocks
                if isinstance(node, Mapping)
                for name, child in (node.items() if part == "*" else [(part, node.get(part))])
            ]
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
        return (
            f"{value!r} was renamed {new!r} (GEARS's mini-batches of cells); 'perturbations' trains one "
            "network row per perturbation"
        )
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
        raise InputError(
            "config",
            None,
            f"expands to {total:,} values through repeated YAML aliases (&name / "
            f"*name), more than {MAX_CONFIG_VALUES:,}: write each block once",
        )


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
                        raise _bad(
                            path or None,
                            f"the key {name!r} is not a printable name (a newline, tab or "
                            "other control character, or blank): names become file names",
                        )
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


class JobBlock:
    """The one way a typed block travels from the Snakefile to a job: :meth:`to_params` (every field, filled in
    once by ``from_config``; keys sorted, :func:`canonical_params`) as the rule's param, :meth:`from_params` in
    the job. ``from_params`` fills in no default: its keys must be exactly the block's fields, so the schema's
    and the dataclass's defaults are applied once, when the config is loaded, never again in a job.

    A subclass names its nested blocks in ``NESTED`` (field -> block class).
    """

    NESTED: ClassVar[dict] = {}

    def to_params(self) -> dict:
        """Every field as plain dicts, lists and scalars, keys sorted (a rule's param).

        Returns
        -------
        dict
            ``{field: value}``; nested blocks as dicts, tuples as lists.
        """
        return canonical_params(asdict(self))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]):
        """The block again from :meth:`to_params` (nested blocks too), checked by its ``__post_init__``.

        Raises
        ------
        TypeError
            ``params`` are not exactly the block's fields: a rule out of step with the block (not user input;
            a user's config is checked by ``from_config`` before any job).
        """
        names = _field_names(cls)
        missing, unknown = sorted(names - set(params)), sorted(set(params) - names)
        if missing or unknown:
            raise TypeError(
                f"{cls.__name__}.from_params takes every field of the block, as to_params writes them: "
                f"missing {missing}, unknown {unknown}"
            )
        values = dict(params)
        for name, nested in cls.NESTED.items():
            if values[name] is not None:
                values[name] = nested.from_params(values[name])
        return cls(**values)


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


def _number(
    value,
    field_path: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
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
        raise _bad(
            field_path,
            f"must lie in {left}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}{right}, got {value!r}",
        )
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
