"""Datasets already in GEARS's processed layout (``format: gears``): the paper's screens as GEARS ships them.

cell-gears's ``PertData.load(data_name)`` downloads a zip archive from Harvard Dataverse (the file ids
are in ``resources/datasets.yaml``) and reads ``<name>/perturb_processed.h5ad`` from it. Here:

* ``knowledge.fetch.extract_member`` takes that one file out of the archive (safe paths, atomic);
* :func:`validate_gears_adata` checks the layout the rest of the pipeline relies on (conditions
  ``ctrl`` / ``GENE+ctrl`` / ``ctrl+GENE`` / ``A+B``, the DE keys in ``uns`` for every condition,
  unique gene names, a finite non-negative expression matrix) without recomputing anything;
* :func:`prepare_gears_screen` resolves the perturbed genes to graph nodes exactly as raw screens are
  (``screens.raw.preprocess_screen``): single-gene conditions become candidates, the rest is dropped with its
  reason, and a gene listed under an outdated symbol is renamed everywhere its condition appears.
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
from .layout import (CANDIDATE_COLUMNS, CTRL, DE_KEYS, DROPPED_COLUMNS, REQUIRED_DE_KEYS, ScreenData,
                     condition_genes, read_h5ad_file)

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

    Checked: ``obs['cell_type']`` present, ``obs['condition']`` (every value ``ctrl``, ``GENE+ctrl``, ``ctrl+GENE`` or ``A+B``; the
    control present), ``obs['condition_name']`` (one per condition), ``var_names`` unique and
    non-empty, ``var['gene_name']`` present (GEARS reads gene names from it), every key of
    :data:`REQUIRED_DE_KEYS` in ``uns`` with an entry for every perturbed condition name, and ``X``
    finite and non-negative (log-normalised expression).

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
        raise InputError(source, "obs['condition']", f"{len(bad)} conditions are neither ctrl, GENE+ctrl nor "
                         f"A+B: {sorted(bad)[:5]}")
    if CTRL not in set(conditions):
        raise InputError(source, "obs['condition']", "no control cells (condition 'ctrl')")
    names = adata.obs[["condition", "condition_name"]].astype(str).drop_duplicates()
    if names["condition"].duplicated().any():
        several = names.loc[names["condition"].duplicated(), "condition"].tolist()
        raise InputError(source, "obs['condition_name']", f"conditions with several names: {several[:5]}")
    genes = np.asarray(adata.var_names).astype(str)
    if len(genes) == 0 or (genes == "").any() or len(set(genes.tolist())) != len(genes):
        raise InputError(source, "var_names", "gene names must be non-empty and unique")
    if "gene_name" not in adata.var.columns:
        raise InputError(source, "var['gene_name']", "column missing (GEARS reads gene names from it)")
    perturbed = names.loc[names["condition"] != CTRL, "condition_name"].tolist()
    for key in REQUIRED_DE_KEYS:
        if key not in adata.uns:
            raise InputError(source, f"uns['{key}']", "missing: DE genes are not in the file")
        missing = [n for n in perturbed if n not in adata.uns[key]]
        if missing:
            raise InputError(source, f"uns['{key}']", f"no entry for {len(missing)} conditions: {missing[:5]}")
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
    """Candidates and dropped perturbations of a validated GEARS dataset; the data itself unchanged.

    Every single-gene condition's gene is resolved with ``resolver`` (as ``screens.raw.preprocess_screen``
    resolves raw labels): a gene that is not a node of ``graph_genes``, an ambiguous or unknown
    symbol, a condition whose gene another condition already gives, and every double perturbation
    (the experiment picks single genes) are dropped with their reason, and so are their cells. A gene
    listed under an outdated symbol is renamed to the graph's symbol in ``obs['condition']``,
    ``obs['condition_name']`` and the condition-keyed ``uns`` entries (GEARS finds a perturbation's
    graph node by that name).

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
        ``status`` ``'combination'`` for double perturbations).

    Raises
    ------
    InputError
        No single-gene condition resolves to a graph node.
    """
    graph_genes = frozenset(graph_genes)
    obs = adata.obs
    counts = obs["condition"].astype(str).value_counts()
    kept: dict[str, tuple[str, str]] = {}  # condition -> (gene, resolution)
    taken: dict[str, str] = {}
    dropped = []
    for condition in sorted(counts.index):
        genes = condition_genes(condition)
        if genes == ():
            continue
        if len(genes) == 2:
            dropped.append((condition, int(counts[condition]), "combination",
                            "double perturbation: the experiment picks single-gene perturbations"))
            continue
        resolution = resolver.resolve(genes[0])
        if not resolution.ok or resolution.symbol not in graph_genes:
            status = resolution.status if not resolution.ok else "not_in_graph"
            dropped.append((condition, int(counts[condition]), status, resolution.reason or f"{genes[0]} is not a graph node"))
            continue
        if resolution.symbol in taken:
            dropped.append((condition, int(counts[condition]), "duplicate",
                            f"{genes[0]} resolves to {resolution.symbol}, already given by {taken[resolution.symbol]}"))
            continue
        taken[resolution.symbol] = condition
        kept[condition] = (resolution.symbol, resolution.status)
    if not kept:
        raise InputError(source, "obs['condition']", "no single-gene condition names a gene of the GO graph")

    keep_cells = obs["condition"].astype(str).isin(set(kept) | {CTRL}).to_numpy()
    out = adata[keep_cells].copy()
    renames = {c: f"{gene}+{CTRL}" for c, (gene, _) in kept.items() if f"{gene}+{CTRL}" != c}
    if renames:
        _rename_conditions(out, renames)
    candidates = pd.DataFrame(
        [(gene, condition_genes(c)[0], renames.get(c, c), int(counts[c]), status) for c, (gene, status) in kept.items()],
        columns=list(CANDIDATE_COLUMNS),
    ).sort_values("gene", ignore_index=True)
    candidates["n_cells"] = candidates["n_cells"].astype(np.int64)
    dropped = pd.DataFrame(dropped, columns=list(DROPPED_COLUMNS)).sort_values("perturbation", ignore_index=True)
    dropped["n_cells"] = dropped["n_cells"].astype(np.int64)
    return ScreenData(adata=out, candidates=candidates, dropped=dropped)


def _rename_conditions(adata: ad.AnnData, renames: dict[str, str]) -> None:
    """Rename conditions (and their condition names and condition-keyed ``uns`` entries) in place."""
    condition = adata.obs["condition"].astype(str)
    old_names = dict(zip(condition, adata.obs["condition_name"].astype(str)))
    name_renames = {old_names[old]: old_names[old].replace(old, new, 1) for old, new in renames.items() if old in old_names}
    adata.obs["condition"] = pd.Categorical(condition.replace(renames))
    adata.obs["condition_name"] = pd.Categorical(adata.obs["condition_name"].astype(str).replace(name_renames))
    for key in CONDITION_KEYED:
        if key in adata.uns:
            adata.uns[key] = {name_renames.get(k, k): v for k, v in adata.uns[key].items()}
