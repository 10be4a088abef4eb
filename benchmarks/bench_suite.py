"""Genome-scale benchmarks of perturb_select and its peers, one function per benchmark.

Every benchmark function takes plain arguments (paths, numbers), loads its own inputs, warms every
implementation up once on a small input (numba compiles on first call), then times the real runs
with :func:`best_time`. It returns a list of table rows (dicts, see :func:`make_row`).
``run_benchmarks.py`` runs each benchmark in a fresh process (:func:`run_isolated`) so that the peak
resident set size it reports belongs to that benchmark alone.

Peers:

* apricot-select 0.6.1 ``MaxCoverageSelection`` (Schreiber et al. 2020, JMLR 21(161)) with the
  ``'lazy'`` and ``'naive'`` optimizers, on the same receptive-field incidence matrix as ours;
* plain greedy (``perturb_select.selection.greedy_max_coverage(lazy=False)``);
* GEARS's ``gears.utils.make_GO`` plus the top-k step of ``get_similarity_network`` (cell-gears 0.1.2).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import multiprocessing
import os
import pickle
import platform
import resource
import signal
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

# A timed run longer than this is not repeated (best of 1 instead of best of 3).
LONG_RUN_S = 10.0
REPEATS = 3

# Files that prepare_inputs writes into the work directory.
GRAPH_FILE = "go_jaccard.tsv"
GENE_TERMS_FILE = "gene_terms.pkl"
REPLOGLE_FILE = "replogle_candidates.txt"
INPUTS_FILE = "inputs.json"

REPLOGLE_LIST = Path("genelists") / "replogle2022_k562_essential_1092_genes.txt"
GO_FILES = {
    "gene2go": Path("go") / "gene2go_human.gz",
    "obo": Path("go") / "go-basic.obo",
    "gene_info": Path("go") / "Homo_sapiens.gene_info.gz",
}


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


def best_time(function: Callable[[], Any], *, repeats: int | None = None, long_run_s: float | None = None):
    """Wall-clock time of ``function()``: the best of ``repeats`` runs, or of one run if it is long.

    Parameters
    ----------
    function : callable
        Called without arguments; must already be warmed up (compiled, inputs loaded).
    repeats : int, optional
        Runs when the first one takes at most ``long_run_s``; default ``REPEATS``.
    long_run_s : float, optional
        Seconds above which the first run is the only one; default ``LONG_RUN_S``.

    Returns
    -------
    seconds : float
        The smallest ``time.perf_counter`` difference over the runs.
    result : object
        What the last run returned.
    """
    repeats = REPEATS if repeats is None else repeats
    long_run_s = LONG_RUN_S if long_run_s is None else long_run_s
    best = float("inf")
    result = None
    for attempt in range(max(1, repeats)):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
        if attempt == 0 and best > long_run_s:
            break
    return best, result


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def children_peak_rss_mib() -> float:
    """Largest peak resident set size of any waited-for child process, MiB (0 if none)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    """Resident set size of this process now, MiB (from ``/proc/self/statm``, Linux)."""
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def machine_description() -> dict:
    """CPU model, logical cores, memory, OS and the versions of the libraries that are timed."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    versions = {}
    for name in ("numpy", "scipy", "numba", "pandas", "apricot-select", "cell-gears", "goatools", "perturb-select"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def make_row(
    benchmark: str,
    ours: str,
    ours_s: float | None,
    *,
    peer: str | None = None,
    peer_s: float | None = None,
    coverage_ours: int | None = None,
    coverage_peer: int | None = None,
    note: str = "",
    **extra,
) -> dict:
    """One line of the result table.

    Parameters
    ----------
    benchmark : str
        What is measured, e.g. ``'graphreach K=1 b=1000, all 20709 genes'``.
    ours, peer : str
        Names of the two implementations compared (``peer`` None: no comparison on this line).
    ours_s, peer_s : float
        Seconds (best of 3, or of 1 for runs over ``LONG_RUN_S``).
    coverage_ours, coverage_peer : int, optional
        Graph nodes covered by the union of the picks' receptive fields.
    note : str
        Anything else worth reading next to the numbers.
    **extra
        Further fields kept as they are (e.g. ``budget`` and ``pool`` of a MaxSpec grid point).

    Returns
    -------
    dict
        The fields above plus ``ratio`` (``peer_s / ours_s``: how many times faster ours is) and
        ``coverage_ratio`` (``coverage_ours / coverage_peer``), None where undefined.
    """
    ratio = peer_s / ours_s if peer_s is not None and ours_s else None
    coverage_ratio = coverage_ours / coverage_peer if coverage_ours is not None and coverage_peer else None
    return {
        "benchmark": benchmark,
        "ours": ours,
        "ours_s": ours_s,
        "peer": peer,
        "peer_s": peer_s,
        "ratio": ratio,
        "coverage_ours": coverage_ours,
        "coverage_peer": coverage_peer,
        "coverage_ratio": coverage_ratio,
        "note": note,
        **extra,
    }


# --------------------------------------------------------------------------------------------------
# One fresh process per benchmark
# --------------------------------------------------------------------------------------------------


def _child(connection, function: Callable[..., list[dict]], kwargs: dict, preload: Sequence[str]) -> None:
    """Body of the benchmark process: run ``function(**kwargs)`` and send rows and memory back."""
    os.setpgrp()  # own process group, so a timeout also ends worker processes it started
    # A spawned child inherits 'spawn' as its default start method; give the code under test the
    # platform's default (fork on Linux), as in a normally started Python, e.g. for make_GO's Pool.
    multiprocessing.set_start_method(None, force=True)
    for module in preload:
        importlib.import_module(module)
    baseline = current_rss_mib()
    try:
        rows = function(**kwargs)
        message = {"rows": rows, "error": None}
    except BaseException as error:  # noqa: BLE001 - reported in the table, never hidden
        message = {"rows": [], "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    message.update(
        baseline_rss_mib=baseline,
        peak_rss_mib=peak_rss_mib(),
        children_peak_rss_mib=children_peak_rss_mib(),
    )
    connection.send(message)
    connection.close()


def run_isolated(
    function: Callable[..., list[dict]], kwargs: dict, *, time_limit_s: float | None = None, preload: Sequence[str] = ()
) -> dict:
    """Run one benchmark in a fresh spawned process and collect its rows and memory.

    Parameters
    ----------
    function : callable
        A module-level function (picklable by name) returning a list of rows (:func:`make_row`).
    kwargs : dict
        Its keyword arguments (picklable).
    time_limit_s : float, optional
        Wall-clock limit for the whole process (loading, warm-up and timed runs); past it the
        process group is killed and the result says so.
    preload : sequence of str
        Modules imported before the baseline memory is taken, so that ``rss_increase_mib`` counts
        the benchmark's data and work rather than library code.

    Returns
    -------
    dict
        ``rows``; ``error`` (None, or the exception or timeout as text); ``timed_out`` (bool);
        ``baseline_rss_mib`` (resident set size when the benchmark started, after ``preload``),
        ``peak_rss_mib`` (``ru_maxrss`` of the process), ``rss_increase_mib`` (peak minus baseline),
        ``children_peak_rss_mib`` (largest worker process it waited for, e.g. GEARS's Pool);
        ``wall_s`` (the whole process, start-up included).
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, kwargs, tuple(preload)))
    start = time.perf_counter()
    process.start()
    sender.close()
    message = None
    try:
        if receiver.poll(time_limit_s):
            with contextlib.suppress(EOFError):
                message = receiver.recv()
        wall = time.perf_counter() - start
        timed_out = message is None and process.is_alive()
    finally:  # also on Ctrl-C: the child has its own process group, so the terminal's signal misses it
        process.join(timeout=5 if message is not None else 0)
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.kill()  # in case it had not yet made its own group
        process.join()
        receiver.close()
    if message is None:
        why = f"timed out after {time_limit_s:g} s" if timed_out else f"process died (exit code {process.exitcode})"
        message = {
            "rows": [],
            "error": why,
            "baseline_rss_mib": None,
            "peak_rss_mib": None,
            "children_peak_rss_mib": None,
        }
    message["timed_out"] = timed_out
    message["wall_s"] = wall
    if message.get("peak_rss_mib") is not None and message.get("baseline_rss_mib") is not None:
        message["rss_increase_mib"] = message["peak_rss_mib"] - message["baseline_rss_mib"]
    else:
        message["rss_increase_mib"] = None
    return message


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def prepare_inputs(data: str | os.PathLike, workdir: str | os.PathLike, k: int = 20, threshold: float = 0.1) -> dict:
    """Build the benchmark inputs from the real data once: GO term sets, the Jaccard graph, candidates.

    Parameters
    ----------
    data : path-like
        The shared data directory (``go/`` and ``genelists/`` as in its README).
    workdir : path-like
        Where to write ``GENE_TERMS_FILE`` (pickle: symbol -> frozenset of GO ids), ``GRAPH_FILE``
        (``KnowledgeGraph.write``), ``REPLOGLE_FILE`` (resolved candidates, sorted) and
        ``INPUTS_FILE`` (their summary, JSON). Each file is written atomically.
    k, threshold : int, float
        Jaccard graph parameters (GEARS's defaults, as ``config/config.yaml``).

    Returns
    -------
    dict
        The summary written to ``INPUTS_FILE``: genes with GO terms, graph nodes and edges, the
        Replogle list's length and how its symbols resolved (counts per status).
    """
    from perturb_select.io import atomic_open, write_json
    from perturb_select.knowledge.annotations import read_gene2go_symbols
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.knowledge.jaccard import jaccard_topk_edges
    from perturb_select.knowledge.symbols import SymbolResolver, read_gene_list

    data, workdir = Path(data), Path(workdir)
    gene_terms = read_gene2go_symbols(data / GO_FILES["gene2go"], data / GO_FILES["gene_info"], data / GO_FILES["obo"])
    graph = KnowledgeGraph.from_edges(jaccard_topk_edges(gene_terms, k=k, threshold=threshold))
    with atomic_open(workdir / GENE_TERMS_FILE, "wb") as handle:
        pickle.dump(gene_terms, handle, protocol=pickle.HIGHEST_PROTOCOL)
    graph.write(workdir / GRAPH_FILE)
    listed = read_gene_list(data / REPLOGLE_LIST)
    resolver = SymbolResolver.from_gene_info(data / GO_FILES["gene_info"], universe=graph.genes)
    resolutions = resolver.resolve_many(listed)
    candidates = sorted({r.symbol for r in resolutions if r.ok})
    with atomic_open(workdir / REPLOGLE_FILE, "w") as handle:
        handle.write("\n".join(candidates) + "\n")
    statuses = pd.Series([r.status for r in resolutions]).value_counts()
    summary = {
        "data": str(data),
        "genes_with_go_terms": len(gene_terms),
        "graph_nodes": graph.n_nodes,
        "graph_edges": graph.n_edges,
        "k": k,
        "threshold": threshold,
        "replogle_listed": len(listed),
        "replogle_candidates": len(candidates),
        "replogle_resolution": {str(s): int(c) for s, c in statuses.items()},
    }
    write_json(summary, workdir / INPUTS_FILE)
    return summary


