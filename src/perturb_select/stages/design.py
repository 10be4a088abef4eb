"""Stages of ``workflow/rules/design.smk``: screens designed from gene lists (env ``envs/numeric.yaml``)."""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

import pandas as pd

from ..config import DesignConfig
from ..design import STATUSES, run_design, write_design
from ..io import read_json, write_json, write_tsv
from ..knowledge.graph import KnowledgeGraph
from ..knowledge.symbols import SymbolResolver, read_gene_list
from . import as_paths

log = logging.getLogger("perturb_select")

#: Columns of ``results/design/summary.tsv``, in order.
SUMMARY_COLUMNS = (
    "design",
    "genes",
    "queries",
    *STATUSES,
    "candidates",
    "screened_perturbations",
    "required_perturbations",
    "excluded_perturbations",
    "method",
    "weights",
    "tie_break",
    "operator",
    "ties",
    "hops",
    "budget",
    "cycles",
    "perturbations_per_cycle",
    "graph_nodes",
    "start_covered_nodes",
    "covered_nodes",
    "coverage_fraction",
    "all_candidates_covered_nodes",
    "all_candidates_coverage_fraction",
    "seconds",
)


def design_screen(
    edges: str,
    gene_info: str,
    table_out: str,
    unresolved_out: str,
    plot_out: str,
    summary_out: str,
    design: Mapping,
    taxid: int,
) -> None:
    """Rule design_screen: one ``design:`` entry -> ranked picks, unresolved queries, coverage plot, summary.

    The same steps as ``perturb-select design`` (``perturb_select.design.run_design`` with the entry's
    ``DesignConfig.options``); ``design`` is the typed config entry (``DesignConfig.to_params``: its gene list,
    budget or cycles x perturbations per cycle, optional screened / require / exclude files, method, GraphReach's
    weights, tie rule, MaxSpec's operator, hops (``gears.num_go_gnn_layers`` unless the entry sets it), seed).
    Errors name the entry, the option being the field (``config: design.k562, field 'budget': ...``).
    """
    start = time.perf_counter()
    entry = DesignConfig.from_params(design)
    symbols = read_gene_list(entry.genes)
    lists = {key: read_gene_list(path) for key, path in entry.lists().items()}
    graph = KnowledgeGraph.read(edges)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph.genes, taxid=taxid)
    result = run_design(graph, symbols, resolver, **entry.options(), source=f"config: design.{entry.name}", **lists)
    summary = {
        "genes": str(entry.genes),
        **{f"{key}_file": str(path) for key, path in entry.lists().items()},
        **result.summary(),
    }
    log.info(
        "%d symbols -> %d candidates (%s); %s K=%d budget %d covers %d of %d nodes (%.4f), %d before the first pick",
        summary["queries"],
        summary["candidates"],
        ", ".join(f"{summary[s]} {s}" for s in STATUSES if summary[s]),
        result.label,
        summary["hops"],
        summary["budget"],
        summary["covered_nodes"],
        summary["graph_nodes"],
        summary["coverage_fraction"],
        summary["start_covered_nodes"],
    )
    write_design(
        result, graph, table_path=table_out, unresolved_path=unresolved_out, plot_path=plot_out, seed=entry.seed
    )
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(summary, summary_out)


def design(summaries: str | Sequence[str], designs: Sequence[str], output: str) -> None:
    """Rule design: one row per configured design (its name, then the ``design_screen`` summary fields);
    ``summaries`` are the designs' summary files in the order of ``designs``."""
    summaries = as_paths(summaries)
    if len(summaries) != len(designs):
        raise ValueError(f"{len(summaries)} summary files for {len(designs)} designs")
    rows = [{"design": name, **read_json(path)} for name, path in zip(designs, summaries)]
    write_tsv(pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)), output, float_format="%.6g")
