"""``design:``: one screen designed from a gene list (the ``design_screen`` rule and ``perturb-select design``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..strategies import GRAPHREACH_WEIGHTS, MAXSPEC_OPERATORS, TIE_BREAKS, selector_option_problem
from .checks import JobBlock, _bad, _choice, _field_names, _integer, _unknown_keys

#: The one-shot selectors a design can use (``perturb_select.selection``).
DESIGN_METHODS = ("graphreach", "maxspec", "facility")
#: Optional symbol files of a design entry.
DESIGN_LISTS = ("screened", "require", "exclude")


def plan_problem(budget, cycles, perturbations_per_cycle) -> tuple[str, str] | None:
    """What is wrong with a design's plan: a budget, or cycles and perturbations per cycle (budget = their
    product), never both and never neither; None when it is one of them.

    Returns
    -------
    tuple of (str, str) or None
        The option key(s) at fault (``'budget/cycles'``, ``'cycles'`` or ``'budget'``) and the problem.
    """
    plan = cycles is not None or perturbations_per_cycle is not None
    if budget is not None and plan:
        return "budget/cycles", (
            "give either a budget or cycles and perturbations per cycle (budget = their product), not both"
        )
    if plan and (cycles is None or perturbations_per_cycle is None):
        return "cycles", "a per-cycle plan needs both the number of cycles and the perturbations per cycle"
    if not plan and budget is None:
        return "budget", "give a budget, or cycles and perturbations per cycle"
    return None


@dataclass(frozen=True)
class DesignConfig(JobBlock):
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
        for option in ("weights", "tie_break", "operator"):
            problem = selector_option_problem(option, getattr(self, option), self.method)
            if problem:
                raise _bad(f"design.{self.name}.{option}", problem)
        for name, minimum in (("hops", 0), ("budget", 1), ("cycles", 1), ("perturbations_per_cycle", 1)):
            _integer(getattr(self, name), f"design.{self.name}.{name}", minimum, optional=True)
        _integer(self.seed, f"design.{self.name}.seed", 0)
        problem = plan_problem(self.budget, self.cycles, self.perturbations_per_cycle)
        if problem:  # before any job, not in the design job
            raise _bad(f"design.{self.name}.{problem[0]}", problem[1])

    @classmethod
    def from_config(cls, name: str, block: Mapping, *, default_hops: int) -> "DesignConfig":
        """From one ``design:`` entry; ``hops`` defaults to ``default_hops`` (``gears.num_go_gnn_layers``)."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"name"}, f"design.{name}")
        if block.get("hops") is None:
            block["hops"] = int(default_hops)
        return cls(name=name, **block)

    #: The fields that are ``design.run_design``'s options, by the same names (``tests/test_design.py`` checks
    #: them against its signature): the one place the entry is mapped onto a design.
    OPTIONS = (
        "budget",
        "cycles",
        "perturbations_per_cycle",
        "method",
        "weights",
        "tie_break",
        "operator",
        "hops",
        "seed",
    )

    def options(self) -> dict:
        """``{option: value}`` of :data:`OPTIONS`: ``run_design(graph, symbols, resolver, **entry.options())``."""
        return {name: getattr(self, name) for name in self.OPTIONS}

    def lists(self) -> dict:
        """The optional symbol files that are set, ``{'screened': path, ...}``."""
        return {key: getattr(self, key) for key in DESIGN_LISTS if getattr(self, key)}