def load_graph(workdir: str | os.PathLike):
    """The ``KnowledgeGraph`` written by :func:`prepare_inputs`."""
    from perturb_select.knowledge.graph import KnowledgeGraph

    return KnowledgeGraph.read(Path(workdir) / GRAPH_FILE)


def candidate_pool(
    graph, workdir: str | os.PathLike, candidates: str, n_candidates: int | None = None, seed: int = 0
) -> list[str]:
    """Candidate genes, sorted by symbol.

    Parameters
    ----------
    graph : KnowledgeGraph
    workdir : path-like
        Holds ``REPLOGLE_FILE``.
    candidates : {'all', 'replogle'}
        Every graph node, or the resolved Replogle 2022 list.
    n_candidates : int, optional
        Keep the first ``n_candidates`` of a permutation seeded by ``seed`` (so smaller pools are
        nested in larger ones); None keeps them all.
    seed : int

    Returns
    -------
    list of str
    """
    from perturb_select.knowledge.symbols import read_gene_list

    if candidates == "all":
        pool = [str(g) for g in graph.genes]
    elif candidates == "replogle":
        pool = sorted(read_gene_list(Path(workdir) / REPLOGLE_FILE))
    else:
        raise ValueError(f"candidates must be 'all' or 'replogle', got {candidates!r}")
    if n_candidates is not None and n_candidates < len(pool):
        order = np.random.default_rng(seed).permutation(len(pool))[:n_candidates]
        pool = sorted(pool[i] for i in order)
    return pool


