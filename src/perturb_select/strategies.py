"""The strategies of an experiment: which are one-shot, which are active, their parameters and checks.

One-shot strategies (``random``, ``graphreach``, ``maxspec``, ``facility``; ``selection.registry.SELECTORS``)
rank the whole pool once, up front, from the graph and the candidate list alone; cycle ``c`` trains on the
first ``c * perturbations_per_cycle`` of the ranking. Active strategies pick cycle by cycle (Huang et al.
2024, IterPert; Panagopoulos et al. 2025): cycle 1 is a seeded random batch, cycle ``c >= 2`` is chosen by the
model trained in cycle ``c - 1`` from the pool left.

Active strategies and their parameters (defaults and their sources):

* ``uncertainty``: GEARS with its uncertainty head; picks the pool perturbations with the smallest
  ``exp(-mean log-variance)`` (``active.rules.uncertainty_batch``). ``uncertainty_reg`` (GEARS's default 1).
* ``typiclust``: TypiClust on the model's predicted expression (``active.rules.typiclust_batch``).
  ``neighbours`` (K of the typicality; Hacohen et al. 2022 and IterPert: 20).
* ``acsfw``: ACS-FW through bmdal-reg (``active.rules.acsfw_batch``). ``random_features`` (512) and ``sigma``
  (0.1): IterPert's ``('acs-rf', [512, 0.1, None])``.
* ``hybrid``: GraphReach (``hops``, default K = ``gears.num_go_gnn_layers``) for the first
  ``warmup_cycles`` (2) cycles, then the active strategy ``then`` (``typiclust``) with its parameters.

A strategy of any other name is a **variant**: its block names the strategy it runs (``variant_of:
graphreach``) and that strategy's parameters, so two settings of one selector run side by side under their
own names (e.g. ``graphreach_weighted: {variant_of: graphreach, weights: candidates}``). Variant names are
lower-case words (``[a-z][a-z0-9_]*``); ``random`` stays the name of the reference every report compares with.

Every active strategy also takes ``controls``: the control cells of the fixed, seeded sample the model
predicts each pool perturbation from (``GEARS.predict``: 300).

The defaults here are the single home of the strategies' parameters (the rules in ``active.rules`` and
``config.TrainingConfig`` take theirs from here). This module imports nothing but ``io``: the typed config
(``config.ExperimentConfig``) and the Snakefile read it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .io import InputError

ONE_SHOT = ("random", "graphreach", "maxspec", "facility")
#: Keyword parameters a one-shot block may set (``selection.registry.select`` passes them on; tested
#: against the selectors' signatures). Their defaults are the selectors' keyword defaults.
ONE_SHOT_PARAMETERS = {
    "random": (),
    "graphreach": ("hops", "lazy", "weights", "tie_break"),
    "maxspec": ("hops", "direction", "shortlist", "operator", "tie_break"),
    "facility": ("hops", "lazy"),
}
#: GraphReach's node weights (``selection.graphreach``), the default first: ``uniform`` (every node counts
#: 1, the paper's GraphReach) or ``candidates`` (a node counts the candidates whose receptive field holds it).
GRAPHREACH_WEIGHTS = ("uniform", "candidates")
#: How GraphReach's and MaxSpec's equal gains are decided (``selection.base.tie_priority``), the default first:
#: ``lookahead`` (the most new nodes one hop further, then symbol), ``symbol`` (the order before issue 25),
#: ``seeded`` (an order drawn from the experiment seed). Why lookahead: docs/maxspec.md, "Ties".
TIE_BREAKS = ("lookahead", "symbol", "seeded")
#: MaxSpec's operator over the reached nodes (``selection.maxspec``), the default first: ``whole_graph`` (the
#: principal submatrix of GEARS's operator normalised by the whole graph's degrees) or ``induced`` (the
#: subgraph induced by the reached nodes, normalised by its own degrees, as the paper words it).
MAXSPEC_OPERATORS = ("whole_graph", "induced")
#: MaxSpec's direction (``selection.maxspec``), the default first.
MAXSPEC_DIRECTIONS = ("maximize", "minimize")
#: The one-shot selectors' options: option -> (its values, the default first; the methods that take it). A
#: method not listed takes only the default. :func:`selector_option_problem` is the one check of them, used by
#: the strategy blocks, the design entries and command line, the design library and the selectors.
SELECTOR_OPTIONS = {
    "weights": (GRAPHREACH_WEIGHTS, ("graphreach",)),
    "tie_break": (TIE_BREAKS, ("graphreach", "maxspec")),
    "operator": (MAXSPEC_OPERATORS, ("maxspec",)),
    "direction": (MAXSPEC_DIRECTIONS, ("maxspec",)),
}
ACTIVE_METHODS = ("uncertainty", "typiclust", "acsfw")
ACTIVE = ACTIVE_METHODS + ("hybrid",)
ALL = ONE_SHOT + ACTIVE

#: Control cells of the fixed, seeded sample a model predicts each pool perturbation from (``GEARS.predict``).
SCORING_CONTROLS = 300
#: Weight of the uncertainty head's loss term (GEARS's ``uncertainty_reg``; also ``gears.uncertainty_reg``).
UNCERTAINTY_REG = 1.0
#: K of TypiClust's typicality (Hacohen et al. 2022; IterPert: 20).
TYPICLUST_NEIGHBOURS = 20
#: ACS-FW's random features and GP noise standard deviation (IterPert's ``('acs-rf', [512, 0.1, None])``).
ACS_RANDOM_FEATURES = 512
ACS_SIGMA = 0.1
#: Every active method's parameters and their defaults.
ACTIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "uncertainty": {"controls": SCORING_CONTROLS, "uncertainty_reg": UNCERTAINTY_REG},
    "typiclust": {"controls": SCORING_CONTROLS, "neighbours": TYPICLUST_NEIGHBOURS},
    "acsfw": {"controls": SCORING_CONTROLS, "random_features": ACS_RANDOM_FEATURES, "sigma": ACS_SIGMA},
}
HYBRID_DEFAULTS: dict[str, Any] = {"warmup_cycles": 2, "then": "typiclust", "tie_break": TIE_BREAKS[0]}

#: The key of a variant's block naming the strategy it runs (``strategy_method``).
VARIANT_KEY = "variant_of"
_VARIANT_NAME = re.compile(r"[a-z][a-z0-9_]*")


def strategy_method(name: str, block: Mapping | None) -> str:
    """The strategy that ``experiment.strategies.<name>`` runs: ``name`` itself, or a variant's ``variant_of``.

    Parameters
    ----------
    name : str
        A key of ``experiment.strategies``.
    block : mapping or None
        Its block.

    Returns
    -------
    str
        One of ``ALL``.

    Raises
    ------
    InputError
        (source ``config``) an unknown name without ``variant_of``, a ``variant_of`` that is not a strategy of
        ``ALL``, a known strategy's name used for another strategy, or a variant name that is not a lower-case
        word (it names files and wildcards).
    """
    where = f"experiment.strategies.{name}"
    block = block or {}
    if not isinstance(block, Mapping):
        raise InputError("config", where, f"must be a mapping of the strategy's parameters, got {block!r}")
    if VARIANT_KEY not in block:
        if name not in ALL:
            raise InputError(
                "config",
                where,
                f"unknown strategy; known: {list(ALL)} (a variant of one of them names it: {VARIANT_KEY}: graphreach)",
            )
        return name
    method = block[VARIANT_KEY]
    if not isinstance(method, str) or method not in ALL:
        raise InputError("config", f"{where}.{VARIANT_KEY}", f"must be one of {list(ALL)}, got {method!r}")
    if name in ALL and name != method:
        raise InputError(
            "config",
            f"{where}.{VARIANT_KEY}",
            f"'{name}' is the name of a strategy; a variant of '{method}' needs a name of its own",
        )
    if not _VARIANT_NAME.fullmatch(name):
        raise InputError(
            "config",
            where,
            "a variant's name must be a lower-case word ([a-z][a-z0-9_]*): it names files and wildcards",
        )
    return method


def active_params(strategy: str, block: Mapping | None, *, hops: int, cycles: int, name: str | None = None) -> dict:
    """The full parameters of an active strategy: its config block over the documented defaults.

    Parameters
    ----------
    strategy : str
        One of ``ACTIVE``.
    block : mapping or None
        ``experiment.strategies.<name>`` of the config (without ``variant_of``).
    hops : int
        Default K of hybrid's GraphReach warm-up (``gears.num_go_gnn_layers``).
    cycles : int
        ``experiment.cycles``.
    name : str, optional
        The block's name in the config, for messages (default ``strategy``; a variant's own name).

    Returns
    -------
    dict
        Always holds ``method`` (the active method that scores the pool: ``then`` for hybrid) and
        ``controls``; hybrid adds ``warmup_cycles``, ``then``, ``hops`` and ``tie_break`` (its GraphReach's).

    Raises
    ------
    InputError
        (source ``config``, field ``experiment.strategies.<strategy>[.<key>]``) an unknown parameter, a
        value of the wrong type or range, ``warmup_cycles >= cycles``, or fewer than 2 cycles (an active
        strategy needs a trained model to pick with).
    """
    where = f"experiment.strategies.{name or strategy}"
    block = dict(block or {})
    if strategy not in ACTIVE:
        raise InputError("config", where, f"not an active strategy (active: {list(ACTIVE)})")
    if int(cycles) < 2:
        raise InputError(
            "config",
            "experiment.cycles",
            f"the active strategy '{strategy}' needs at least 2 cycles (cycle 1 is a random batch; "
            f"later cycles are picked by the model of the cycle before), got {cycles}",
        )
    params: dict[str, Any] = {}
    method = strategy
    if strategy == "hybrid":
        params.update(HYBRID_DEFAULTS, hops=int(hops))
        for key in ("warmup_cycles", "then", "hops", "tie_break"):
            if key in block:
                params[key] = block.pop(key)
        method = params["then"]
        if method not in ACTIVE_METHODS:
            raise InputError("config", f"{where}.then", f"must be one of {list(ACTIVE_METHODS)}, got {method!r}")
        _check_int(params["hops"], f"{where}.hops", minimum=0)
        _check_int(params["warmup_cycles"], f"{where}.warmup_cycles", minimum=1)
        problem = selector_option_problem("tie_break", params["tie_break"], "graphreach")  # the warm-up's
        if problem:
            raise InputError("config", f"{where}.tie_break", problem)
        if params["warmup_cycles"] >= int(cycles):
            raise InputError(
                "config",
                f"{where}.warmup_cycles",
                f"{params['warmup_cycles']} warm-up cycles leave no cycle of {cycles} "
                "(experiment.cycles) to the active strategy",
            )
    defaults = ACTIVE_DEFAULTS[method]
    unknown = sorted(set(block) - set(defaults))
    if unknown:
        accepted = sorted(set(defaults) | (set(HYBRID_DEFAULTS) | {"hops"} if strategy == "hybrid" else set()))
        raise InputError(
            "config", f"{where}.{unknown[0]}", f"not a parameter of strategy '{strategy}' (it takes: {accepted})"
        )
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


def strategy_params(strategy: str, block: Mapping | None, *, hops: int, cycles: int) -> dict:
    """The parameters of any strategy: what reaches its rules (``experiment.strategies.<strategy>``).

    One-shot blocks are kept as written (the selector's own keyword defaults apply, ``selection.registry``),
    with ``hops`` filled in for the graph selectors and their values checked (``check_one_shot_params``);
    active blocks go through :func:`active_params`. A variant keeps its ``variant_of`` (the rules run that
    strategy); a strategy under its own name gets no such key, so its rules' parameters stay as they were.

    Raises
    ------
    InputError
        An unknown strategy, or a parameter the strategy does not take or a value out of its range (naming
        ``experiment.strategies.<strategy>[.<key>]``).
    """
    method = strategy_method(strategy, block)
    block = dict(block or {})
    variant = {VARIANT_KEY: block.pop(VARIANT_KEY)} if VARIANT_KEY in block else {}
    if method in ACTIVE:
        return {**active_params(method, block, hops=hops, cycles=cycles, name=strategy), **variant}
    params = block
    where = f"experiment.strategies.{strategy}"
    unknown = sorted(set(params) - set(ONE_SHOT_PARAMETERS[method]))
    if unknown:
        raise InputError(
            "config",
            f"{where}.{unknown[0]}",
            f"not a parameter of strategy '{method}' (it takes: {list(ONE_SHOT_PARAMETERS[method])})",
        )
    if "hops" in ONE_SHOT_PARAMETERS[method]:
        # K = GEARS's number of GO-graph SGC layers unless the strategy block says otherwise.
        params.setdefault("hops", int(hops))
    if "tie_break" in ONE_SHOT_PARAMETERS[method]:
        # written out, so that a change of the default reruns the jobs it changes
        params.setdefault("tie_break", TIE_BREAKS[0])
    check_one_shot_params(params, where)
    return {**params, **variant}


def selector_option_problem(option: str, value, method: str | None = None) -> str | None:
    """Why ``value`` is not a valid ``option`` of selector ``method`` (:data:`SELECTOR_OPTIONS`), or None.

    Parameters
    ----------
    option : {'weights', 'tie_break', 'operator', 'direction'}
    value : object
        The value given.
    method : str, optional
        The selector (``'graphreach'``, ``'maxspec'``, ``'facility'``); None checks the value alone.

    Returns
    -------
    str or None
        The problem in words (callers name the file and field), None when the value is valid.
    """
    values, methods = SELECTOR_OPTIONS[option]
    if not isinstance(value, str) or value not in values:
        return f"must be one of {', '.join(values)}, got {value!r}"
    if method is not None and method not in methods and value != values[0]:
        takers = f"{' and '.join(methods)} take{'s' if len(methods) == 1 else ''}"
        return f"only {takers} {option}; {method} takes no {option} {value!r}"
    return None


def check_one_shot_params(params: Mapping, where: str) -> None:
    """Check the values of a one-shot block (the schema checks the strategies under their own names; a variant's
    block is checked only here).

    Raises
    ------
    InputError
        (source ``config``, field ``<where>.<key>``) a value of the wrong type or out of range.
    """
    for key, value in params.items():
        if key == "hops":
            _check_int(value, f"{where}.hops", minimum=0)
        elif key == "shortlist":
            if value is not None:
                _check_int(value, f"{where}.shortlist", minimum=1)
        elif key == "lazy":
            if not isinstance(value, bool):
                raise InputError("config", f"{where}.lazy", f"must be true or false, got {value!r}")
        elif key in SELECTOR_OPTIONS:
            problem = selector_option_problem(key, value)
            if problem:
                raise InputError("config", f"{where}.{key}", problem)


def _check_int(value, field: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError("config", field, f"must be an integer >= {minimum}, got {value!r}")
