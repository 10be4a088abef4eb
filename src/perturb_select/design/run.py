"""The whole design: gene lists in, the ranking, the unresolved queries and the coverage plot out."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from ..config import DEFAULT_HOPS
from ..config.design import plan_problem
from ..io import InputError, atomic_path
from ..knowledge.graph import KnowledgeGraph, perturbation_genes
from ..knowledge.symbols import SymbolResolver
from ..strategies import GRAPHREACH_WEIGHTS, MAXSPEC_OPERATORS, TIE_BREAKS, selector_option_problem
from .coverage import rank_perturbations, reachable_nodes
from .plot import plot_coverage, plot_format
from .resolve import STATUS_WORDS, STATUSES, USED_STATUSES, resolution_counts, resolve_candidates

# Written with 6 significant digits: readable, and exact for node counts up to 10^6.
FLOAT_FORMAT = "%.6g"


@dataclass
class DesignResult:
    """A designed screen and the bookkeeping the summary needs.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`rank_perturbations`'s ranking (``DESIGN_COLUMNS``, plus ``cycle`` with a per-cycle plan).
    report : pandas.DataFrame
        :func:`resolve_candidates`'s reports of every list, one row per query (``REPORT_COLUMNS``).
    candidates : list of str
        Perturbations the picks were drawn from (required ones first, screened and excluded ones
        removed).
    method : str
    hops : int
    n_nodes : int
        Nodes of the graph (the coverage denominator).
    reachable_nodes : int
        Coverage if every candidate (and every screened perturbation) were perturbed.
    screened, required, excluded : list of str
        Resolved perturbations of those lists.
    start_nodes : int
        Nodes covered by the screened perturbations before the first pick.
    perturbations_per_cycle : int or None
        Perturbations per cycle (``--cycles/--perturbations-per-cycle``), else None.
    seconds : dict
        Wall time of the steps (``'select'``).
    weights : str or None
        GraphReach's node weights (``'uniform'`` or ``'candidates'``); None for the other methods.
    tie_break : str or None
        How equal gains were decided (GraphReach, MaxSpec); None for facility.
    operator : str or None
        MaxSpec's operator; None for the other methods.
    """

    table: pd.DataFrame
    report: pd.DataFrame
    candidates: list[str]
    method: str
    hops: int
    n_nodes: int
    reachable_nodes: int
    screened: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    start_nodes: int = 0
    perturbations_per_cycle: int | None = None
    seconds: dict = field(default_factory=dict)
    weights: str | None = None
    tie_break: str | None = None
    operator: str | None = None

    @property
    def label(self) -> str:
        """The method as shown in the plot: ``'graphreach (weights: candidates)'`` when weighted."""
        if self.weights and self.weights != GRAPHREACH_WEIGHTS[0]:
            return f"{self.method} (weights: {self.weights})"
        return self.method

    @property
    def unresolved(self) -> pd.DataFrame:
        """Report rows of the queries that are not used (status not ``official``/``alias``)."""
        return self.report[~self.report["status"].isin(USED_STATUSES)].reset_index(drop=True)

    def summary(self) -> dict:
        """Plain-Python summary: query counts per status of the candidate list, the starting point
        (screened, required, excluded), budget and cycles, method (and GraphReach's weights), K, final
        coverage."""
        counts = resolution_counts(self.report[self.report["list"] == "genes"])
        last = self.table.iloc[-1]
        budget = int(len(self.table))
        return {
            "queries": counts.pop("total"),
            **counts,
            "candidates": len(self.candidates),
            "screened_perturbations": len(self.screened),
            "required_perturbations": len(self.required),
            "excluded_perturbations": len(self.excluded),
            "budget": budget,
            "cycles": None if self.perturbations_per_cycle is None else budget // self.perturbations_per_cycle,
            "perturbations_per_cycle": self.perturbations_per_cycle,
            "method": self.method,
            "weights": self.weights,
            "tie_break": self.tie_break,
            "operator": self.operator,
            "ties": int(self.table["tie"].sum()),  # picks decided by the tie rule
            "hops": int(self.hops),
            "graph_nodes": int(self.n_nodes),
            "start_covered_nodes": int(self.start_nodes),
            "start_coverage_fraction": self.start_nodes / self.n_nodes,
            "covered_nodes": int(last["covered_nodes"]),
            "coverage_fraction": float(last["coverage_fraction"]),
            "all_candidates_covered_nodes": int(self.reachable_nodes),
            "all_candidates_coverage_fraction": self.reachable_nodes / self.n_nodes,
        }


#: Default names of the design's options in error messages (the CLI passes ``--budget`` etc.).
OPTION_NAMES = {
    "budget": "budget",
    "cycles": "cycles",
    "screened": "screened",
    "require": "require",
    "exclude": "exclude",
    "weights": "weights",
    "tie_break": "tie_break",
    "operator": "operator",
}


def design_budget(
    budget: int | None, cycles: int | None, perturbations_per_cycle: int | None
) -> tuple[int, int | None]:
    """``(budget, perturbations_per_cycle)`` from either a budget or a per-cycle plan
    (budget = cycles x perturbations_per_cycle).

    Raises
    ------
    InputError
        Source ``'budget/cycles'``: both given; ``'cycles'``: only one of cycles and perturbations_per_cycle, or a value
        below 1; ``'budget'``: neither given.
    """
    problem = plan_problem(budget, cycles, perturbations_per_cycle)
    if problem:
        raise InputError(problem[0], None, problem[1])
    if cycles is not None:
        for value, what in ((cycles, "cycles"), (perturbations_per_cycle, "perturbations per cycle")):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InputError("cycles", None, f"the {what} must be an integer >= 1, got {value!r}")
        return int(cycles) * int(perturbations_per_cycle), int(perturbations_per_cycle)
    return budget, None


def run_design(
    graph: KnowledgeGraph,
    symbols: Sequence[str],
    resolver: SymbolResolver,
    budget: int | None = None,
    *,
    method: str = "graphreach",
    hops: int = DEFAULT_HOPS,
    weights: str = GRAPHREACH_WEIGHTS[0],
    tie_break: str = TIE_BREAKS[0],
    operator: str = MAXSPEC_OPERATORS[0],
    seed: int = 0,
    source: str | None = None,
    screened: Sequence[str] = (),
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
    cycles: int | None = None,
    perturbations_per_cycle: int | None = None,
    names: Mapping[str, str] | None = None,
) -> DesignResult:
    """Resolve every list (:func:`resolve_candidates`) and rank the budget (:func:`rank_perturbations`).

    Every list goes through the same resolution and report. Candidates that were screened or are
    excluded are skipped with the reason (status ``'screened'`` / ``'excluded'``); a perturbation
    is excluded when it, or one of its genes, is listed in ``exclude``. Required perturbations are
    picked first, in their order, and join the candidates if the list lacks them.

    Parameters
    ----------
    graph : KnowledgeGraph
    symbols : sequence of str
        Candidate perturbations as written (single symbols or pairs ``A+B``).
    resolver : SymbolResolver
    budget : int, optional
        Perturbations to pick; or give ``cycles`` and ``perturbations_per_cycle`` (budget = their product).
    method, hops, weights, tie_break, operator, seed
        As :func:`rank_perturbations`.
    source : str, optional
        The config entry named in error messages, with the option as the field (``config: design.x,
        field 'budget': ...``); default: the option names of ``names`` alone (``--budget: ...``).
    screened, require, exclude : sequence of str, optional
        Symbols (or pairs) already screened, to pick first, never to pick.
    cycles, perturbations_per_cycle : int, optional
        A per-cycle plan: the table gains a ``cycle`` column.
    names : mapping, optional
        Option names used in error messages without ``source`` (keys of :data:`OPTION_NAMES`, e.g.
        ``{'budget': '--budget'}``).

    Raises
    ------
    InputError
        Budget and cycles both given or neither; unknown weights, or weights other than ``'uniform'``
        with a method other than graphreach; a non-empty screened, require or exclude list of which no
        entry resolves to graph genes; a perturbation both required and excluded; a
        required one already screened; more required perturbations than the budget; a budget above
        the number of candidates; and :func:`rank_perturbations`'s errors.
    """
    names = {**OPTION_NAMES, **(names or {})}

    def error(keys: str, problem: str) -> InputError:
        if source:
            return InputError(source, keys, problem)
        return InputError("/".join(names[key] for key in keys.split("/")), None, problem)

    for option, value in (("weights", weights), ("tie_break", tie_break), ("operator", operator)):
        problem = selector_option_problem(option, value, method)  # before the lists are resolved
        if problem:
            raise error(option, problem)
    try:
        budget, perturbations_per_cycle = design_budget(budget, cycles, perturbations_per_cycle)
    except InputError as err:  # its source is the option key(s)
        raise error(err.source, err.problem) from None
    candidates, report = resolve_candidates(symbols, resolver, list_name="genes")
    screened_perts, screened_report = resolve_candidates(screened, resolver, list_name="screened")
    required, required_report = resolve_candidates(require, resolver, list_name="require")
    excluded, excluded_report = resolve_candidates(exclude, resolver, list_name="exclude")
    for key, resolved, list_report in (
        ("screened", screened_perts, screened_report),
        ("require", required, required_report),
        ("exclude", excluded, excluded_report),
    ):
        if len(list_report) and not resolved:  # a list that applies nothing is a wrong file, not a no-op
            examples = "; ".join(f"{r.query}: {r.reason or r.status}" for r in list_report.head(3).itertuples())
            raise error(key, f"none of its {len(list_report)} entries is a perturbation of graph genes ({examples})")

    excluded_set = set(excluded)
    both = [r for r in required if _excluded_by(r, excluded_set)]
    if both:
        raise error(
            "require/exclude", f"{len(both)} perturbations are both required and excluded: {', '.join(both[:10])}"
        )
    again = sorted(set(required) & set(screened_perts))
    if again:
        raise error(
            "require/screened",
            f"{len(again)} required perturbations were already screened (screened "
            f"ones are never picked again): {', '.join(again[:10])}",
        )
    # what the user gave: a budget, or cycles x perturbations per cycle (never name an option not passed)
    budget_key = "budget" if perturbations_per_cycle is None else "cycles"
    if len(required) > budget:
        raise error(
            f"require/{budget_key}",
            f"{len(required)} required perturbations but the budget is {budget}"
            + (
                ""
                if perturbations_per_cycle is None
                else f" ({budget // perturbations_per_cycle} cycles x {perturbations_per_cycle})"
            ),
        )

    report, kept = _skip_screened_and_excluded(report, set(screened_perts), excluded_set, names)
    report = pd.concat([report, screened_report, required_report, excluded_report], ignore_index=True)
    required_set = set(required)
    candidates = required + [c for c in kept if c not in required_set]
    queries = {
        row.symbol: row.query.strip()
        for row in report.itertuples()
        if row.status in USED_STATUSES and row.list in ("genes", "require")
    }
    if len(candidates) < max(budget, 1):
        raise error(budget_key, _too_few_candidates(report, candidates, required, budget, perturbations_per_cycle))
    start = time.perf_counter()
    table = rank_perturbations(
        graph,
        candidates,
        budget,
        method=method,
        hops=hops,
        weights=weights,
        tie_break=tie_break,
        operator=operator,
        seed=seed,
        queries=queries,
        screened=screened_perts,
        required=required,
        perturbations_per_cycle=perturbations_per_cycle,
        source=source or names[budget_key],
    )
    seconds = {"select": time.perf_counter() - start}
    return DesignResult(
        table=table,
        report=report,
        candidates=candidates,
        method=method,
        hops=int(hops),
        n_nodes=graph.n_nodes,
        reachable_nodes=reachable_nodes(graph, candidates, int(hops), screened=screened_perts),
        screened=screened_perts,
        required=required,
        excluded=excluded,
        start_nodes=reachable_nodes(graph, [], int(hops), screened=screened_perts),
        perturbations_per_cycle=perturbations_per_cycle,
        seconds=seconds,
        weights=weights if method == "graphreach" else None,
        tie_break=tie_break if method != "facility" else None,
        operator=operator if method == "maxspec" else None,
    )


def _skip_screened_and_excluded(report: pd.DataFrame, screened: set, excluded: set, names: Mapping):
    """The report with screened and excluded candidates marked (status and reason), and the candidates kept."""
    statuses, reasons = report["status"].tolist(), report["reason"].tolist()
    kept = []
    for i, (status, symbol) in enumerate(zip(statuses, report["symbol"])):
        if status not in USED_STATUSES:
            continue
        if symbol in screened:
            statuses[i], reasons[i] = (
                "screened",
                (f"{symbol} was already screened (listed in {names['screened']}): never picked again"),
            )
        elif _excluded_by(symbol, excluded):
            statuses[i], reasons[i] = "excluded", f"{symbol} is excluded (listed in {names['exclude']})"
        else:
            kept.append(symbol)
    return report.assign(status=statuses, reason=reasons), kept


def _too_few_candidates(
    report: pd.DataFrame, candidates: list, required: list, budget: int, perturbations_per_cycle: int | None = None
) -> str:
    """Why the budget cannot be met: how many listed symbols can be picked and what happened to the rest."""
    counts = resolution_counts(report[report["list"] == "genes"])
    lost = ", ".join(
        f"{counts[status]} {STATUS_WORDS.get(status, status)}"
        for status in STATUSES
        if status not in USED_STATUSES and counts[status]
    )
    lost = f" ({lost})" if lost else ""
    if not candidates:
        return f"none of the {counts['total']} listed symbols can be picked{lost}: nothing to pick from"
    if perturbations_per_cycle is not None:
        return (
            f"{budget // perturbations_per_cycle} cycles x {perturbations_per_cycle} perturbations = {budget} "
            f"but only {len(candidates)} of "
            f"the {counts['total']} listed symbols can be picked{lost}; plan at most {len(candidates)} in all"
        )
    return (
        f"budget is {budget} but only {len(candidates)} of the {counts['total']} listed symbols can be "
        f"picked{lost}; choose a budget between {max(len(required), 1)} and {len(candidates)}"
    )


def _excluded_by(perturbation: str, excluded: set[str]) -> bool:
    """A perturbation is excluded when it, or any of its genes, is in ``excluded``."""
    return perturbation in excluded or any(g in excluded for g in perturbation_genes(perturbation))


def write_design(
    result: DesignResult,
    graph: KnowledgeGraph,
    *,
    table_path: str | os.PathLike | None = None,
    unresolved_path: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    seed: int = 0,
) -> None:
    """Write the ranking TSV, the unresolved-queries TSV and the coverage plot: all of them or none.

    Every file is written to a temporary file beside its destination; the files are renamed into
    place only after all of them were written (a failure leaves none behind). ``None`` skips a file.
    """
    with contextlib.ExitStack() as stack:
        if table_path is not None:
            tmp = stack.enter_context(atomic_path(table_path))
            result.table.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT)
        if unresolved_path is not None:
            tmp = stack.enter_context(atomic_path(unresolved_path))
            result.unresolved.to_csv(tmp, sep="\t", index=False)
        if plot_path is not None:
            # Drawn to a temporary name inside this stack: an error here removes the tables too.
            tmp = stack.enter_context(atomic_path(plot_path))
            plot_coverage(
                result.table,
                tmp,
                graph=graph,
                candidates=result.candidates,
                hops=result.hops,
                method=result.label,
                seed=seed,
                fmt=plot_format(plot_path),
                screened=result.screened,
                required=result.required,
                perturbations_per_cycle=result.perturbations_per_cycle,
            )