# --------------------------------------------------------------------------------------------------
# Maximum coverage: ours and the peers on one incidence matrix
# --------------------------------------------------------------------------------------------------


def ours_greedy(fields: sp.csr_matrix, budget: int, lazy: bool = True) -> np.ndarray:
    """Row indices (int64, pick order) from perturb_select's greedy maximum coverage."""
    from perturb_select.selection.graphreach import greedy_max_coverage

    order, _, _ = greedy_max_coverage(fields, budget, lazy=lazy)
    return np.asarray(order, dtype=np.int64)


def apricot_greedy(fields: sp.csr_matrix, budget: int, optimizer: str = "lazy") -> np.ndarray:
    """Row indices (int64, pick order) from apricot's ``MaxCoverageSelection``.

    apricot treats rows as items and columns as features and maximises
    ``f(S) = sum_columns min(sum_{i in S} X[i, column], threshold)``; with binary ``X`` and the
    default ``threshold=1`` that is the number of columns covered, our objective. Its sparse path
    needs a ``scipy.sparse.csr_matrix`` with float64 data and int32 indices (numba signatures in
    ``apricot/functions/maxCoverage.py``); pass :func:`apricot_matrix`'s output.
    """
    from apricot import MaxCoverageSelection

    selector = MaxCoverageSelection(n_samples=budget, optimizer=optimizer).fit(fields)
    return np.asarray(selector.ranking, dtype=np.int64)


