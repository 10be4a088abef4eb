"""Design a screen: candidate gene symbols in, ranked perturbations with their graph coverage out.

For a user who only wants a selection (``perturb-select design``, Snakemake target ``design``):

* :func:`read_gene_list` reads a list of candidate symbols (one per line, as published screens list them);
* :func:`resolve_candidates` maps them onto graph nodes through gene_info's official symbols and synonyms
  (:class:`perturb_select.go.SymbolResolver`) and reports every query that is not used, with the reason;
* :func:`design_screen` runs GraphReach or MaxSpec (``perturb_select.selection``) and adds, for every
  prefix of the ranking, the receptive-field coverage of the whole graph;
* :func:`plot_coverage` draws that coverage against the number of picks, next to random orders of the
  same candidates;
* :func:`run_design` and :func:`write_design` chain these for the command line and the pipeline stage.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .go import SymbolResolver
from .graph import KnowledgeGraph, receptive_fields
from .io import InputError, atomic_path

#: Methods offered (the graph-based one-shot selectors).
METHODS = ("graphreach", "maxspec")
#: Resolution statuses of a query, in report order. ``official`` and ``alias`` queries are candidates.
STATUSES = ("official", "alias", "ambiguous", "unknown", "not_in_graph", "duplicate")
USED_STATUSES = ("official", "alias")
DESIGN_COLUMNS = ("rank", "gene", "query", "gain", "covered_nodes", "coverage_fraction")
REPORT_COLUMNS = ("query", "status", "symbol", "reason")
PLOT_FORMATS = ("svg", "png", "pdf")
# Written with 6 significant digits: readable, and exact for node counts up to 10^6.
FLOAT_FORMAT = "%.6g"


# --------------------------------------------------------------------------------------------------
# Gene list
# --------------------------------------------------------------------------------------------------

def read_gene_list(path: str | os.PathLike) -> list[str]:
    """Read candidate gene symbols, one per line, in file order.

    Blank lines and lines starting with ``#`` are ignored; a tab-separated line contributes its first
    column; surrounding whitespace is removed. UTF-8 (a byte-order mark is allowed), plain or gzipped
    (detected by its magic bytes). Repeated symbols are kept here and reported by
    :func:`resolve_candidates` (status ``'duplicate'``, the first occurrence is used).

    Parameters
    ----------
    path : path-like
        The gene list, e.g. ``replogle2022_k562_essential_1092_genes.txt``.

    Returns
    -------
    list of str
        The symbols as written (no header handling: a header line would be reported as an unknown
        symbol).

    Raises
    ------
    InputError
        Field None: the file is missing, a directory, unreadable, a corrupt gzip file, not UTF-8 text
        or binary (NUL bytes). Field ``'genes'``: no symbol at all (empty, or only blank and comment
        lines).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a directory, not a gene list file")
    if not path.exists():
        raise InputError(path, None, "gene list file not found")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, None, f"cannot read the gene list: {err.strerror or err}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(path, None, f"corrupt gzip file: {err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            path, None, f"not a UTF-8 text file (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "expected one gene symbol per line"
        ) from None
    if "\x00" in text:
        raise InputError(path, None, "binary file (NUL bytes); expected one gene symbol per line")
    symbols = []
    for line in text.splitlines():
        symbol = line.split("\t", 1)[0].strip()
        if symbol and not symbol.startswith("#"):
            symbols.append(symbol)
    if not symbols:
        raise InputError(path, "genes", "no gene symbols: the list is empty or holds only comments and blank lines")
    return symbols


# --------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------

