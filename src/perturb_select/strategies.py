"""The strategies of an experiment: which are one-shot, which are active, their parameters and checks.

One-shot strategies (``random``, ``graphreach``, ``maxspec``, ``facility``; ``selection.registry.SELECTORS``)
rank the whole pool once, up front, from the graph and the candidate list alone; cycle ``c`` trains on the
first ``c * per_cycle`` of the ranking. Active strategies pick cycle by cycle (Huang et al. 2024, IterPert;
Panagopoulos et al. 2025): cycle 1 is a seeded random batch, cycle ``c >= 2`` is chosen by the model trained
in cycle ``c - 1`` from the pool left.

Active strategies and their parameters (defaults and their sources):

* ``uncertainty``: GEARS with its uncertainty head; picks the pool perturbations with the smallest
  ``exp(-mean log-variance)`` (``active.rules.uncertainty_batch``). ``uncertainty_reg`` (GEARS's default 1).
* ``typiclust``: TypiClust on the model's predicted expression (``active.rules.typiclust_batch``).
  ``neighbours`` (K of the typicality; Hacohen et al. 2022 and IterPert: 20).
* ``acsfw``: ACS-FW through bmdal-reg (``active.rules.acsfw_batch``). ``random_features`` (512) and ``sigma``
  (0.1): IterPert's ``('acs-rf', [512, 0.1, None])``.
* ``hybrid``: GraphReach (``hops``, default K = ``gears.num_go_gnn_layers``) for the first
  ``warmup_cycles`` (2) cycles, then the active strategy ``then`` (``typiclust``) with its parameters.

Every active strategy also takes ``controls``: the control cells of the fixed, seeded sample the model
predicts each pool perturbation from (``GEARS.predict``: 300).

The defaults here are the single home of the strategies' parameters (the rules in ``active.rules`` and
``config.TrainingConfig`` take theirs from here). This module imports nothing but ``io``: the typed config
(``config.ExperimentConfig``) and the Snakefile read it.
"""

from __future__ import annotations

from typing import Any, Mapping

from .io import InputError

ONE_SHOT = ("random", "graphreach", "maxspec", "facility")
#: Keyword parameters a one-shot block may set (``selection.registry.select`` passes them on; tested
#: against the selectors' signatures). Their defaults are the selectors' keyword defaults.
ONE_SHOT_PARAMETERS = {"random": (), "graphreach": ("hops", "lazy", "weights"),
                       "maxspec": ("hops", "direction", "shortlist"), "facility": ("hops", "lazy")}
#: GraphReach's node weights (``selection.graphreach``), the default first: ``uniform`` (every node counts
#: 1, the paper's GraphReach) or ``candidates`` (a node counts the candidates whose receptive field holds it).
GRAPHREACH_WEIGHTS = ("uniform", "candidates")
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
HYBRID_DEFAULTS: dict[str, Any] = {"warmup_cycles": 2, "then": "typiclust"}

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


def strategy_params(strategy: str, block: Mapping | None, *, hops: int, cycles: int) -> dict:
    """The parameters of any strategy: what reaches its rules (``experiment.strategies.<strategy>``).

    One-shot blocks are kept as written (the selector's own keyword defaults apply, ``selection.registry``),
    with ``hops`` filled in for the graph selectors; active blocks go through :func:`active_params`.

    Raises
    ------
    InputError
        An unknown strategy, or a parameter the strategy does not take (naming
        ``experiment.strategies.<strategy>[.<key>]``).
    """
    if strategy in ACTIVE:
        return active_params(strategy, block, hops=hops, cycles=cycles)
    if strategy not in ONE_SHOT:
        raise InputError("config", f"experiment.strategies.{strategy}", f"unknown strategy; known: {list(ALL)}")
    params = dict(block or {})
    unknown = sorted(set(params) - set(ONE_SHOT_PARAMETERS[strategy]))
    if unknown:
        raise InputError("config", f"experiment.strategies.{strategy}.{unknown[0]}",
                         f"not a parameter of strategy '{strategy}' (it takes: {list(ONE_SHOT_PARAMETERS[strategy])})")
    if "hops" in ONE_SHOT_PARAMETERS[strategy]:
        # K = GEARS's number of GO-graph SGC layers unless the strategy block says otherwise.
        params.setdefault("hops", int(hops))
    return params


def _check_int(value, field: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError("config", field, f"must be an integer >= {minimum}, got {value!r}")