def apricot_matrix(fields: sp.csr_matrix) -> sp.csr_matrix:
    """The incidence matrix in the form apricot's sparse path takes (csr_matrix, float64, int32 indices)."""
    matrix = sp.csr_matrix(fields, dtype=np.float64)
    matrix.indices = matrix.indices.astype(np.int32, copy=False)
    matrix.indptr = matrix.indptr.astype(np.int32, copy=False)
    return matrix


def coverage(fields: sp.csr_matrix, picks: Sequence[int]) -> int:
    """Number of columns (graph nodes) covered by the union of rows ``picks`` of ``fields``."""
    picks = np.asarray(picks, dtype=np.int64)
    if picks.size == 0:
        return 0
    return int(np.unique(fields[picks].indices).size)


COVERAGE_PEERS = {
    "plain greedy": lambda fields, matrix, budget: ours_greedy(fields, budget, lazy=False),
    "apricot lazy": lambda fields, matrix, budget: apricot_greedy(matrix, budget, "lazy"),
    "apricot naive": lambda fields, matrix, budget: apricot_greedy(matrix, budget, "naive"),
}


def bench_coverage(
    workdir: str | os.PathLike,
    hops: int,
    budget: int,
    candidates: str = "all",
    peers: Sequence[str] = ("plain greedy", "apricot lazy"),
    full_call: bool = False,
) -> list[dict]:
    """GraphReach's selection step against the peers, given the receptive-field incidence matrix.

    Parameters
    ----------
    workdir : path-like
        Holds the prepared inputs (:func:`prepare_inputs`).
    hops : int
        K, the receptive-field radius.
    budget : int
        Picks.
    candidates : {'all', 'replogle'}
    peers : sequence of str
        Keys of ``COVERAGE_PEERS``.
    full_call : bool
        Also time the whole ``perturb_select.selection.graphreach`` call (checks, receptive fields,
        greedy), the figure a user sees.

    Returns
    -------
    list of dict
        A row for building the incidence matrix (``receptive_fields``), one per peer (ours = lazy
        greedy), and with ``full_call`` one for ``graphreach``.
    """
    from perturb_select.knowledge.graph import receptive_fields
    from perturb_select.selection.graphreach import graphreach

    graph = load_graph(workdir)
    pool = candidate_pool(graph, workdir, candidates)
    nodes = graph.index_of(pool)
    pool_label = f"{len(pool)} {'genes' if candidates == 'all' else 'Replogle candidates'}"
    label = f"K={hops} b={budget}, {pool_label}"
    rows = []

    receptive_fields(graph, nodes[:50], hops)  # warm-up
    fields_s, fields = best_time(lambda: receptive_fields(graph, nodes, hops))
    rows.append(
        make_row(
            f"receptive fields K={hops}, {pool_label}",
            "receptive_fields",
            fields_s,
            note=f"{fields.shape[0]} x {fields.shape[1]} incidence, {fields.nnz} entries",
        )
    )
    matrix = apricot_matrix(fields)

    small = min(200, fields.shape[0])
    warm_budget = min(10, small)
    ours_greedy(fields[:small], warm_budget)
    for name in peers:
        COVERAGE_PEERS[name](fields[:small], matrix[:small], warm_budget)

    ours_s, ours_picks = best_time(lambda: ours_greedy(fields, budget))
    ours_coverage = coverage(fields, ours_picks)
    for name in peers:
        peer_s, peer_picks = best_time(lambda: COVERAGE_PEERS[name](fields, matrix, budget))
        notes = []
        if name.startswith("apricot"):
            # apricot builds and numba-compiles its gain kernels inside every fit: a fixed cost per call
            overhead_s, _ = best_time(lambda: COVERAGE_PEERS[name](fields[:small], matrix[:small], warm_budget))
            notes.append(f"{overhead_s:.1f} s of it is apricot's per-fit cost (fit on {small} rows, b={warm_budget})")
        if len(peer_picks) != budget:
            notes.append(f"peer returned {len(peer_picks)} picks")
        note = "; ".join(notes)
        rows.append(
            make_row(
                f"greedy max coverage {label}",
                "lazy greedy (numba)",
                ours_s,
                peer=name,
                peer_s=peer_s,
                coverage_ours=ours_coverage,
                coverage_peer=coverage(fields, peer_picks),
                note=note,
            )
        )
    if full_call:
        graphreach(graph, pool[:small], warm_budget, hops=hops)
        call_s, selection = best_time(lambda: graphreach(graph, pool, budget, hops=hops))
        rows.append(
            make_row(
                f"graphreach() {label}", "graphreach (whole call)", call_s, coverage_ours=int(selection.objective[-1])
            )
        )
    return rows