def resolve_candidates(symbols: Iterable[str], resolver: SymbolResolver) -> tuple[list[str], pd.DataFrame]:
    """Map queried symbols onto graph nodes; report what happened to every query.

    Each query is resolved by ``resolver`` (official symbol, else a synonym or previous symbol of
    exactly one gene, then the same ignoring case; see :class:`perturb_select.go.SymbolResolver`). Give
    the resolver the graph's genes as ``universe`` so that genes without a node are ``'not_in_graph'``.
    An alias of several genes is ``'ambiguous'`` and never guessed. A query that repeats an earlier
    query, or resolves to a gene an earlier query already gave, is ``'duplicate'``: the first one is
    used.

    Parameters
    ----------
    symbols : iterable of str, length q
        Queried symbols in list order (e.g. from :func:`read_gene_list`).
    resolver : SymbolResolver

    Returns
    -------
    candidates : list of str
        Unique graph genes (current official symbols) in order of first appearance.
    report : pandas.DataFrame
        One row per query, in order (q rows): ``query`` (str, as written), ``status`` (one of
        :data:`STATUSES`), ``symbol`` (the gene used, or for a duplicate the gene it repeats; empty
        otherwise), ``reason`` (one sentence; empty for ``'official'``).
    """
    candidates: list[str] = []
    first_query_of_gene: dict[str, str] = {}
    seen_queries: set[str] = set()
    rows = []
    for query in symbols:
        key = query.strip()
        resolution = resolver.resolve(query)
        symbol = resolution.symbol or ""
        if key in seen_queries:
            status, reason = "duplicate", f"{key} is listed more than once; the first occurrence is used"
        elif resolution.ok and symbol in first_query_of_gene:
            earlier = first_query_of_gene[symbol]
            status, reason = "duplicate", f"{key} resolves to {symbol}, already listed as {earlier}; used once"
        else:
            status, reason = resolution.status, resolution.reason
            if resolution.ok:
                first_query_of_gene[symbol] = key
                candidates.append(symbol)
        seen_queries.add(key)
        rows.append((query, status, symbol, reason))
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    return candidates, report


def resolution_counts(report: pd.DataFrame) -> dict[str, int]:
    """Number of queries per status (every status of :data:`STATUSES`, zeros included) and ``'total'``."""
    counts = report["status"].value_counts()
    out = {status: int(counts.get(status, 0)) for status in STATUSES}
    out["total"] = int(len(report))
    return out


# --------------------------------------------------------------------------------------------------
# Selection and coverage
# --------------------------------------------------------------------------------------------------

def coverage_curve(graph: KnowledgeGraph, genes: Sequence[str], hops: int) -> np.ndarray:
    """Receptive-field coverage of every prefix of an ordered list of perturbations.

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : sequence of str, length b
        Graph nodes, in pick order.
    hops : int
        K >= 0: ``R_K(v)`` is ``v`` and every node with a directed path of length <= K into ``v``.

    Returns
    -------
    numpy.ndarray, int64, shape (b,)
        Entry i is ``|R_K(genes[0]) | ... | R_K(genes[i])|``, counted over the whole graph.
    """
    fields = receptive_fields(graph, graph.index_of(genes), hops)
    return _prefix_coverage(fields, np.arange(fields.shape[0]), graph.n_nodes)


def _prefix_coverage(fields, order: np.ndarray, n_nodes: int) -> np.ndarray:
    """Covered node count after each row of ``fields`` taken in ``order`` (int64, shape (len(order),))."""
    covered = np.zeros(n_nodes, dtype=bool)
    counts = np.empty(len(order), dtype=np.int64)
    total = 0
    indptr, indices = fields.indptr, fields.indices
    for i, row in enumerate(order):
        reached = indices[indptr[row]:indptr[row + 1]]
        total += int(np.count_nonzero(~covered[reached]))
        covered[reached] = True
        counts[i] = total
    return counts


