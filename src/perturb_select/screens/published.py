"""Datasets already in GEARS's processed layout (``format: gears``): the paper's screens as GEARS ships them.

cell-gears's ``PertData.load(data_name)`` downloads a zip archive from Harvard Dataverse (the file ids
are in ``resources/datasets.yaml``) and reads ``<name>/perturb_processed.h5ad`` from it. Here:

* ``knowledge.fetch.extract_member`` takes that one file out of the archive (safe paths, atomic);
* :func:`validate_gears_adata` checks the layout the rest of the pipeline relies on (conditions
  ``ctrl`` / ``GENE+ctrl`` / ``ctrl+GENE`` / ``A+B``, the DE keys in ``uns`` for every condition,
  unique var_names, a finite non-negative expression matrix);
* :func:`prepare_gears_screen` resolves the perturbed genes to graph nodes exactly as raw screens are
  (``screens.raw.preprocess_screen``): single-gene conditions become candidates, the rest is dropped with its
  reason; the spellings of one gene (``G+ctrl``, ``ctrl+G``, spaces) become one condition ``G+ctrl`` with
  its cells pooled, and a gene listed under an outdated symbol is renamed everywhere its condition appears.

What a published file holds and what is read from it is listed in README ("GEARS-layout datasets").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Collection

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError
from .layout import (
    CANDIDATE_COLUMNS,
    CTRL,
    DE_KEYS,
    DROPPED_COLUMNS,
    ScreenData,
    check_condition_keys,
    condition_genes,
    condition_of,
    read_h5ad_file,
)
from .raw import gears_de_genes

#: Every ``uns`` entry keyed by condition name (renamed together when a gene symbol is updated).
CONDITION_KEYED = DE_KEYS


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def read_gears_dataset(path: str | os.PathLike) -> ad.AnnData:
    """Read and validate a GEARS ``perturb_processed.h5ad`` (:func:`validate_gears_adata`).

    Raises
    ------
    InputError
        Not a readable h5ad file, or a layout error (source: the file, field: the part at fault).
    """
    adata = read_h5ad_file(path)
    validate_gears_adata(adata, Path(path))
    return adata


def validate_gears_adata(adata: ad.AnnData, source) -> None:
    """Check GEARS's processed layout; converts a dense ``X`` to csr in place (nothing is recomputed).

    Checked: ``obs['cell_type']`` present, ``obs['condition']`` (every value ``ctrl``, ``GENE+ctrl``,
    ``ctrl+GENE`` or ``A+B``; the control present), ``obs['condition_name']`` and the condition-keyed ``uns`` entries
    (:func:`screens.layout.check_condition_keys`: one name per condition and one condition per name, no
    ``'/'``, every DE key with a non-empty entry for every perturbed condition, gene indices in range),
    ``var_names`` unique and non-empty, ``var['gene_name']`` present (GEARS reads gene names from it),
    and ``X`` finite and non-negative (log-normalised expression).

    Raises
    ------
    InputError
        ``(source, field, problem)`` with field e.g. ``"obs['condition']"``, ``"uns['top_non_dropout_de_20']"``
        or ``'X'``.
    """
    for column in ("condition", "condition_name", "cell_type"):
        if column not in adata.obs.columns:
            raise InputError(source, f"obs['{column}']", "column missing: not a GEARS processed file")
    conditions = pd.unique(adata.obs["condition"].astype(str))
    bad = [c for c in conditions if condition_genes(c) is None]
    if bad:
        raise InputError(
            source, "obs['condition']", f"{len(bad)} conditions are neither ctrl, GENE+ctrl nor A+B: {sorted(bad)[:5]}"
        )
    if not any(condition_genes(c) == () for c in conditions):
        raise InputError(source, "obs['condition']", "no control cells (condition 'ctrl')")
    check_condition_keys(adata, source)  # names one-to-one, no '/', every DE entry present and in range
    genes = np.asarray(adata.var_names).astype(str)
    if len(genes) == 0 or (genes == "").any() or len(set(genes.tolist())) != len(genes):
        raise InputError(source, "var_names", "gene names must be non-empty and unique")
    if "gene_name" not in adata.var.columns:
        raise InputError(source, "var['gene_name']", "column missing (GEARS reads gene names from it)")
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    not_finite = int(np.count_nonzero(~np.isfinite(values)))
    if not_finite:
        raise InputError(source, "X", f"{not_finite} values are NaN or infinite")
    if values.size and values.min() < 0:
        raise InputError(source, "X", "negative values: expected log-normalised expression")
    if not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(np.asarray(adata.X, dtype=np.float32))


# --------------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------------


def prepare_gears_screen(
    adata: ad.AnnData, *, graph_genes: Collection[str], resolver, source: str = "<screen>"
) -> ScreenData:
    """Candidates and dropped perturbations of a validated GEARS dataset, its conditions in one spelling.

    Every single-gene condition's gene is resolved with ``resolver`` (as ``screens.raw.preprocess_screen``
    resolves raw labels). Dropped with their reason, and their cells with them: a gene that is not a node
    of ``graph_genes``, an ambiguous or unknown symbol, a gene another label already gives (e.g. an old and
    a current symbol of one gene), and every double perturbation (the experiment picks single genes).

    What the published files hold, read as one perturbation per gene:

    * ``'G+ctrl'``, ``'ctrl+G'`` and spellings with spaces around a part (GEARS issue 71) of one gene are
      one candidate, ``'G+ctrl'``; when there are several, their cells are pooled and their DE genes
      recomputed on the pooled cells as GEARS computes them (``screens.raw.gears_de_genes``; Norman lists
      some genes both ways, GEARS issue 6). A lone spelling keeps the file's DE genes.
    * A gene under an outdated symbol is renamed to the graph's symbol (GEARS finds a perturbation's graph
      node by that name).
    * A renamed condition's ``condition_name`` is GEARS's ``'{cell_type}_{condition}_{dose_val}'``
      with the new condition; the condition-keyed ``uns`` entries (:data:`CONDITION_KEYED`) follow it
      and keep only the kept conditions.
    * ``var_names`` (Ensembl ids in the published files), ``var['gene_name']`` (which may repeat a symbol,
      GEARS issue 68), ``X``, layers and cell types (``K562(?)``) are kept as they are: DE genes are
      var-index ids, and every array the pipeline builds is indexed by ``var_names``. A perturbed gene
      need not be measured (GEARS places it on the GO graph).

    Parameters
    ----------
    adata : anndata.AnnData
        Passed :func:`validate_gears_adata`.
    graph_genes : collection of str
    resolver : perturb_select.knowledge.symbols.SymbolResolver
    source : str
        Names the file in log and error messages.

    Returns
    -------
    ScreenData
        As ``screens.raw.preprocess_screen`` returns it (same ``candidates`` and ``dropped`` columns;
        ``perturbation`` the gene as the file writes it, ``n_cells`` over all its spellings; ``dropped``
        one row per condition as the file spells it, ``status`` ``'combination'`` for double
        perturbations).

    Raises
    ------
    InputError
        No single-gene condition resolves to a graph node.
    """
    graph_genes = frozenset(graph_genes)
    counts = adata.obs["condition"].astype(str).value_counts()
    spellings: dict[str, list[str]] = {}  # the perturbed gene as written -> its conditions
    controls: list[str] = []
    dropped = []
    for condition in sorted(counts.index):
        genes = condition_genes(condition)
        if genes == ():
            controls.append(condition)
        elif len(genes) == 2:
            dropped.append(
                (
                    condition,
                    int(counts[condition]),
                    "combination",
                    "double perturbation: the experiment picks single-gene perturbations",
                )
            )
        else:
            spellings.setdefault(genes[0], []).append(condition)
    kept: dict[str, tuple[str, str, list[str]]] = {}  # graph symbol -> (label, resolution, conditions)
    for label in sorted(spellings):
        conditions = spellings[label]
        resolution = resolver.resolve(label)
        if not resolution.ok or resolution.symbol not in graph_genes:
            status = resolution.status if not resolution.ok else "not_in_graph"
            reason = resolution.reason or f"{label} is not a graph node"
        elif resolution.symbol in kept:
            status = "duplicate"
            reason = f"{label} resolves to {resolution.symbol}, already given by {kept[resolution.symbol][0]}"
        else:
            kept[resolution.symbol] = (label, resolution.status, conditions)
            continue
        dropped.extend((c, int(counts[c]), status, reason) for c in conditions)
    if not kept:
        raise InputError(source, "obs['condition']", "no single-gene condition names a gene of the GO graph")

    renames = {c: CTRL for c in controls}
    renames.update({c: condition_of(symbol) for symbol, (_, _, conds) in kept.items() for c in conds})
    out = adata[adata.obs["condition"].astype(str).isin(set(renames)).to_numpy()].copy()
    pooled = {condition_of(symbol) for symbol, (_, _, conds) in kept.items() if len(conds) > 1}
    _relabel_conditions(out, renames, pooled)
    candidates = pd.DataFrame(
        [
            (symbol, label, condition_of(symbol), sum(int(counts[c]) for c in conds), status)
            for symbol, (label, status, conds) in kept.items()
        ],
        columns=list(CANDIDATE_COLUMNS),
    ).sort_values("gene", ignore_index=True)
    candidates["n_cells"] = candidates["n_cells"].astype(np.int64)
    dropped = pd.DataFrame(dropped, columns=list(DROPPED_COLUMNS)).sort_values("perturbation", ignore_index=True)
    dropped["n_cells"] = dropped["n_cells"].astype(np.int64)
    return ScreenData(adata=out, candidates=candidates, dropped=dropped)


def _relabel_conditions(adata: ad.AnnData, renames: dict[str, str], pooled: set[str]) -> None:
    """Give every cell its condition in one spelling (``renames``: file's condition -> ours), in place.

    Condition names follow (a condition the file already spells our way keeps its name; GEARS's rule
    ``'{cell_type}_{condition}_{dose_val}'`` names the others); the condition-keyed ``uns`` entries are
    moved to the new names and restricted to the conditions present; those of ``pooled`` conditions are
    recomputed from their pooled cells.
    """
    old = adata.obs["condition"].astype(str).to_numpy()
    old_names = adata.obs["condition_name"].astype(str).to_numpy()
    present, first_cell = np.unique(old, return_index=True)
    first = dict(zip(present.tolist(), first_cell.tolist()))  # a cell of each condition
    new_of_old = {c: renames[c] for c in first}
    name = {new: old_names[first[c]] for c, new in new_of_old.items() if c == new}
    for c, new in sorted(new_of_old.items()):
        if new not in name:
            cell = first[c]
            cell_type = str(adata.obs["cell_type"].iat[cell])
            name[new] = "_".join([cell_type, new, "1" if new == CTRL else "1+1"])
    source_name = {new: old_names[first[c]] for c, new in new_of_old.items() if new not in pooled}
    new = np.array([new_of_old[c] for c in old.tolist()], dtype=object)
    adata.obs["condition"] = pd.Categorical(new.astype(str))
    adata.obs["condition_name"] = pd.Categorical([name[c] for c in new.tolist()])
    recomputed = {}
    if pooled:
        cells = np.isin(new, sorted(pooled | {CTRL}))
        recomputed = gears_de_genes(adata[cells], name[CTRL])
    for key in CONDITION_KEYED:
        if key not in adata.uns:
            continue
        entries = adata.uns[key]
        adata.uns[key] = {
            name[c]: (recomputed[key][name[c]] if c in pooled else entries[source_name[c]])
            for c in sorted(name)
            if c != CTRL
        }