# --------------------------------------------------------------------------------------------------
# MaxSpec
# --------------------------------------------------------------------------------------------------


def bench_maxspec(
    workdir: str | os.PathLike,
    budget: int,
    hops: int = 1,
    candidates: str = "replogle",
    n_candidates: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """Time ``perturb_select.selection.maxspec`` on a candidate pool (no peer).

    Parameters
    ----------
    workdir : path-like
        Holds the prepared inputs.
    budget : int
        Picks; lowered to the pool size when larger.
    hops : int
        K.
    candidates : {'replogle', 'all'}
    n_candidates : int, optional
        Seeded, nested subset of the pool (:func:`candidate_pool`); None: the whole pool.
    seed : int

    Returns
    -------
    list of dict
        One row: seconds, coverage of the picks (nodes reached) and the final criterion value.
    """
    from perturb_select.knowledge.graph import receptive_fields
    from perturb_select.selection.maxspec import maxspec

    graph = load_graph(workdir)
    pool = candidate_pool(graph, workdir, candidates, n_candidates, seed)
    budget = min(budget, len(pool))
    maxspec(graph, pool[:20], 2, hops=hops)  # warm-up
    seconds, selection = best_time(lambda: maxspec(graph, pool, budget, hops=hops))
    picks = graph.index_of(selection.genes)
    reached = coverage(receptive_fields(graph, picks, hops), np.arange(len(picks)))
    return [
        make_row(
            f"maxspec K={hops} b={budget}, {len(pool)} candidates",
            "maxspec",
            seconds,
            coverage_ours=reached,
            note=f"criterion {selection.objective[-1]:.6f}",
            budget=budget,
            pool=len(pool),
        )
    ]


def bench_maxspec_agreement(
    workdir: str | os.PathLike, budget: int = 40, hops: int = 1, candidates: str = "replogle"
) -> list[dict]:
    """MaxSpec's shortlisted greedy (the default) against the exhaustive greedy (``shortlist=None``).

    Parameters
    ----------
    workdir : path-like
        Holds the prepared inputs.
    budget : int
        Picks compared (the exhaustive greedy solves one sparse singular-value problem per candidate
        and pick, so keep it small: ~3 s per pick for the 1,085 Replogle candidates on 2 cores).
    hops : int
    candidates : {'replogle', 'all'}

    Returns
    -------
    list of dict
        One row: both times, both coverages; ``identical_prefix`` (how many first picks agree, in
        order) and ``max_objective_difference`` as fields and in the note.
    """
    from perturb_select.knowledge.graph import receptive_fields
    from perturb_select.selection.maxspec import SHORTLIST, maxspec

    graph = load_graph(workdir)
    pool = candidate_pool(graph, workdir, candidates)
    budget = min(budget, len(pool))
    maxspec(graph, pool[:20], 2, hops=hops)  # warm-up
    maxspec(graph, pool[:20], 2, hops=hops, shortlist=None)
    ours_s, ours = best_time(lambda: maxspec(graph, pool, budget, hops=hops))
    peer_s, exact = best_time(lambda: maxspec(graph, pool, budget, hops=hops, shortlist=None))
    same = np.asarray(ours.genes) == np.asarray(exact.genes)
    prefix = int(np.argmin(same)) if not same.all() else len(same)
    difference = float(np.max(np.abs(ours.objective - exact.objective)))

    def reach(selection):
        picks = graph.index_of(selection.genes)
        return coverage(receptive_fields(graph, picks, hops), np.arange(len(picks)))

    note = (
        f"first {prefix} of {budget} picks identical, {int(same.sum())} equal positions; "
        f"max objective difference {difference:.2g}"
    )
    return [
        make_row(
            f"maxspec K={hops} b={budget}, {len(pool)} candidates",
            f"maxspec shortlist={SHORTLIST}",
            ours_s,
            peer="maxspec shortlist=None (exhaustive)",
            peer_s=peer_s,
            coverage_ours=reach(ours),
            coverage_peer=reach(exact),
            note=note,
            identical_prefix=prefix,
            max_objective_difference=difference,
        )
    ]


# --------------------------------------------------------------------------------------------------
# Jaccard graph
# --------------------------------------------------------------------------------------------------


def bench_jaccard_full(data: str | os.PathLike, k: int = 20, threshold: float = 0.1) -> list[dict]:
    """Build the GO graph from the full human gene2go: reading (goatools) and Jaccard top-k, timed apart.

    Parameters
    ----------
    data : path-like
        The shared data directory.
    k, threshold : int, float
        ``jaccard_topk_edges`` parameters.

    Returns
    -------
    list of dict
        Rows for ``read_gene2go_symbols``, ``jaccard_topk_edges`` and their sum.
    """
    from perturb_select.knowledge.annotations import read_gene2go_symbols
    from perturb_select.knowledge.jaccard import jaccard_topk_edges

    data = Path(data)

    def read():
        return read_gene2go_symbols(data / GO_FILES["gene2go"], data / GO_FILES["gene_info"], data / GO_FILES["obo"])

    read_s, gene_terms = best_time(read)
    some = list(gene_terms)[:500]
    jaccard_topk_edges(gene_terms, k=k, threshold=threshold, genes=some)  # warm-up
    jaccard_s, edges = best_time(lambda: jaccard_topk_edges(gene_terms, k=k, threshold=threshold))
    nodes = len(pd.unique(pd.concat([edges["source"], edges["target"]], ignore_index=True)))
    return [
        make_row(
            "read gene2go (full human)", "read_gene2go_symbols", read_s, note=f"{len(gene_terms)} genes with GO terms"
        ),
        make_row(
            f"Jaccard top-{k} graph (full human)",
            "jaccard_topk_edges",
            jaccard_s,
            note=f"{nodes} nodes, {len(edges)} edges",
        ),
        make_row("GO graph total (read + Jaccard)", "read + jaccard_topk_edges", read_s + jaccard_s),
    ]


def gears_make_go(
    gene_terms: dict, genes: Sequence[str], *, k: int = 20, workers: int = 2
) -> tuple[pd.DataFrame, float]:
    """GEARS's own GO graph on ``genes``: ``make_GO`` then ``get_similarity_network``'s top-k step.

    ``make_GO`` (cell-gears 0.1.2, ``gears/utils.py``) loads ``gene2go_all.pkl`` from its data path,
    keeps the genes of ``pert_list`` and scores every ordered pair in a ``multiprocessing.Pool``,
    keeping Jaccard > 0.1 (self pairs included, score 1). ``get_similarity_network`` then keeps, per
    target, ``nlargest(k + 1)`` rows: the self-loop plus the k best others. The pickle holds only
    ``genes`` (what ``make_GO`` keeps anyway) and the call runs in a fresh temporary directory,
    because ``make_GO`` returns a cached ``./data/go_essential_<name>.csv`` when one exists.

    Parameters
    ----------
    gene_terms : dict of str to set of str
    genes : sequence of str
        ``pert_list``; every gene must have GO terms.
    k : int
        GEARS's ``num_similar_genes_go_graph``.
    workers : int
        ``make_GO``'s ``num_workers`` (its default of 25 is meant for a large machine).

    Returns
    -------
    edges : pandas.DataFrame
        ``source, target, importance`` after the top-k step, self-loops included (as GEARS).
    make_go_s : float
        Seconds of ``make_GO`` alone (the rest is the top-k step).
    """
    from gears.utils import make_GO

    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="gears_make_go_") as tmp:
        with open(Path(tmp) / "gene2go_all.pkl", "wb") as handle:
            pickle.dump({g: set(gene_terms[g]) for g in genes}, handle)
        os.chdir(tmp)
        try:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                all_pairs = make_GO(tmp, list(genes), "bench", num_workers=workers, save=False)
                make_go_s = time.perf_counter() - start
                edges = (
                    all_pairs.groupby("target")
                    .apply(lambda x: x.nlargest(k + 1, ["importance"]))
                    .reset_index(drop=True)
                )
        finally:
            os.chdir(previous)
    return edges, make_go_s


