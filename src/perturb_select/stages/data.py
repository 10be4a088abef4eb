"""Stages of ``workflow/rules/data.smk``: a screen fetched (or, SIMULATED, drawn) and brought into GEARS's
layout (env ``envs/scanpy.yaml``)."""

from __future__ import annotations

import logging
from typing import Mapping

from ..config import DatasetConfig
from ..io import InputError, check_memory
from ..knowledge.fetch import fetch_input
from ..knowledge.graph import KnowledgeGraph
from ..knowledge.symbols import SymbolResolver
from ..screens.arrays import ScreenArrays
from ..screens.layout import read_candidates, write_screen_outputs
from ..screens.published import prepare_gears_screen, read_gears_dataset
from ..screens.raw import preprocess_screen, read_screen

log = logging.getLogger("perturb_select")


def fetch_dataset(output: str, dataset: Mapping) -> None:
    """Rule fetch_dataset: the screen from the mirror or its URL (``config.DatasetConfig.source``); for a
    GEARS-layout dataset only ``archive_member`` of the archive is kept. ``dataset`` is the typed dataset
    block as the rule passes it (``DatasetConfig.to_params``)."""
    fetch_input(output, **DatasetConfig.from_params(dataset).source())


def preprocess_dataset(
    screen: str,
    edges: str,
    gene_info: str,
    adata_out: str,
    arrays_out: str,
    candidates_out: str,
    dropped_out: str,
    dataset: Mapping,
    taxid: int,
    dataset_candidates: str | None = None,
) -> None:
    """Rules preprocess_dataset and preprocess_replicate: a screen -> GEARS layout, its arrays, candidates
    and dropped perturbations. ``dataset`` is the typed dataset block (``DatasetConfig.to_params``).

    ``format: raw`` and ``simulated`` (``screens.raw.preprocess_screen``): raw counts normalised, DE genes
    computed as GEARS;
    ``format: gears`` (``screens.published``): GEARS's ``perturb_processed.h5ad`` validated, its perturbed
    genes resolved, the spellings of one gene pooled (DE genes recomputed only for those).
    ``arrays_out`` (``screen.npz``) is what training jobs read.

    ``dataset_candidates``: one replicate of a replicated SIMULATED dataset (``simulation.replicate_screens``)
    is processed; its candidates must be the dataset's (rule ``simulated_candidates``), which the split and
    the selection were made from.

    Raises
    ------
    InputError
        Bad input (``screens.raw``, ``screens.published``); a replicate whose candidates are not the dataset's.
    """
    config = DatasetConfig.from_params(dataset)
    graph = KnowledgeGraph.read(edges)
    graph_genes = set(graph.genes)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph_genes, taxid=taxid)
    if config.format == "gears":
        result = prepare_gears_screen(
            read_gears_dataset(screen), graph_genes=graph_genes, resolver=resolver, source=screen
        )
    else:
        result = preprocess_screen(
            read_screen(screen, config.perturbation_key),
            graph_genes=graph_genes,
            resolver=resolver,
            perturbation_key=config.perturbation_key,
            control_label=config.control_label,
            cell_type=config.cell_type,
            max_cells_per_condition=config.max_cells_per_condition,
            min_cells_per_condition=config.min_cells_per_condition,
            n_top_genes=config.n_top_genes,
            seed=config.seed,
            source=screen,
        )
    log.info("%d candidates, %d dropped", len(result.candidates), len(result.dropped))
    if dataset_candidates is not None:
        _check_replicate_candidates(result, read_candidates(dataset_candidates), screen, dataset_candidates)
    ScreenArrays.from_anndata(result.adata, source=screen).save(arrays_out)  # errors name the input
    write_screen_outputs(result, adata_out, candidates_out, dropped_out)


def _check_replicate_candidates(result, expected: list, screen: str, dataset_candidates: str) -> None:
    """A replicate's processed candidates must be the dataset's: the split and the picks were made from those."""
    kept = set(result.candidates["gene"].astype(str))
    lost = [g for g in expected if g not in kept]
    extra = sorted(kept - set(expected))
    if lost or extra:
        reasons = (
            result.dropped.set_index("perturbation")["reason"].astype(str).to_dict() if len(result.dropped) else {}
        )
        examples = "; ".join(f"{g}: {reasons.get(g, 'not in the screen')}" for g in lost[:5])
        raise InputError(
            screen,
            "candidates",
            (
                f"this replicate's candidates differ from the dataset's ({dataset_candidates}): "
                f"{len(lost)} lost"
                + (f" (e.g. {examples})" if lost else "")
                + (f", {len(extra)} not among them (e.g. {extra[:5]})" if extra else "")
                + "; every replicate must keep every candidate (cells_per_perturbation against "
                "min_cells_per_condition)"
            ),
        )


