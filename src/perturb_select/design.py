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
from .graph import PAIR_SEPARATOR, KnowledgeGraph, covered_by, perturbation_fields, perturbation_genes
from .io import InputError, atomic_path

#: Methods offered (the graph-based one-shot selectors).
METHODS = ("graphreach", "maxspec")
#: Resolution statuses of a query, in report order. ``official`` and ``alias`` queries are candidates;
#: ``invalid`` is a malformed combination (``A+``, ``A+A``, three genes); ``screened`` and ``excluded``
#: candidates resolved but are skipped (already perturbed; listed in the exclusions).
STATUSES = ("official", "alias", "ambiguous", "unknown", "not_in_graph", "invalid", "duplicate", "screened", "excluded")
USED_STATUSES = ("official", "alias")
_STATUS_WORDS = {"not_in_graph": "not in the graph"}  # statuses as words in messages
DESIGN_COLUMNS = ("rank", "gene", "query", "required", "gain", "covered_nodes", "coverage_fraction")
REPORT_COLUMNS = ("list", "query", "status", "symbol", "reason")
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

def resolve_candidates(
    symbols: Iterable[str], resolver: SymbolResolver, *, list_name: str = "genes"
) -> tuple[list[str], pd.DataFrame]:
    """Map queried perturbations onto graph nodes; report what happened to every query.

    A single symbol is resolved by ``resolver`` (official symbol, else a synonym or previous symbol of
    exactly one gene, then the same ignoring case; see :class:`perturb_select.go.SymbolResolver`). Give
    the resolver the graph's genes as ``universe`` so that genes without a node are ``'not_in_graph'``.
    An alias of several genes is ``'ambiguous'`` and never guessed. A double perturbation ``A+B`` (as in
    GEARS's conditions and Norman et al. 2019) has each gene resolved the same way; it is a candidate
    named by its two official symbols in sorted order (so ``B+A`` repeats ``A+B``), status ``'alias'``
    if either gene was alias-mapped; a pair with an unresolved gene takes that gene's status and names
    it in the reason; an empty gene (``A+``), the same gene twice (``A+A``, also through an alias) or
    more than two genes is ``'invalid'``. A query that repeats an earlier query, or resolves to a
    perturbation an earlier query already gave, is ``'duplicate'``: the first one is used.

    Parameters
    ----------
    symbols : iterable of str, length q
        Queried perturbations in list order (e.g. from :func:`read_gene_list`).
    resolver : SymbolResolver
    list_name : str
        The report's ``list`` column: ``'genes'``, ``'screened'``, ``'require'`` or ``'exclude'``.

    Returns
    -------
    candidates : list of str
        Unique perturbations (graph genes, or pairs ``'A+B'`` of them) in order of first appearance.
    report : pandas.DataFrame
        One row per query, in order (q rows): ``list`` (``list_name``), ``query`` (str, as written),
        ``status`` (one of :data:`STATUSES`), ``symbol`` (the perturbation used, or for a duplicate the
        one it repeats; empty otherwise), ``reason`` (one sentence; empty for ``'official'``).
    """
    candidates: list[str] = []
    first_query_of: dict[str, str] = {}
    seen_queries: set[str] = set()
    rows = []
    for query in symbols:
        key = query.strip()
        symbol, status, reason = _resolve_perturbation(key, resolver)
        if key in seen_queries:
            status, reason = "duplicate", f"{key} is listed more than once; the first occurrence is used"
        elif status in USED_STATUSES and symbol in first_query_of:
            earlier = first_query_of[symbol]
            status, reason = "duplicate", f"{key} resolves to {symbol}, already listed as {earlier}; used once"
        elif status in USED_STATUSES:
            first_query_of[symbol] = key
            candidates.append(symbol)
        seen_queries.add(key)
        rows.append((list_name, query, status, symbol, reason))
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    return candidates, report