def edge_agreement(ours: pd.DataFrame, gears: pd.DataFrame) -> dict:
    """Compare two ``source, target`` edge tables, self-loops ignored.

    Returns
    -------
    dict
        ``ours``, ``gears`` (edge counts), ``common`` (edges in both), ``max_weight_difference``
        (largest ``|importance|`` difference over the common edges).
    """

    def keyed(frame):
        frame = frame[frame["source"] != frame["target"]]
        return frame.set_index(["source", "target"])["importance"].astype(np.float64)

    a, b = keyed(ours), keyed(gears)
    common = a.index.intersection(b.index)
    difference = float(np.max(np.abs(a[common].to_numpy() - b[common].to_numpy()))) if len(common) else 0.0
    return {"ours": len(a), "gears": len(b), "common": len(common), "max_weight_difference": difference}


def bench_jaccard_gears(
    workdir: str | os.PathLike,
    n_genes: int = 2000,
    seed: int = 0,
    k: int = 20,
    threshold: float = 0.1,
    workers: int | None = None,
) -> list[dict]:
    """Jaccard top-k graph on a seeded subset of genes: ``jaccard_topk_edges`` against GEARS's ``make_GO``.

    Both see the same universe, the subset (``make_GO`` scores only pairs inside ``pert_list``), so
    ours is ``jaccard_topk_edges(gene_terms, genes=subset)``. The edge sets are compared without
    self-loops (GEARS keeps one per gene, ours none).

    Parameters
    ----------
    workdir : path-like
        Holds ``GENE_TERMS_FILE``.
    n_genes : int
        Subset size, drawn with ``numpy.random.default_rng(seed)`` from the sorted genes with GO terms.
    seed : int
    k, threshold : int, float
        GEARS's values (``make_GO`` hard-codes 0.1).
    workers : int, optional
        ``make_GO``'s ``num_workers``; default the number of CPUs.

    Returns
    -------
    list of dict
        One row; the note holds the edge agreement and GEARS's worker peak memory is reported by
        the runner (``children_peak_rss_mib``).
    """
    from perturb_select.knowledge.jaccard import jaccard_topk_edges

    with open(Path(workdir) / GENE_TERMS_FILE, "rb") as handle:
        gene_terms = pickle.load(handle)
    genes = sorted(gene_terms)
    subset = sorted(genes[i] for i in np.random.default_rng(seed).choice(len(genes), n_genes, replace=False))
    workers = workers or os.cpu_count() or 1

    warm = subset[:50]
    jaccard_topk_edges(gene_terms, k=k, threshold=threshold, genes=warm)
    gears_make_go(gene_terms, warm, k=k, workers=workers)

    ours_s, ours = best_time(lambda: jaccard_topk_edges(gene_terms, k=k, threshold=threshold, genes=subset))
    gears_s, (gears, make_go_s) = best_time(lambda: gears_make_go(gene_terms, subset, k=k, workers=workers))
    agreement = edge_agreement(ours, gears)
    note = (
        f"edges ours {agreement['ours']}, GEARS {agreement['gears']} (self-loops dropped), "
        f"common {agreement['common']}, max weight diff {agreement['max_weight_difference']:.2g}; "
        f"make_GO {make_go_s:.1f} s of GEARS's time, {workers} workers"
    )
    return [
        make_row(
            f"Jaccard top-{k} graph, {n_genes} genes",
            "jaccard_topk_edges",
            ours_s,
            peer="GEARS make_GO + top-k",
            peer_s=gears_s,
            note=note,
            edges_ours=agreement["ours"],
            edges_gears=agreement["gears"],
            edges_common=agreement["common"],
            make_go_s=make_go_s,
        )
    ]


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


