"""Stages of ``workflow/rules/data.smk``: a screen fetched (or, SIMULATED, drawn) and brought into GEARS's
layout (env ``envs/scanpy.yaml``)."""

from __future__ import annotations

import logging
from typing import Mapping

from ..config import DatasetConfig
from ..io import InputError
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

    ``format: raw`` and ``simulated`` (``screens.raw.preprocess_screen``): raw counts normalised, DE genes
    computed as GEARS;
    ``format: gears`` (``screens.published``): GEARS's ``perturb_processed.h5ad`` validated, its perturbed
    genes resolved, the spellings of one gene pooled (DE genes recomputed only for those).
    ``arrays_out`` (``screen.npz``) is what training jobs read.
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


def simulate_dataset(edges: str, gene_info: str, candidates: str, reference: str, screen_out: str, truth_out: str,
                     name: str, dataset: Mapping, taxid: int, hops: int = 1) -> None:
    """Rule simulate_dataset: a SIMULATED raw-count screen and its truth (``screens.simulated``).

    The candidate list's symbols are resolved to GO-graph nodes through gene_info (as a screen's targets
    are); the control expression is fitted on the reference screen's control cells
    (``screens.simulated.fit_control_model``); the screen (``screen_out``, read by ``preprocess_dataset``
    as a raw screen) and the truth (``truth_out``) are drawn with the dataset's ``simulation`` block and
    ``seed``; ``hops`` is K of the receptive-field mechanism (``gears.num_go_gnn_layers``).

    Raises
    ------
    InputError
        A reference without control cells, fewer than 3 resolved candidates, a bad simulation setting.
    """
    from ..knowledge.symbols import read_gene_list
    from ..screens.simulated import fit_control_model, simulate_screen, write_simulated_screen

    config = DatasetConfig.from_config(name, dataset)
    graph = KnowledgeGraph.read(edges)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=set(graph.genes), taxid=taxid)
    resolutions = resolver.resolve_many(read_gene_list(candidates))
    genes = sorted({r.symbol for r in resolutions if r.ok})
    log.info("SIMULATED screen %s: %d of %d listed symbols resolved to graph nodes", name, len(genes),
             len(resolutions))
    screen = read_screen(reference, config.perturbation_key)
    is_control = (screen.obs[config.perturbation_key].astype(str) == config.control_label).to_numpy()
    if not is_control.any():
        raise InputError(reference, config.perturbation_key, f"no control cells labelled {config.control_label!r}")
    control = fit_control_model(screen.X[is_control], source=reference)
    log.info("control model: %d genes of %d control cells (log library size sd %.3f)", len(control.means),
             int(is_control.sum()), control.log_library_sd)
    simulated = simulate_screen(graph, genes, control, config.simulation, seed=config.seed,
                                control_label=config.control_label, hops=int(hops))
    write_simulated_screen(simulated, screen_out, truth_out, reference=str(reference),
                           perturbation_key=config.perturbation_key)
    log.info("%d cells x %d genes, %d perturbations (%d strong)", simulated.counts.shape[0],
             simulated.counts.shape[1], len(simulated.candidates), int(simulated.strong.sum()))
