"""Stages of ``workflow/rules/data.smk``: a screen fetched and brought into GEARS's layout (env
``envs/scanpy.yaml``)."""

from __future__ import annotations

import logging
from typing import Mapping

from ..config import DatasetConfig
from ..knowledge.fetch import fetch_input
from ..knowledge.graph import KnowledgeGraph
from ..knowledge.symbols import SymbolResolver
from ..screens.arrays import ScreenArrays
from ..screens.layout import write_screen_outputs
from ..screens.published import prepare_gears_screen, read_gears_dataset
from ..screens.raw import preprocess_screen, read_screen

log = logging.getLogger("perturb_select")


def fetch_dataset(output: str, name: str, dataset: Mapping) -> None:
    """Rule fetch_dataset: the screen from the mirror or its URL (``config.DatasetConfig.source``); for a
    GEARS-layout dataset only ``archive_member`` of the archive is kept."""
    fetch_input(output, **DatasetConfig.from_config(name, dataset).source())


def preprocess_dataset(screen: str, edges: str, gene_info: str, adata_out: str, arrays_out: str,
                       candidates_out: str, dropped_out: str, name: str, dataset: Mapping, taxid: int) -> None:
    """Rule preprocess_dataset: a screen -> GEARS layout, its arrays, candidates and dropped perturbations.

    ``format: raw`` (``screens.raw.preprocess_screen``): raw counts normalised, DE genes computed as GEARS;
    ``format: gears`` (``screens.published``): GEARS's ``perturb_processed.h5ad`` validated, its perturbed
    genes resolved, nothing recomputed. ``arrays_out`` (``screen.npz``) is what training jobs read.
    """
    config = DatasetConfig.from_config(name, dataset)
    graph = KnowledgeGraph.read(edges)
    graph_genes = set(graph.genes)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph_genes, taxid=taxid)
    if config.format == "gears":
        result = prepare_gears_screen(read_gears_dataset(screen), graph_genes=graph_genes, resolver=resolver,
                                      source=screen)
    else:
        result = preprocess_screen(
            read_screen(screen, config.perturbation_key), graph_genes=graph_genes, resolver=resolver,
            perturbation_key=config.perturbation_key, control_label=config.control_label,
            cell_type=config.cell_type, max_cells_per_condition=config.max_cells_per_condition,
            min_cells_per_condition=config.min_cells_per_condition, n_top_genes=config.n_top_genes,
            seed=config.seed, source=screen,
        )
    log.info("%d candidates, %d dropped", len(result.candidates), len(result.dropped))
    ScreenArrays.from_anndata(result.adata, source=adata_out).save(arrays_out)
    write_screen_outputs(result, adata_out, candidates_out, dropped_out)