def _resolved_candidates(graph: KnowledgeGraph, gene_info: str, candidates: str, taxid: int, name: str):
    """The candidate list's symbols resolved to GO-graph nodes (sorted, distinct) and the resolver.

    Raises
    ------
    InputError
        Naming the list file: fewer than 3 of its symbols are GO-graph nodes (with examples of why not).
    """
    from ..knowledge.symbols import read_gene_list

    resolver = SymbolResolver.from_gene_info(gene_info, universe=set(graph.genes), taxid=taxid)
    resolutions = resolver.resolve_many(read_gene_list(candidates))
    graph_genes = set(graph.genes)
    genes = sorted({r.symbol for r in resolutions if r.ok and r.symbol in graph_genes})
    if len(genes) < 3:
        lost = [r for r in resolutions if not r.ok or r.symbol not in graph_genes]
        examples = "; ".join(f"{r.query}: {r.reason or r.status}" for r in lost[:3])
        raise InputError(
            candidates,
            "genes",
            f"only {len(genes)} of its {len(resolutions)} symbols are GO-graph "
            f"nodes; a SIMULATED screen needs at least 3" + (f" (e.g. {examples})" if examples else ""),
        )
    log.info("SIMULATED screen %s: %d of %d listed symbols resolved to graph nodes", name, len(genes), len(resolutions))
    return genes, resolver


def simulated_candidates(
    candidates: str, edges: str, gene_info: str, candidates_out: str, dataset: Mapping, taxid: int
) -> None:
    """Rule simulated_candidates: the candidates of a replicated SIMULATED dataset, once for all replicates.

    The candidate list resolved to GO-graph nodes as :func:`simulate_dataset` resolves it: every replicate
    draws exactly these perturbations. The table has the columns of a processed screen's candidates
    (``screens.layout.CANDIDATE_COLUMNS``): each perturbation is labelled with its gene, ``resolution`` is
    that label's, ``n_cells`` the cells a replicate draws per perturbation after ``max_cells_per_condition``
    (a replicate's own table counts its cells after empty ones are dropped).

    Raises
    ------
    InputError
        Fewer than 3 resolved candidates.
    """
    import pandas as pd

    from ..io import write_tsv
    from ..screens.layout import CANDIDATE_COLUMNS, condition_of

    config = DatasetConfig.from_params(dataset)
    genes, resolver = _resolved_candidates(KnowledgeGraph.read(edges), gene_info, candidates, taxid, config.name)
    cap = config.max_cells_per_condition
    n_cells = (
        config.simulation.cells_per_perturbation if cap is None else min(config.simulation.cells_per_perturbation, cap)
    )
    table = pd.DataFrame(
        {
            "gene": genes,
            "perturbation": genes,
            "condition": [condition_of(g) for g in genes],
            "n_cells": n_cells,
            "resolution": [r.status for r in resolver.resolve_many(genes)],
        },
        columns=list(CANDIDATE_COLUMNS),
    )
    write_tsv(table, candidates_out)


def simulate_dataset(
    edges: str,
    gene_info: str,
    candidates: str,
    reference: str,
    screen_out: str,
    truth_out: str,
    dataset: Mapping,
    taxid: int,
    hops: int,
    replicate: int | str | None,
) -> None:
    """Rules simulate_dataset and simulate_replicate: a SIMULATED raw-count screen and its truth
    (``screens.simulated``).

    The candidate list's symbols are resolved to GO-graph nodes through gene_info (as a screen's targets
    are); the control expression is fitted on the reference screen's control cells
    (``screens.simulated.fit_control_model``); the screen (``screen_out``, read by ``preprocess_dataset``
    as a raw screen) and the truth (``truth_out``) are drawn with the dataset's ``simulation`` block and
    ``seed``; ``hops`` is K of the receptive-field mechanism (``gears.num_go_gnn_layers``). ``replicate``
    (``simulation.replicate_screens``: the experiment seed) draws that replicate of the dataset's seed
    (``simulate_screen(..., replicate=)``); None, the dataset's one screen.

    Raises
    ------
    InputError
        A reference without control cells, fewer than 3 resolved candidates, a bad simulation setting.
    """
    from ..screens.simulated import fit_control_model, simulate_screen, simulation_memory, write_simulated_screen

    config = DatasetConfig.from_params(dataset)
    graph = KnowledgeGraph.read(edges)
    genes, _ = _resolved_candidates(graph, gene_info, candidates, taxid, config.name)
    # before reading the reference: the dataset's key, not the library's bare one
    check_memory(
        simulation_memory(len(genes), config.simulation),
        "config",
        f"datasets.{config.name}.simulation.cells_per_perturbation",
        f"{len(genes)} candidates x cells_per_perturbation + control_cells, x n_genes simulated counts",
    )
    screen = read_screen(reference, config.perturbation_key)
    is_control = (screen.obs[config.perturbation_key].astype(str) == config.control_label).to_numpy()
    if not is_control.any():
        raise InputError(reference, config.perturbation_key, f"no control cells labelled {config.control_label!r}")
    control = fit_control_model(screen.X[is_control], source=reference)
    log.info(
        "control model: %d genes of %d control cells (log library size sd %.3f)",
        len(control.means),
        int(is_control.sum()),
        control.log_library_sd,
    )
    if replicate is not None:
        log.info("replicate %s (simulation.replicate_screens)", replicate)
    simulated = simulate_screen(
        graph,
        genes,
        control,
        config.simulation,
        seed=config.seed,
        control_label=config.control_label,
        hops=int(hops),
        replicate=None if replicate is None else int(replicate),
    )
    write_simulated_screen(
        simulated, screen_out, truth_out, reference=str(reference), perturbation_key=config.perturbation_key
    )
    log.info(
        "%d cells x %d genes, %d perturbations (%d strong)",
        simulated.counts.shape[0],
        simulated.counts.shape[1],
        len(simulated.candidates),
        int(simulated.strong.sum()),
    )
