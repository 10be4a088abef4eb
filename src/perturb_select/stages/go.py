"""Stages of ``workflow/rules/go.smk``: the GO files and GEARS's Jaccard GO graph (env ``envs/numeric.yaml``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

from ..config import GraphConfig
from ..io import write_json, write_tsv
from ..knowledge.annotations import write_gears_gene2go
from ..knowledge.build import GoFiles, build_knowledge_graph
from ..knowledge.fetch import fetch_input

log = logging.getLogger("perturb_select")


def fetch_go_annotation(output: str, source: Mapping) -> None:
    """Rule fetch_go_annotation: one GO file from the mirror, else its URL, sha256-checked, atomically
    (``knowledge.fetch.fetch_input``). ``source`` holds the file's ``url``, ``mirror``, ``mirror_name`` and
    ``sha256`` (``knowledge.fetch.go_source``)."""
    fetch_input(output, source["url"], source["mirror"], source["mirror_name"], source["sha256"])


def build_go_graph(
    gene2go: str,
    obo: str,
    gene_info: str,
    edges_out: str,
    npz_out: str,
    stats_out: str,
    gene2go_out: str,
    graph: Mapping,
) -> None:
    """Rule build_go_graph: GO term sets per gene symbol -> Jaccard top-k graph, stats and GEARS's pickle.

    ``graph`` is the typed ``graph:`` block with ``go.taxid`` (``GraphConfig.to_params``). Writes the edge
    table as TSV (the Jaccard values as computed, float64), the same graph as ``.npz`` for the many jobs that read it
    (milliseconds instead of parsing the TSV), ``gene2go.pkl`` restricted to the graph's genes (the
    cell-gears trainer's input) and the summary JSON.
    """
    params = GraphConfig.from_params(graph)
    built = build_knowledge_graph(
        GoFiles(Path(gene2go), Path(obo), Path(gene_info)), params, scratch_dir=Path(edges_out).parent
    )  # the job's own folder, not /tmp
    write_tsv(built.edges, edges_out)
    built.graph.save_npz(npz_out)
    write_gears_gene2go({g: built.gene_terms[g] for g in built.graph.genes}, gene2go_out)
    write_json(built.stats, stats_out)