def design_screen(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    method: str = "graphreach",
    hops: int = 1,
    queries: Mapping[str, str] | None = None,
    source: str = "budget",
) -> pd.DataFrame:
    """Rank ``budget`` perturbations of the candidates with GraphReach or MaxSpec, with their coverage.

    Calls :func:`perturb_select.selection.graphreach` or :func:`perturb_select.selection.maxspec`
    (Panagopoulos et al. 2025) unchanged; the coverage columns are computed for both from the same
    receptive fields ``R_K`` that GraphReach maximises.

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Unique graph genes (e.g. from :func:`resolve_candidates`); order is irrelevant to the picks.
    budget : int
        Number of perturbations to pick, ``1 <= budget <= m``.
    method : {'graphreach', 'maxspec'}
    hops : int
        K >= 0, the receptive-field radius (GEARS's number of GO-graph SGC layers).
    queries : mapping of str to str, optional
        Gene -> symbol as written in the user's list (for the ``query`` column); default: the gene.
    source : str
        Names the option or config key of the budget in ``InputError`` messages (e.g. ``'--budget'``).

    Returns
    -------
    pandas.DataFrame
        ``budget`` rows in pick order, columns ``rank`` (int64, 1-based), ``gene`` (str, graph node),
        ``query`` (str), ``gain`` (float64: nodes newly covered for GraphReach; increase of the
        restricted spectral norm for MaxSpec), ``covered_nodes`` (int64: nodes in the union of the
        receptive fields of the picks so far, over the whole graph) and ``coverage_fraction``
        (float64, ``covered_nodes / graph.n_nodes``).

    Raises
    ------
    InputError
        Field ``'budget'`` (source ``source``): budget below 1 or above the number of candidates
        (the message gives both counts). Field ``'method'``: an unknown method. Field
        ``'candidates'``: repeated candidates or candidates that are not graph nodes.
    """
    from .selection import graphreach, maxspec

    if method not in METHODS:
        raise InputError(source, "method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InputError(source, "budget", f"budget must be an integer, got {budget!r}")
    if not candidates:
        raise InputError(source, "budget", "no candidate gene resolved to a graph node: nothing to pick from")
    if not 1 <= budget <= len(candidates):
        raise InputError(
            source, "budget",
            f"budget is {budget} but {len(candidates)} candidate genes resolved to graph nodes; "
            f"choose a budget between 1 and {len(candidates)}",
        )
    if int(hops) != hops or hops < 0:
        raise InputError(source, "hops", f"hops must be an integer >= 0, got {hops!r}")
    select = graphreach if method == "graphreach" else maxspec
    selection = select(graph, list(candidates), int(budget), hops=int(hops), source=source)
    covered = coverage_curve(graph, selection.genes, int(hops))
    queries = queries or {}
    return pd.DataFrame({
        "rank": np.arange(1, len(selection.genes) + 1, dtype=np.int64),
        "gene": selection.genes,
        "query": [queries.get(g, g) for g in selection.genes],
        "gain": selection.gains,
        "covered_nodes": covered,
        "coverage_fraction": covered / float(graph.n_nodes),
    })


def random_coverage(
    graph: KnowledgeGraph, candidates: Sequence[str], budget: int, hops: int, *, seed: int = 0, n_orders: int = 20
) -> np.ndarray:
    """Coverage of the same candidates picked in random orders (the baseline a selector must beat).

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
    budget : int
        Prefix length, ``1 <= budget <= m``.
    hops : int
    seed : int
        Seeds ``numpy.random.default_rng``; the same seed gives the same orders.
    n_orders : int
        Number of random orders.

    Returns
    -------
    numpy.ndarray, int64, shape (n_orders, budget)
        Covered node count after each pick, one row per random order.
    """
    fields = receptive_fields(graph, graph.index_of(candidates), hops)
    rng = np.random.default_rng(seed)
    return np.stack([
        _prefix_coverage(fields, rng.permutation(len(candidates))[:budget], graph.n_nodes)
        for _ in range(n_orders)
    ])


def reachable_nodes(graph: KnowledgeGraph, candidates: Sequence[str], hops: int) -> int:
    """Nodes covered when every candidate is perturbed: the ceiling of any selection's coverage (int)."""
    fields = receptive_fields(graph, graph.index_of(candidates), hops)
    return int(np.unique(fields.indices).size)


# --------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------

def plot_format(path: str | os.PathLike, source: str | None = None) -> str:
    """The plot format named by the suffix of ``path``: one of :data:`PLOT_FORMATS`.

    Raises
    ------
    InputError
        Any other suffix (source ``source``, default the path).
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise InputError(source or path, None, f"the coverage plot must end in {', '.join('.' + f for f in PLOT_FORMATS)}")
    return suffix


def plot_coverage(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    hops: int,
    method: str = "",
    seed: int = 0,
    n_orders: int = 20,
    title: str = "",
    fmt: str | None = None,
) -> None:
    """Coverage fraction against the number of perturbations picked, written atomically.

    Draws the ranking of ``table`` (from :func:`design_screen`), the mean and range of ``n_orders``
    seeded random orders of the same candidates (:func:`random_coverage`), and the coverage of all
    candidates (dashed), all as fractions of ``graph.n_nodes``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``rank`` and ``coverage_fraction``.
    path : path-like
        ``.svg`` (text kept as text, no date: same numbers, same file), ``.png`` (150 dpi) or ``.pdf``.
    graph, candidates, hops
        As given to :func:`design_screen`.
    method : str
        Legend label of the ranking.
    seed, n_orders : int
        Random baseline (see :func:`random_coverage`).
    title : str
        Plot title; default names the candidates and K.
    fmt : {'svg', 'png', 'pdf'}, optional
        Overrides the format given by the suffix of ``path``.

    Raises
    ------
    InputError
        A suffix other than ``.svg``, ``.png`` or ``.pdf`` (and no ``fmt``).
    """
    fmt = fmt or plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = len(table)
    picks = np.arange(1, budget + 1)
    n_nodes = graph.n_nodes
    baseline = random_coverage(graph, candidates, budget, hops, seed=seed, n_orders=n_orders) / n_nodes
    ceiling = reachable_nodes(graph, candidates, hops) / n_nodes

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(picks, table["coverage_fraction"].to_numpy(), color="C0", label=method or "selection")
    ax.plot(picks, baseline.mean(axis=0), color="C7", label=f"random order (mean, range of {n_orders}; seed {seed})")
    ax.fill_between(picks, baseline.min(axis=0), baseline.max(axis=0), color="C7", alpha=0.25, linewidth=0)
    ax.axhline(ceiling, color="k", linestyle="--", linewidth=0.8,
               label=f"all {len(candidates)} candidates ({ceiling:.3f})")
    ax.set_xlabel("perturbations picked (budget)")
    ax.set_ylabel(f"coverage fraction (covered / {n_nodes:,} nodes)")
    ax.set_xlim(1, max(budget, 2))
    ax.set_ylim(0, min(1.0, ceiling * 1.1) if ceiling > 0 else 1.0)
    ax.set_title(title or f"receptive-field coverage, K = {hops}: {len(candidates)} candidates", fontsize=10)
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "perturb-select"}):
                if fmt == "svg":
                    fig.savefig(tmp, format="svg", metadata={"Date": None})
                elif fmt == "pdf":
                    fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
                else:
                    fig.savefig(tmp, format="png", dpi=150)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------------------
# The whole design: graph and resolver in, tables out
# --------------------------------------------------------------------------------------------------

def knowledge_graph_from_go(
    gene2go: str | os.PathLike,
    gene_info: str | os.PathLike,
    obo: str | os.PathLike | None,
    *,
    k: int = 20,
    threshold: float = 0.1,
    taxid: int = 9606,
) -> KnowledgeGraph:
    """GEARS's Jaccard GO graph built from local GO files, as the ``build_go_graph`` stage builds it.

    :func:`perturb_select.go.read_gene2go_symbols` (all evidence codes and namespaces) then
    :func:`perturb_select.go.jaccard_topk_edges` (``gears/utils.py::make_GO``). About 15 s on the full
    human annotation.

    Raises
    ------
    InputError
        From the readers (missing file, malformed header or field).
    """
    from .go import jaccard_topk_edges, read_gene2go_symbols

    gene_terms = read_gene2go_symbols(gene2go, gene_info, obo, taxid=taxid)
    return KnowledgeGraph.from_edges(jaccard_topk_edges(gene_terms, k=k, threshold=threshold))


@dataclass
class DesignResult:
    """A designed screen and the bookkeeping the summary needs.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`design_screen`'s ranking (``DESIGN_COLUMNS``).
    report : pandas.DataFrame
        :func:`resolve_candidates`'s report, one row per query (``REPORT_COLUMNS``).
    candidates : list of str
        Graph genes the picks were drawn from.
    method : str
    hops : int
    n_nodes : int
        Nodes of the graph (the coverage denominator).
    reachable_nodes : int
        Coverage if every candidate were perturbed.
    seconds : dict
        Wall time of the steps (``'select'``).
    """

    table: pd.DataFrame
    report: pd.DataFrame
    candidates: list[str]
    method: str
    hops: int
    n_nodes: int
    reachable_nodes: int
    seconds: dict = field(default_factory=dict)

    @property
    def unresolved(self) -> pd.DataFrame:
        """Report rows of the queries that are not candidates (status not ``official``/``alias``)."""
        return self.report[~self.report["status"].isin(USED_STATUSES)].reset_index(drop=True)

    def summary(self) -> dict:
        """Plain-Python summary: query counts per status, candidates, budget, method, K, final coverage."""
        counts = resolution_counts(self.report)
        last = self.table.iloc[-1]
        return {
            "queries": counts.pop("total"),
            **counts,
            "candidates": len(self.candidates),
            "budget": int(len(self.table)),
            "method": self.method,
            "hops": int(self.hops),
            "graph_nodes": int(self.n_nodes),
            "covered_nodes": int(last["covered_nodes"]),
            "coverage_fraction": float(last["coverage_fraction"]),
            "all_candidates_covered_nodes": int(self.reachable_nodes),
            "all_candidates_coverage_fraction": self.reachable_nodes / self.n_nodes,
        }


def run_design(
    graph: KnowledgeGraph,
    symbols: Sequence[str],
    resolver: SymbolResolver,
    budget: int,
    *,
    method: str = "graphreach",
    hops: int = 1,
    source: str = "budget",
) -> DesignResult:
    """Resolve ``symbols`` (:func:`resolve_candidates`) and rank ``budget`` of them (:func:`design_screen`).

    Raises
    ------
    InputError
        As :func:`design_screen`; a budget above the number of resolved candidates names ``source``.
    """
    candidates, report = resolve_candidates(symbols, resolver)
    queries = {row.symbol: row.query.strip() for row in report.itertuples() if row.status in USED_STATUSES}
    if not candidates:
        counts = resolution_counts(report)
        raise InputError(
            source, "budget",
            f"none of the {counts['total']} listed symbols resolved to a graph node ({counts['ambiguous']} "
            f"ambiguous, {counts['unknown']} unknown, {counts['not_in_graph']} not in the graph): nothing to pick from",
        )
    if len(candidates) < budget:
        counts = resolution_counts(report)
        raise InputError(
            source, "budget",
            f"budget is {budget} but only {len(candidates)} of the {counts['total']} listed symbols resolved to "
            f"graph nodes ({counts['ambiguous']} ambiguous, {counts['unknown']} unknown, "
            f"{counts['not_in_graph']} not in the graph, {counts['duplicate']} duplicates); "
            f"choose a budget between 1 and {len(candidates)}",
        )
    start = time.perf_counter()
    table = design_screen(graph, candidates, budget, method=method, hops=hops, queries=queries, source=source)
    seconds = {"select": time.perf_counter() - start}
    return DesignResult(
        table=table, report=report, candidates=candidates, method=method, hops=int(hops),
        n_nodes=graph.n_nodes, reachable_nodes=reachable_nodes(graph, candidates, int(hops)), seconds=seconds,
    )


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
                result.table, tmp, graph=graph, candidates=result.candidates, hops=result.hops,
                method=result.method, seed=seed, fmt=plot_format(plot_path),
            )