TABLE_COLUMNS = (
    "benchmark",
    "ours",
    "ours s",
    "peer",
    "peer s",
    "ratio",
    "coverage ours / peer",
    "peak RSS MiB",
    "RSS increase MiB",
    "note",
)


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows as a GitHub markdown table (columns ``TABLE_COLUMNS``)."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for row in rows:
        if row.get("coverage_ours") is None:
            covered = "-"
        elif row.get("coverage_peer") is None:
            covered = _number(row["coverage_ours"])
        else:
            covered = f"{_number(row['coverage_ours'])} / {_number(row['coverage_peer'])} = {row['coverage_ratio']:.4f}"
        ratio = f"{row['ratio']:.1f}x" if row.get("ratio") is not None else "-"
        cells = [
            row["benchmark"],
            row["ours"],
            _number(row["ours_s"]),
            row["peer"] or "-",
            _number(row["peer_s"]),
            ratio,
            covered,
            _number(row.get("peak_rss_mib")),
            _number(row.get("rss_increase_mib")),
            row.get("note") or "",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def scaling_table(rows: Sequence[dict]) -> str:
    """MaxSpec seconds as a markdown table: one line per budget, one column per pool size.

    Uses the rows that carry ``budget`` and ``pool`` (:func:`bench_maxspec`, or the runner's
    placeholders for grid points that timed out or were skipped, whose ``note`` says so).
    """
    grid = {(row["budget"], row["pool"]): row for row in rows if "budget" in row and "pool" in row}
    budgets = sorted({b for b, _ in grid})
    pools = sorted({p for _, p in grid})
    header = ["budget"] + [f"{pool} candidates" for pool in pools]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for budget in budgets:
        cells = [str(budget)]
        for pool in pools:
            row = grid.get((budget, pool))
            if row is None:
                cells.append("-")
            elif row["ours_s"] is None:
                cells.append(row.get("note") or "-")
            else:
                cells.append(f"{_number(row['ours_s'])} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