def _resolve_perturbation(query: str, resolver: SymbolResolver) -> tuple[str, str, str]:
    """``(perturbation, status, reason)`` of one query, a single symbol or a pair ``A+B``."""
    if PAIR_SEPARATOR not in query:
        resolution = resolver.resolve(query)
        return resolution.symbol or "", resolution.status, resolution.reason
    parts = [part.strip() for part in query.split(PAIR_SEPARATOR)]
    if any(not part for part in parts):
        return "", "invalid", f"{query} has an empty gene name; a double perturbation is written A+B"
    if len(parts) > 2:
        return "", "invalid", f"{query} combines {len(parts)} genes; only single genes and pairs A+B are supported"
    resolutions = [resolver.resolve(part) for part in parts]
    for part, resolution in zip(parts, resolutions):
        if not resolution.ok:
            return "", resolution.status, f"pair {query}: {resolution.reason or part + ' ' + resolution.status}"
    genes = [resolution.symbol for resolution in resolutions]
    if genes[0] == genes[1]:
        return "", "invalid", f"pair {query} names the same gene twice ({genes[0]})"
    status = "alias" if any(r.status == "alias" for r in resolutions) else "official"
    aliases = [f"{r.query} -> {r.symbol}" for r in resolutions if r.status == "alias"]
    reason = f"pair {query}: " + "; ".join(aliases) if aliases else ""
    return PAIR_SEPARATOR.join(sorted(genes)), status, reason


def resolution_counts(report: pd.DataFrame) -> dict[str, int]:
    """Number of queries per status (every status of :data:`STATUSES`, zeros included) and ``'total'``."""
    counts = report["status"].value_counts()
    out = {status: int(counts.get(status, 0)) for status in STATUSES}
    out["total"] = int(len(report))
    return out


# --------------------------------------------------------------------------------------------------
# Selection and coverage
# --------------------------------------------------------------------------------------------------

def coverage_curve(graph: KnowledgeGraph, genes: Sequence[str], hops: int, *, screened: Sequence[str] = ()) -> np.ndarray:
    """Receptive-field coverage of every prefix of an ordered list of perturbations.

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : sequence of str, length b
        Perturbations (graph genes or pairs ``'A+B'``), in pick order.
    hops : int
        K >= 0: ``R_K(v)`` is ``v`` and every node with a directed path of length <= K into ``v``.
    screened : sequence of str, optional
        Perturbations screened before: their coverage is counted from the start.

    Returns
    -------
    numpy.ndarray, int64, shape (b,)
        Entry i is ``|R_K(screened) | R_K(genes[0]) | ... | R_K(genes[i])|``, counted over the whole graph.
    """
    fields = perturbation_fields(graph, list(genes), hops)
    start = covered_by(perturbation_fields(graph, list(screened), hops), graph.n_nodes)
    return _prefix_coverage(fields, np.arange(fields.shape[0]), start)


