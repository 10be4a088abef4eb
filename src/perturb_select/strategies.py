"""The strategies of an experiment: which are one-shot, which are active, their parameters and checks.

One-shot strategies (``random``, ``graphreach``, ``maxspec``; ``selection.STRATEGIES``) rank the whole
pool once, up front; cycle ``c`` trains on the first ``c * batch_size`` of the ranking. Active strategies
pick cycle by cycle (Huang et al. 2024, IterPert; Panagopoulos et al. 2025): cycle 1 is a seeded random
batch, cycle ``c >= 2`` is chosen by the model trained in cycle ``c - 1`` from the pool left.

Active strategies and their parameters (defaults and their sources):

* ``uncertainty``: GEARS with its uncertainty head; picks the pool perturbations with the smallest
  ``exp(-mean log-variance)`` (``active.uncertainty_batch``). ``uncertainty_reg`` (GEARS's default 1).
* ``typiclust``: TypiClust on the model's predicted expression (``active.typiclust_batch``).
  ``neighbours`` (K of the typicality; Hacohen et al. 2022 and IterPert: 20).
* ``acsfw``: ACS-FW through bmdal-reg (``active.acsfw_batch``). ``random_features`` (512) and ``sigma``
  (0.1): IterPert's ``('acs-rf', [512, 0.1, None])``.
* ``hybrid``: GraphReach (``hops``, default K = ``gears.num_go_gnn_layers``) for the first
  ``warmup_cycles`` (2) cycles, then the active strategy ``then`` (``typiclust``) with its parameters.

Every active strategy also takes ``controls``: the control cells of the fixed, seeded sample the model
predicts each pool perturbation from (``GEARS.predict``: 300).

The run of an experiment is ``(split seed, initialisation seed)``: the main runs use the same seed for
both (``seed{s}`` in file paths); the stability analysis adds runs on one split with other
initialisation seeds (``seed{s}-{i}``).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Mapping

from .io import InputError

ONE_SHOT = ("random", "graphreach", "maxspec")
ACTIVE_METHODS = ("uncertainty", "typiclust", "acsfw")
ACTIVE = ACTIVE_METHODS + ("hybrid",)
ALL = ONE_SHOT + ACTIVE

ACTIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "uncertainty": {"controls": 300, "uncertainty_reg": 1.0},
    "typiclust": {"controls": 300, "neighbours": 20},
    "acsfw": {"controls": 300, "random_features": 512, "sigma": 0.1},
}
HYBRID_DEFAULTS: dict[str, Any] = {"warmup_cycles": 2, "then": "typiclust"}

_RUN = re.compile(r"^(\d+)(?:-(\d+))?$")


def is_active(strategy: str) -> bool:
    return strategy in ACTIVE


def run_seeds(run: str) -> tuple[int, int]:
    """``'3'`` -> (3, 3); ``'3-7'`` -> (3, 7): the split seed and the initialisation seed of a run label."""
    match = _RUN.match(str(run))
    if not match:
        raise ValueError(f"run label {run!r} is not 'SEED' or 'SPLIT-INIT'")
    split = int(match.group(1))
    return split, int(match.group(2)) if match.group(2) is not None else split


def run_label(split_seed: int, init_seed: int) -> str:
    """Inverse of ``run_seeds``: the main run of a seed is plain ``'{seed}'``."""
    return str(split_seed) if int(split_seed) == int(init_seed) else f"{split_seed}-{init_seed}"


def active_params(strategy: str, block: Mapping | None, *, hops: int, cycles: int) -> dict:
    """The full parameters of an active strategy: its config block over the documented defaults.

    Parameters
    ----------
    strategy : str
        One of ``ACTIVE``.
    block : mapping or None
        ``experiment.strategies.<strategy>`` of the config.
    hops : int
        Default K of hybrid's GraphReach warm-up (``gears.num_go_gnn_layers``).
    cycles : int
        ``experiment.cycles``.

    Returns
    -------
    dict
        Always holds ``method`` (the active method that scores the pool: ``then`` for hybrid) and
        ``controls``; hybrid adds ``warmup_cycles``, ``then`` and ``hops``.

    Raises
    ------
    InputError
        (source ``config``, field ``experiment.strategies.<strategy>[.<key>]``) an unknown parameter, a
        value of the wrong type or range, ``warmup_cycles >= cycles``, or fewer than 2 cycles (an active
        strategy needs a trained model to pick with).
    """
    where = f"experiment.strategies.{strategy}"
    block = dict(block or {})
    if strategy not in ACTIVE:
        raise InputError("config", where, f"not an active strategy (active: {list(ACTIVE)})")
    if int(cycles) < 2:
        raise InputError("config", "experiment.cycles",
                         f"the active strategy '{strategy}' needs at least 2 cycles (cycle 1 is a random batch; "
                         f"later cycles are picked by the model of the cycle before), got {cycles}")
    params: dict[str, Any] = {}
    method = strategy
    if strategy == "hybrid":
        params.update(HYBRID_DEFAULTS, hops=int(hops))
        for key in ("warmup_cycles", "then", "hops"):
            if key in block:
                params[key] = block.pop(key)
        method = params["then"]
        if method not in ACTIVE_METHODS:
            raise InputError("config", f"{where}.then", f"must be one of {list(ACTIVE_METHODS)}, got {method!r}")
        _check_int(params["hops"], f"{where}.hops", minimum=0)
        _check_int(params["warmup_cycles"], f"{where}.warmup_cycles", minimum=1)
        if params["warmup_cycles"] >= int(cycles):
            raise InputError("config", f"{where}.warmup_cycles",
                             f"{params['warmup_cycles']} warm-up cycles leave no cycle of {cycles} "
                             "(experiment.cycles) to the active strategy")
    defaults = ACTIVE_DEFAULTS[method]
    unknown = sorted(set(block) - set(defaults))
    if unknown:
        accepted = sorted(set(defaults) | (set(HYBRID_DEFAULTS) | {"hops"} if strategy == "hybrid" else set()))
        raise InputError("config", f"{where}.{unknown[0]}",
                         f"not a parameter of strategy '{strategy}' (it takes: {accepted})")
    params.update(defaults)
    params.update(block)
    params["method"] = method
    _check_int(params["controls"], f"{where}.controls", minimum=1)
    if "neighbours" in params:
        _check_int(params["neighbours"], f"{where}.neighbours", minimum=1)
    if "random_features" in params:
        _check_int(params["random_features"], f"{where}.random_features", minimum=1)
    for key in ("sigma", "uncertainty_reg"):
        if key in params:
            value = params[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError("config", f"{where}.{key}", f"must be a number > 0, got {value!r}")
            params[key] = float(value)
    return params


def validate_strategies(experiment: Mapping, hops: int) -> dict[str, dict]:
    """Check every strategy block of ``experiment`` before any job runs; return each strategy's params.

    One-shot blocks are checked against their selector's keyword arguments (``selection.select``), active
    blocks with ``active_params``.

    Raises
    ------
    InputError
        Naming ``experiment.strategies.<name>[.<key>]`` (or ``experiment.cycles``).
    """
    from .selection import STRATEGIES

    out = {}
    for name, block in dict(experiment["strategies"]).items():
        if name in ACTIVE:
            out[name] = active_params(name, block, hops=hops, cycles=int(experiment["cycles"]))
            continue
        if name not in STRATEGIES:
            raise InputError("config", f"experiment.strategies.{name}", f"unknown strategy; known: {list(ALL)}")
        accepted = {p for p, spec in inspect.signature(STRATEGIES[name]).parameters.items()
                    if spec.kind is inspect.Parameter.KEYWORD_ONLY} - {"seed", "source"}
        for key in dict(block or {}):
            if key not in accepted:
                raise InputError("config", f"experiment.strategies.{name}.{key}",
                                 f"not a parameter of strategy '{name}' (it takes: {sorted(accepted)})")
        out[name] = dict(block or {})
    return out


def _check_int(value, field: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError("config", field, f"must be an integer >= {minimum}, got {value!r}")