def _prefix_coverage(fields, order: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Covered node count after each row of ``fields`` taken in ``order``, from the covered mask
    ``start`` (bool, shape (n,); not modified). Returns int64, shape (len(order),)."""
    covered = start.copy()
    counts = np.empty(len(order), dtype=np.int64)
    total = int(covered.sum())
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
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    batch: int | None = None,
    source: str = "budget",
) -> pd.DataFrame:
    """Rank ``budget`` perturbations of the candidates with GraphReach or MaxSpec, with their coverage.

    Calls :func:`perturb_select.selection.graphreach` or :func:`perturb_select.selection.maxspec`
    (Panagopoulos et al. 2025) unchanged; the coverage columns are computed for both from the same
    receptive fields ``R_K`` that GraphReach maximises (for a pair ``A+B``, the union of both fields).

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Unique perturbations, graph genes or pairs ``'A+B'`` (e.g. from :func:`resolve_candidates`);
        order is irrelevant to the picks. Must hold every ``required`` perturbation.
    budget : int
        Number of perturbations to pick, ``1 <= budget <= m``.
    method : {'graphreach', 'maxspec'}
    hops : int
        K >= 0, the receptive-field radius (GEARS's number of GO-graph SGC layers).
    queries : mapping of str to str, optional
        Perturbation -> symbol as written in the user's list (for the ``query`` column); default: itself.
    screened : sequence of str, optional
        Perturbations screened before: the selection starts from their coverage (GraphReach) or from
        them as the starting set (MaxSpec); they should not be candidates.
    required : sequence of str, optional
        Candidates picked first, in this order.
    batch : int, optional
        Perturbations per cycle: adds the column ``cycle`` (``(rank - 1) // batch + 1``).
    source : str
        Names the option or config key of the budget in ``InputError`` messages (e.g. ``'--budget'``).

    Returns
    -------
    pandas.DataFrame
        ``budget`` rows in pick order, columns ``rank`` (int64, 1-based), ``cycle`` (int64, only with
        ``batch``), ``gene`` (str, graph node or pair), ``query`` (str), ``required`` (bool), ``gain``
        (float64: nodes newly covered for GraphReach; increase of the restricted spectral norm for
        MaxSpec), ``covered_nodes`` (int64: nodes in the union of the receptive fields of the screened
        perturbations and the picks so far, over the whole graph) and ``coverage_fraction`` (float64,
        ``covered_nodes / graph.n_nodes``).

    Raises
    ------
    InputError
        Field ``'budget'`` (source ``source``): budget below 1 or above the number of candidates
        (the message gives both counts). Field ``'method'``: an unknown method. Field
        ``'candidates'``: repeated candidates or genes that are not graph nodes. Field
        ``'required'``: see :func:`perturb_select.selection.base.starting_set`.
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
            f"budget is {budget} but {len(candidates)} candidate perturbations resolved to graph nodes; "
            f"choose a budget between 1 and {len(candidates)}",
        )
    if int(hops) != hops or hops < 0:
        raise InputError(source, "hops", f"hops must be an integer >= 0, got {hops!r}")
    select = graphreach if method == "graphreach" else maxspec
    selection = select(graph, list(candidates), int(budget), hops=int(hops), source=source,
                       screened=list(screened), required=list(required))
    covered = coverage_curve(graph, selection.genes, int(hops), screened=screened)
    queries = queries or {}
    rank = np.arange(1, len(selection.genes) + 1, dtype=np.int64)
    table = {"rank": rank}
    if batch is not None:
        table["cycle"] = (rank - 1) // int(batch) + 1
    required_set = set(required)
    table.update({
        "gene": selection.genes,
        "query": [queries.get(g, g) for g in selection.genes],
        "required": [g in required_set for g in selection.genes],
        "gain": selection.gains,
        "covered_nodes": covered,
        "coverage_fraction": covered / float(graph.n_nodes),
    })
    return pd.DataFrame(table)


def random_coverage(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    hops: int,
    *,
    seed: int = 0,
    n_orders: int = 20,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
) -> np.ndarray:
    """Coverage of the same candidates picked in random orders (the baseline a selector must beat).

    Each order starts, like the selection, from the screened coverage and with the required
    perturbations in their order; the rest of the candidates follow in a random permutation.

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Holds every ``required`` perturbation.
    budget : int
        Prefix length, ``len(required) <= budget <= m``.
    hops : int
    seed : int
        Seeds ``numpy.random.default_rng``; the same seed gives the same orders.
    n_orders : int
        Number of random orders.
    screened, required : sequence of str, optional
        As given to :func:`design_screen`.

    Returns
    -------
    numpy.ndarray, int64, shape (n_orders, budget)
        Covered node count after each pick, one row per random order.
    """
    candidates = list(candidates)
    fields = perturbation_fields(graph, candidates, hops)
    start = covered_by(perturbation_fields(graph, list(screened), hops), graph.n_nodes)
    position = {c: i for i, c in enumerate(candidates)}
    first = np.array([position[r] for r in required], dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(candidates)), first)
    rng = np.random.default_rng(seed)
    return np.stack([
        _prefix_coverage(fields, np.concatenate([first, rng.permutation(rest)])[:budget], start)
        for _ in range(n_orders)
    ])


def reachable_nodes(graph: KnowledgeGraph, candidates: Sequence[str], hops: int, *, screened: Sequence[str] = ()) -> int:
    """Nodes covered when every candidate (and every screened perturbation) is perturbed: the
    ceiling of any selection's coverage (int)."""
    fields = perturbation_fields(graph, list(candidates) + list(screened), hops)
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
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    batch: int | None = None,
) -> None:
    """Coverage fraction against the number of perturbations picked, written atomically.

    Draws the ranking of ``table`` (from :func:`design_screen`), the mean and range of ``n_orders``
    seeded random orders of the same candidates (:func:`random_coverage`, from the same start), the
    coverage of all candidates (dashed), the coverage of the screened perturbations (dotted, when
    given), and the cycle boundaries (thin vertical lines, when ``batch`` is given), all as fractions
    of ``graph.n_nodes``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``rank`` and ``coverage_fraction``.
    path : path-like
        ``.svg`` (text kept as text, no date: same numbers, same file), ``.png`` (150 dpi) or ``.pdf``.
    graph, candidates, hops, screened, required, batch
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
    baseline = random_coverage(graph, candidates, budget, hops, seed=seed, n_orders=n_orders,
                               screened=screened, required=required) / n_nodes
    ceiling = reachable_nodes(graph, candidates, hops, screened=screened) / n_nodes

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(picks, table["coverage_fraction"].to_numpy(), color="C0", label=method or "selection")
    ax.plot(picks, baseline.mean(axis=0), color="C7", label=f"random order (mean, range of {n_orders}; seed {seed})")
    ax.fill_between(picks, baseline.min(axis=0), baseline.max(axis=0), color="C7", alpha=0.25, linewidth=0)
    ax.axhline(ceiling, color="k", linestyle="--", linewidth=0.8,
               label=f"all {len(candidates)} candidates ({ceiling:.3f})")
    if len(screened):
        start = reachable_nodes(graph, [], hops, screened=screened) / n_nodes
        ax.axhline(start, color="C3", linestyle=":", linewidth=0.8,
                   label=f"{len(screened)} screened before ({start:.3f})")
    if batch is not None and budget > batch:
        for boundary in range(int(batch), budget, int(batch)):
            ax.axvline(boundary + 0.5, color="C2", linewidth=0.5, alpha=0.6)
        ax.plot([], [], color="C2", linewidth=0.5, label=f"cycle boundaries ({batch} per cycle)")
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


#: Environment variable naming the graph cache folder (default ``$XDG_CACHE_HOME/perturb-select``).
GRAPH_CACHE_ENV = "PERTURB_SELECT_CACHE"
# Bump when the graph construction changes: older cache entries are then never read.
GRAPH_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$PERTURB_SELECT_CACHE``, else ``$XDG_CACHE_HOME/perturb-select``, else ``~/.cache/perturb-select``."""
    if os.environ.get(GRAPH_CACHE_ENV):
        return Path(os.environ[GRAPH_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "perturb-select"


def graph_cache_key(files: Sequence[str | os.PathLike], **params) -> str:
    """Hex SHA-256 of the graph's inputs: the content of every file, the parameters and the cache version.

    Keyed by content, not by path or time: a copied or re-downloaded identical file hits the cache, a
    changed one misses it. Hashing the 14 MB of human GO files takes ~30 ms.
    """
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps({"version": GRAPH_CACHE_VERSION, **params}, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def cached_knowledge_graph(
    gene2go: str | os.PathLike,
    gene_info: str | os.PathLike,
    obo: str | os.PathLike | None,
    *,
    k: int = 20,
    threshold: float = 0.1,
    taxid: int = 9606,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[KnowledgeGraph, bool, Path | None]:
    """:func:`knowledge_graph_from_go`, read from the cache when the same inputs were built before.

    The cache entry ``go_jaccard-<key>.npz`` (:meth:`KnowledgeGraph.save_npz`, written atomically) is
    keyed by :func:`graph_cache_key` over the three files' content and ``k``, ``threshold``,
    ``taxid``. An unreadable entry is rebuilt; a cache folder that cannot be written only costs the
    rebuild next time.

    Parameters
    ----------
    cache_dir : path-like, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    graph : KnowledgeGraph
    hit : bool
        True when read from the cache.
    path : Path or None
        The cache entry (None if it could not be written).
    """
    files = [gene2go, gene_info] + ([obo] if obo else [])
    key = graph_cache_key(files, k=int(k), threshold=float(threshold), taxid=int(taxid))
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"go_jaccard-{key[:32]}.npz"
    if path.is_file():
        try:
            return KnowledgeGraph.read_npz(path), True, path
        except InputError:
            pass  # damaged entry: rebuild and replace it
    graph = knowledge_graph_from_go(gene2go, gene_info, obo, k=k, threshold=threshold, taxid=taxid)
    try:
        graph.save_npz(path)
    except OSError:
        return graph, False, None
    return graph, False, path


@dataclass
class DesignResult:
    """A designed screen and the bookkeeping the summary needs.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`design_screen`'s ranking (``DESIGN_COLUMNS``, plus ``cycle`` with a per-cycle plan).
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
    batch : int or None
        Perturbations per cycle (``--cycles/--batch``), else None.
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
    screened: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    start_nodes: int = 0
    batch: int | None = None
    seconds: dict = field(default_factory=dict)

    @property
    def unresolved(self) -> pd.DataFrame:
        """Report rows of the queries that are not used (status not ``official``/``alias``)."""
        return self.report[~self.report["status"].isin(USED_STATUSES)].reset_index(drop=True)

    def summary(self) -> dict:
        """Plain-Python summary: query counts per status of the candidate list, the starting point
        (screened, required, excluded), budget and cycles, method, K, final coverage."""
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
            "cycles": None if self.batch is None else budget // self.batch,
            "batch": self.batch,
            "method": self.method,
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
OPTION_NAMES = {"budget": "budget", "cycles": "cycles", "screened": "screened", "require": "require",
                "exclude": "exclude"}


def design_budget(budget: int | None, cycles: int | None, batch: int | None) -> tuple[int, int | None]:
    """``(budget, batch)`` from either a budget or a per-cycle plan (budget = cycles x batch).

    Raises
    ------
    InputError
        Source ``'budget/cycles'``: both given; ``'cycles'``: only one of cycles and batch, or a value
        below 1; ``'budget'``: neither given.
    """
    plan = cycles is not None or batch is not None
    if budget is not None and plan:
        raise InputError("budget/cycles", None,
                         "give either a budget or cycles and a batch size (budget = cycles x batch), not both")
    if plan:
        if cycles is None or batch is None:
            raise InputError("cycles", None, "a per-cycle plan needs both the number of cycles and the batch size")
        for value, what in ((cycles, "cycles"), (batch, "batch size")):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InputError("cycles", None, f"the {what} must be an integer >= 1, got {value!r}")
        return int(cycles) * int(batch), int(batch)
    if budget is None:
        raise InputError("budget", None, "give a budget, or cycles and a batch size")
    return budget, None


def run_design(
    graph: KnowledgeGraph,
    symbols: Sequence[str],
    resolver: SymbolResolver,
    budget: int | None = None,
    *,
    method: str = "graphreach",
    hops: int = 1,
    source: str | None = None,
    screened: Sequence[str] = (),
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
    cycles: int | None = None,
    batch: int | None = None,
    names: Mapping[str, str] | None = None,
) -> DesignResult:
    """Resolve every list (:func:`resolve_candidates`) and rank the budget (:func:`design_screen`).

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
        Perturbations to pick; or give ``cycles`` and ``batch`` (budget = cycles x batch).
    method, hops
        As :func:`design_screen`.
    source : str, optional
        The config entry named in error messages, with the option as the field (``config: design.x,
        field 'budget': ...``); default: the option names of ``names`` alone (``--budget: ...``).
    screened, require, exclude : sequence of str, optional
        Symbols (or pairs) already screened, to pick first, never to pick.
    cycles, batch : int, optional
        A per-cycle plan: the table gains a ``cycle`` column.
    names : mapping, optional
        Option names used in error messages without ``source`` (keys of :data:`OPTION_NAMES`, e.g.
        ``{'budget': '--budget'}``).

    Raises
    ------
    InputError
        Budget and cycles both given or neither; a perturbation both required and excluded; a
        required one already screened; more required perturbations than the budget; a budget above
        the number of candidates; and :func:`design_screen`'s errors.
    """
    names = {**OPTION_NAMES, **(names or {})}

    def error(keys: str, problem: str) -> InputError:
        if source:
            return InputError(source, keys, problem)
        return InputError("/".join(names[key] for key in keys.split("/")), None, problem)

    try:
        budget, batch = design_budget(budget, cycles, batch)
    except InputError as err:  # its source is the option key(s)
        raise error(err.source, err.problem) from None
    candidates, report = resolve_candidates(symbols, resolver, list_name="genes")
    screened_perts, screened_report = resolve_candidates(screened, resolver, list_name="screened")
    required, required_report = resolve_candidates(require, resolver, list_name="require")
    excluded, excluded_report = resolve_candidates(exclude, resolver, list_name="exclude")

    excluded_set = set(excluded)
    both = [r for r in required if _excluded_by(r, excluded_set)]
    if both:
        raise error("require/exclude",
                    f"{len(both)} perturbations are both required and excluded: {', '.join(both[:10])}")
    again = sorted(set(required) & set(screened_perts))
    if again:
        raise error("require/screened", f"{len(again)} required perturbations were already screened (screened "
                    f"ones are never picked again): {', '.join(again[:10])}")
    if len(required) > budget:
        raise error("require/budget", f"{len(required)} required perturbations but the budget is {budget}")

    # skip screened and excluded candidates, with the reason
    screened_set = set(screened_perts)
    statuses, reasons = report["status"].tolist(), report["reason"].tolist()
    kept = []
    for i, (status, symbol) in enumerate(zip(statuses, report["symbol"])):
        if status not in USED_STATUSES:
            continue
        if symbol in screened_set:
            statuses[i], reasons[i] = "screened", f"{symbol} was already screened (listed in {names['screened']}): never picked again"
        elif _excluded_by(symbol, excluded_set):
            statuses[i], reasons[i] = "excluded", f"{symbol} is excluded (listed in {names['exclude']})"
        else:
            kept.append(symbol)
    report = report.assign(status=statuses, reason=reasons)
    report = pd.concat([report, screened_report, required_report, excluded_report], ignore_index=True)
    required_set = set(required)
    candidates = required + [c for c in kept if c not in required_set]

    queries = {row.symbol: row.query.strip() for row in report.itertuples()
               if row.status in USED_STATUSES and row.list in ("genes", "require")}
    if len(candidates) < max(budget, 1):
        counts = resolution_counts(report[report["list"] == "genes"])
        lost = ", ".join(f"{counts[status]} {_STATUS_WORDS.get(status, status)}"
                         for status in STATUSES if status not in USED_STATUSES and counts[status])
        lost = f" ({lost})" if lost else ""
        if not candidates:
            raise error("budget", f"none of the {counts['total']} listed symbols can be picked{lost}: nothing to pick from")
        raise error(
            "budget",
            f"budget is {budget} but only {len(candidates)} of the {counts['total']} listed symbols can be "
            f"picked{lost}; choose a budget between {max(len(required), 1)} and {len(candidates)}",
        )
    start = time.perf_counter()
    table = design_screen(graph, candidates, budget, method=method, hops=hops, queries=queries,
                          screened=screened_perts, required=required, batch=batch, source=source or names["budget"])
    seconds = {"select": time.perf_counter() - start}
    return DesignResult(
        table=table, report=report, candidates=candidates, method=method, hops=int(hops),
        n_nodes=graph.n_nodes,
        reachable_nodes=reachable_nodes(graph, candidates, int(hops), screened=screened_perts),
        screened=screened_perts, required=required, excluded=excluded,
        start_nodes=reachable_nodes(graph, [], int(hops), screened=screened_perts),
        batch=batch, seconds=seconds,
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
                result.table, tmp, graph=graph, candidates=result.candidates, hops=result.hops,
                method=result.method, seed=seed, fmt=plot_format(plot_path),
                screened=result.screened, required=result.required, batch=result.batch,
            )
