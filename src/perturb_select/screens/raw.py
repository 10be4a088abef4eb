"""Raw-count Perturb-seq screen -> GEARS's processed layout (``perturb_processed.h5ad``).

The output follows what ``gears.PertData.new_data_process`` builds (cell-gears 0.1.2,
``gears/data_utils.py::get_DE_genes`` and ``get_dropout_non_zero_genes``), so GEARS would compute
exactly the same DE genes from it, and it can be handed to GEARS with ``skip_calc_de=True``:

* ``X``: ``log1p(normalize_total(counts, target_sum=1e4))`` as a csr float32 matrix.
* ``obs['condition']``: ``'ctrl'`` or ``'GENE+ctrl'``, GENE being the current official symbol that is a
  node of the GO graph (the screen's ``MARCH8`` becomes ``MARCHF8+ctrl``).
* ``obs['dose_val']``, ``obs['control']``, ``obs['condition_name']``: exactly the values of
  ``get_DE_genes``, which counts the ``+``-separated parts of a condition: ``'ctrl'`` has one part
  (dose ``'1'``, control ``1``) and ``'GENE+ctrl'`` has two (dose ``'1+1'``, control ``0``), so the
  names are ``'{cell_type}_ctrl_1'`` and ``'{cell_type}_GENE+ctrl_1+1'`` (as in GEARS's published
  ``norman``/``adamson`` files). Look names up through ``obs[['condition', 'condition_name']]``
  (as GEARS does) rather than rebuilding them.
* ``uns['rank_genes_groups_cov_all']``, ``uns['top_non_dropout_de_20']``, ``uns['top_non_zero_de_20']``,
  ``uns['non_zeros_gene_idx']``, ``uns['non_dropout_gene_idx']``: keyed by condition name, control
  excluded.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Collection

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from ..config import CONTROL_LABEL
from ..io import InputError
from .layout import (
    CANDIDATE_COLUMNS,
    CTRL,
    DE_KEYS,
    DROPPED_COLUMNS,
    N_DE,
    ScreenData,
    check_raw_counts,
    read_h5ad_file,
)

TARGET_SUM = 1e4
_RGG_TMP_KEY = "_perturb_select_rank_genes_groups"


def read_screen(path: str | os.PathLike, perturbation_key: str = "perturbation") -> ad.AnnData:
    """Read a raw-count screen from an h5ad file.

    Parameters
    ----------
    path : path-like
        An ``.h5ad`` file (AnnData), cells x genes.
    perturbation_key : str
        ``obs`` column holding each cell's perturbation label; must exist.

    Returns
    -------
    anndata.AnnData
        Loaded fully into memory.

    Raises
    ------
    InputError
        ``(path, None, ...)`` if the file is missing or not a readable h5ad file;
        ``(path, perturbation_key, ...)`` if the column is missing.
    """
    path = Path(path)
    adata = read_h5ad_file(path)
    _check_key(adata, perturbation_key, path)
    return adata


def preprocess_screen(
    adata: ad.AnnData,
    *,
    graph_genes: Collection[str],
    resolver,
    perturbation_key: str = "perturbation",
    control_label: str = CONTROL_LABEL,
    cell_type: str,
    max_cells_per_condition: int | None = None,
    min_cells_per_condition: int = 1,
    n_top_genes: int | None = None,
    seed: int = 0,
    source: str = "<screen>",
) -> ScreenData:
    """Turn a raw-count single-perturbation screen into GEARS's processed layout.

    Steps: validate; drop cells whose counts sum to zero (they cannot be normalised); resolve every
    distinct target label with ``resolver`` and drop (never crash on) labels that do not resolve to a
    node of ``graph_genes``, that have fewer than ``max(2, min_cells_per_condition)`` cells
    (scanpy's t-test needs two cells per group), or that resolve to a symbol already taken by another
    label (the kept label is the official one, else the first in sorted order); cap every condition,
    control included, at ``max_cells_per_condition`` cells; ``sc.pp.normalize_total(target_sum=1e4)``,
    ``sc.pp.log1p``; optionally keep the ``n_top_genes`` highly variable genes; compute the DE genes
    like GEARS.

    Parameters
    ----------
    adata : anndata.AnnData
        Cells x genes, ``X`` raw UMI counts (non-negative integers, any dtype, dense or sparse);
        ``var_names`` unique gene symbols; ``obs_names`` unique. Not modified.
    graph_genes : collection of str
        Nodes of the knowledge graph (official symbols). A condition's gene must be one of them.
    resolver : object
        Has ``resolve(symbol) -> perturb_select.knowledge.symbols.Resolution`` (``symbol``, ``status``, ``reason``,
        ``ok``), e.g. ``perturb_select.knowledge.symbols.SymbolResolver``.
    perturbation_key : str
        ``obs`` column with each cell's target symbol or ``control_label``.
    control_label : str
        Label of control (non-targeting) cells.
    cell_type : str
        Written to ``obs['cell_type']``; part of every condition name.
    max_cells_per_condition : int or None
        Cap on cells per condition, control included (None: no cap); must be >= 2 and
        >= ``min_cells_per_condition``. Cells are drawn without replacement with
        ``np.random.default_rng(seed)``, conditions in sorted order, each condition's cells sorted by
        ``obs_names`` first, so the choice depends only on the data and the seed (not on cell order).
    min_cells_per_condition : int
        Targets with fewer cells (before the cap) are dropped; values below 2 act as 2.
    n_top_genes : int or None
        If given, keep only this many highly variable genes, chosen by
        ``sc.pp.highly_variable_genes(flavor='seurat')`` on the log data after normalisation (the
        count-based ``seurat_v3`` flavour needs scikit-misc, which the project does not depend on).
        Normalisation uses all genes, so rows of ``expm1(X)`` then no longer sum to 1e4.
    seed : int
        Seed of the cap's random draw.
    source : str
        File or config key named in errors.

    Returns
    -------
    ScreenData
        ``adata`` cells in the input's order (a subset), ``X`` csr float32; see the class docstring.
        ``adata.uns['perturb_select']`` records the parameters and cell counts.

    Raises
    ------
    InputError
        ``(source, perturbation_key, ...)``: column missing, cells without a label, no / a single
        control cell, no perturbation left (with a summary of the reasons);
        ``(source, 'X', ...)``: negative, non-integer or non-finite values;
        ``(source, 'var_names' | 'obs_names', ...)``: duplicates;
        ``(source, <parameter>, ...)``: invalid ``cell_type``, cap, ``min_cells_per_condition``,
        ``n_top_genes``.
    """
    graph_genes = frozenset(graph_genes)
    min_cells = _check_params(adata, source, cell_type, max_cells_per_condition, min_cells_per_condition, n_top_genes)
    labels, counts, usable = _labels_and_counts(adata, perturbation_key, control_label, source)
    _check_control_label(resolver, control_label, graph_genes, source)
    label_counts = Counter(labels[usable].tolist())
    label_counts.pop(control_label, None)
    kept, dropped_rows = _choose_perturbations(label_counts, resolver, graph_genes, min_cells)
    if not kept:
        summary = Counter(row["status"] for row in dropped_rows)
        examples = "; ".join(f"{r['perturbation']}: {r['reason']}" for r in dropped_rows[:5])
        raise InputError(
            source,
            perturbation_key,
            f"no perturbation left after symbol resolution and filters "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(summary.items())) or 'no targets in the screen'}"
            f"; e.g. {examples or '-'})",
        )

    label_to_condition = {lab: f"{sym}+{CTRL}" for lab, (sym, _) in kept.items()}
    label_to_condition[control_label] = CTRL
    condition = np.array([label_to_condition.get(lab, "") for lab in labels], dtype=object)
    keep = usable & (condition != "")
    if max_cells_per_condition is not None:
        keep &= _cap_mask(condition, np.asarray(adata.obs_names), keep, max_cells_per_condition, seed)
    idx = np.flatnonzero(keep)

    out = _normalised(adata, counts, idx, n_top_genes)
    _check_cells_differ(out, source)
    cond = condition[idx].astype(str)
    _set_gears_obs(out, cond, labels[idx], cell_type)
    out.uns.update(gears_de_genes(out, f"{cell_type}_{CTRL}_1"))
    out.uns["perturb_select"] = {
        "source": str(source),
        "perturbation_key": perturbation_key,
        "control_label": control_label,
        "cell_type": cell_type,
        "seed": int(seed),
        "max_cells_per_condition": -1 if max_cells_per_condition is None else int(max_cells_per_condition),
        "min_cells_per_condition": int(min_cells_per_condition),
        "n_top_genes": -1 if n_top_genes is None else int(n_top_genes),
        "n_cells_input": int(adata.n_obs),
        "n_cells_zero_counts": int((~usable).sum()),
        "n_cells": int(out.n_obs),
        "n_genes": int(out.n_vars),
    }
    candidates, dropped = _screen_tables(kept, dropped_rows, label_to_condition, Counter(cond.tolist()))
    return ScreenData(adata=out, candidates=candidates, dropped=dropped)


def _labels_and_counts(adata: ad.AnnData, perturbation_key: str, control_label: str, source):
    """Each cell's label (str), the raw counts (csr) and which cells have a non-zero count total.

    Raises
    ------
    InputError
        Missing label column or labels, duplicated gene or cell names, counts that are not raw counts,
        fewer than 2 usable control cells.
    """
    _check_key(adata, perturbation_key, source)
    if not adata.var_names.is_unique:
        dup = adata.var_names[adata.var_names.duplicated()].unique()[:5].tolist()
        raise InputError(source, "var_names", f"gene names are not unique, e.g. {dup}")
    if not adata.obs_names.is_unique:
        dup = adata.obs_names[adata.obs_names.duplicated()].unique()[:5].tolist()
        raise InputError(source, "obs_names", f"cell names are not unique, e.g. {dup}")
    labels_raw = adata.obs[perturbation_key]
    if labels_raw.isna().any():
        raise InputError(source, perturbation_key, f"{int(labels_raw.isna().sum())} cells have no perturbation label")
    labels = labels_raw.astype(str).to_numpy()
    counts = _raw_counts(adata.X, source)
    usable = np.asarray(counts.sum(axis=1)).ravel() > 0
    n_zero = int((~usable).sum())
    n_control = int(np.sum(labels[usable] == control_label))
    if n_control == 0:
        raise InputError(
            source,
            perturbation_key,
            f"no control cells labelled '{control_label}'"
            + (f" with a non-zero count total ({n_zero} cells have none)" if n_zero else ""),
        )
    if n_control < 2:
        raise InputError(
            source,
            perturbation_key,
            f"only 1 control cell labelled '{control_label}'; DE genes need at least 2",
        )
    return labels, counts, usable


def _check_control_label(resolver, control_label: str, graph_genes: frozenset, source) -> None:
    """A control label that is the official symbol of a graph gene would be a target, not control."""
    control = resolver.resolve(control_label)
    if control.ok and control.status == "official" and control.symbol in graph_genes:
        raise InputError(
            source,
            "control_label",
            f"'{control_label}' is the official symbol of a gene of the graph (a perturbation target), not a "
            "control label; name the label of the screen's non-targeting cells",
        )


def _normalised(adata: ad.AnnData, counts: sp.csr_matrix, idx: np.ndarray, n_top_genes: int | None) -> ad.AnnData:
    """The kept cells ``idx``: ``normalize_total(1e4)``, ``log1p``, optional HVG; csr float32, ``gene_name``."""
    out = ad.AnnData(
        X=sp.csr_matrix(counts[idx], dtype=np.float32),
        obs=adata.obs.iloc[idx].copy(),
        var=adata.var.copy(),
        obsm={k: v[idx] for k, v in adata.obsm.items()},
        uns={k: v for k, v in adata.uns.items() if k not in DE_KEYS},
    )
    sc.pp.normalize_total(out, target_sum=TARGET_SUM)
    sc.pp.log1p(out)
    if n_top_genes is not None and n_top_genes < out.n_vars:
        sc.pp.highly_variable_genes(out, n_top_genes=n_top_genes, flavor="seurat", subset=True)
    out.X = sp.csr_matrix(out.X, dtype=np.float32)
    out.var["gene_name"] = out.var_names.astype(str)
    return out


def _screen_tables(kept: dict, dropped_rows: list, label_to_condition: dict, n_after: Counter):
    """The candidates (sorted by gene) and dropped (sorted by perturbation) tables of a raw screen."""
    candidates = pd.DataFrame(
        [
            {
                "gene": sym,
                "perturbation": lab,
                "condition": label_to_condition[lab],
                "n_cells": n_after[label_to_condition[lab]],
                "resolution": status,
            }
            for lab, (sym, status) in kept.items()
        ],
        columns=list(CANDIDATE_COLUMNS),
    ).sort_values("gene", ignore_index=True)
    candidates["n_cells"] = candidates["n_cells"].astype(np.int64)
    dropped = pd.DataFrame(dropped_rows, columns=list(DROPPED_COLUMNS))
    dropped = dropped.sort_values("perturbation", ignore_index=True)
    dropped["n_cells"] = dropped["n_cells"].astype(np.int64)
    return candidates, dropped


def gears_de_genes(adata: ad.AnnData, reference: str) -> dict:
    """GEARS's DE-gene dictionaries for a processed single-cell-type screen.

    Same values as ``gears/data_utils.py::get_DE_genes`` (which calls ``rank_genes_groups_by_cov``)
    followed by ``get_dropout_non_zero_genes``, computed with one ``sc.tl.rank_genes_groups`` call
    (t-test, ``rankby_abs=True``, ``n_genes=n_vars``, ``use_raw=False``, reference the control's
    condition name) and per-condition non-zero counts from one sparse product instead of one AnnData
    slice per perturbation. Genes are named by ``var_names`` (symbols here; a published file's ids).

    Parameters
    ----------
    adata : anndata.AnnData
        Log-normalised, non-negative ``X`` (n_cells x n_genes); ``obs['condition']`` and
        ``obs['condition_name']`` as set by :func:`preprocess_screen`. ``uns`` is left unchanged.
    reference : str
        The control cells' ``condition_name`` (GEARS: ``'{cell_type}_ctrl_1'``).

    Returns
    -------
    dict
        ``rank_genes_groups_cov_all``: condition_name -> list of all n_genes var names, most
        differentially expressed (by |t|) first; ``top_non_dropout_de_20`` / ``top_non_zero_de_20``:
        condition_name -> array of <= 20 var names (str); ``non_zeros_gene_idx`` /
        ``non_dropout_gene_idx``: condition_name -> sorted int64 gene indices. The control has no entry.
        A gene is non-zero for a condition if any of its cells expresses it, and non-dropout if it is
        non-zero or zero in the control as well (GEARS's "true zeros").
    """
    # rank_genes_groups writes into uns; run it on a shallow copy so the caller's uns is untouched.
    work = ad.AnnData(
        X=adata.X,
        obs=adata.obs[["condition_name"]].astype("category"),
        var=pd.DataFrame(index=adata.var_names),
    )
    with warnings.catch_warnings():
        # scanpy inserts one DataFrame column per group; pandas warns about fragmentation.
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        sc.tl.rank_genes_groups(
            work,
            groupby="condition_name",
            reference=reference,
            rankby_abs=True,
            n_genes=work.n_vars,
            use_raw=False,
            key_added=_RGG_TMP_KEY,
        )
    names = work.uns[_RGG_TMP_KEY]["names"]
    ranked = {group: [str(g) for g in names[group]] for group in names.dtype.names}

    # Per-condition count of cells expressing each gene: (n_conditions x n_cells) indicator @ (X > 0).
    cond = adata.obs["condition"].astype(str).to_numpy()
    conditions, codes = np.unique(cond, return_inverse=True)
    indicator = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.int64), (codes, np.arange(len(codes)))),
        shape=(len(conditions), len(codes)),
    )
    expressed = sp.csr_matrix(adata.X) > 0
    nonzero = np.asarray((indicator @ expressed.astype(np.int64)).todense()) > 0
    ctrl_zero = ~nonzero[np.searchsorted(conditions, CTRL)]
    name_to_condition = dict(zip(adata.obs["condition_name"].astype(str), cond))
    gene_index = {g: i for i, g in enumerate(adata.var_names)}
    var_names = np.asarray(adata.var_names)

    out = {key: {} for key in DE_KEYS}
    out["rank_genes_groups_cov_all"] = ranked
    for name, genes in ranked.items():
        nz = nonzero[np.searchsorted(conditions, name_to_condition[name])]
        non_dropout = nz | ctrl_zero
        order = np.fromiter((gene_index[g] for g in genes), dtype=np.int64, count=len(genes))
        out["top_non_dropout_de_20"][name] = np.array(var_names[order[non_dropout[order]][:N_DE]].tolist())
        out["top_non_zero_de_20"][name] = np.array(var_names[order[nz[order]][:N_DE]].tolist())
        out["non_zeros_gene_idx"][name] = np.flatnonzero(nz).astype(np.int64)
        out["non_dropout_gene_idx"][name] = np.flatnonzero(non_dropout).astype(np.int64)
    return out


# ---------------------------------------------------------------------------------------------------


def _check_key(adata: ad.AnnData, key: str, source) -> None:
    if key not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns[:20])) or "none"
        raise InputError(source, key, f"obs column missing (obs columns: {cols})")


def _check_params(adata, source, cell_type, cap, min_cells, n_top_genes) -> int:
    if not isinstance(cell_type, str) or not cell_type:
        raise InputError(source, "cell_type", f"must be a non-empty string, got {cell_type!r}")
    if "/" in cell_type:  # part of every condition name, an h5ad uns key: '/' would split it and lose the DE genes
        raise InputError(source, "cell_type", f"must not contain '/' (it names h5ad uns entries), got {cell_type!r}")
    if not isinstance(min_cells, (int, np.integer)) or isinstance(min_cells, bool) or min_cells < 1:
        raise InputError(source, "min_cells_per_condition", f"must be an integer >= 1, got {min_cells!r}")
    effective_min = max(2, int(min_cells))
    if cap is not None:
        if not isinstance(cap, (int, np.integer)) or isinstance(cap, bool) or cap < effective_min:
            raise InputError(
                source,
                "max_cells_per_condition",
                f"must be an integer >= {effective_min} (>= min_cells_per_condition and >= 2) or null, got {cap!r}",
            )
    if n_top_genes is not None:
        if not isinstance(n_top_genes, (int, np.integer)) or isinstance(n_top_genes, bool) or n_top_genes < 1:
            raise InputError(source, "n_top_genes", f"must be a positive integer or null, got {n_top_genes!r}")
    return effective_min


def _raw_counts(X, source) -> sp.csr_matrix:
    """``X`` as csr, after checking it holds raw counts (finite, non-negative integers)."""
    if X is None:
        raise InputError(source, "X", "no expression matrix")
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.dtype.kind == "f" and X.dtype.itemsize < 4:  # float16: valid counts scipy.sparse cannot hold
            X = X.astype(np.float32)
    mat = sp.csr_matrix(X)
    check_raw_counts(mat.data, source)
    return mat


def _check_cells_differ(adata: ad.AnnData, source) -> None:
    """Refuse a screen whose kept cells all have one expression profile: every t-score would be undefined
    (0/0) and the DE genes an arbitrary order."""
    X = sp.csr_matrix(adata.X)
    if X.shape[0] < 2:
        return
    highest = np.asarray(X.max(axis=0).todense()).ravel()
    lowest = np.asarray(X.min(axis=0).todense()).ravel()
    if np.array_equal(highest, lowest):  # every gene constant over the cells
        raise InputError(
            source,
            "X",
            f"all {X.shape[0]} kept cells have the same normalised expression: "
            "no DE genes can be ranked (is it a placeholder matrix?)",
        )


def _choose_perturbations(label_counts: Counter, resolver, graph_genes: frozenset, min_cells: int):
    """Resolve labels, apply the cell-count filter, then keep one label per symbol.

    Returns ``({label: (symbol, status)}, [dropped row dicts])``.
    """
    dropped = []
    resolved = {}
    for label in sorted(label_counts):
        n = label_counts[label]
        res = resolver.resolve(label)
        if not res.ok:
            reason = res.reason or f"'{label}' does not resolve to a graph gene ({res.status})"
            dropped.append(dict(perturbation=label, n_cells=n, status=res.status, reason=reason))
        elif res.symbol not in graph_genes:
            dropped.append(
                dict(
                    perturbation=label,
                    n_cells=n,
                    status="not_in_graph",
                    reason=f"'{label}' resolves to {res.symbol}, which is not a node of the graph",
                )
            )
        elif n < min_cells:
            dropped.append(
                dict(
                    perturbation=label,
                    n_cells=n,
                    status="too_few_cells",
                    reason=f"{n} cells < {min_cells} (min_cells_per_condition, and scanpy's t-test needs 2)",
                )
            )
        else:
            resolved[label] = (res.symbol, res.status)
    kept = {}
    by_symbol: dict[str, list[str]] = {}
    for label, (symbol, _) in resolved.items():
        by_symbol.setdefault(symbol, []).append(label)
    for symbol, group in by_symbol.items():
        # The official symbol wins over aliases; then sorted label order.
        group = sorted(group, key=lambda lab: (resolved[lab][1] != "official", lab))
        kept[group[0]] = resolved[group[0]]
        for label in group[1:]:
            dropped.append(
                dict(
                    perturbation=label,
                    n_cells=label_counts[label],
                    status="duplicate",
                    reason=f"'{label}' resolves to {symbol}, already the target of '{group[0]}'",
                )
            )
    return kept, dropped


def _cap_mask(condition: np.ndarray, obs_names: np.ndarray, eligible: np.ndarray, cap: int, seed: int):
    """Boolean mask keeping at most ``cap`` eligible cells per condition (see preprocess_screen)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(condition), dtype=bool)
    for cond in sorted(set(condition[eligible].tolist())):
        cells = np.flatnonzero(eligible & (condition == cond))
        cells = cells[np.argsort(obs_names[cells].astype(str), kind="stable")]
        if len(cells) > cap:
            cells = cells[rng.choice(len(cells), size=cap, replace=False)]
        mask[cells] = True
    return mask


def _set_gears_obs(adata: ad.AnnData, condition: np.ndarray, labels: np.ndarray, cell_type: str) -> None:
    """obs columns of ``gears/data_utils.py::get_DE_genes`` (dose and control from the '+' count)."""
    n_parts = np.char.count(condition.astype(str), "+") + 1
    dose_val = np.where(n_parts == 2, "1+1", "1")
    control = np.where(n_parts == 2, 0, 1).astype(np.int64)
    condition_name = np.char.add(np.char.add(f"{cell_type}_", condition.astype(str)), np.char.add("_", dose_val))
    obs = adata.obs
    obs["perturbation"] = pd.Categorical(labels.astype(str))
    obs["condition"] = pd.Categorical(condition, categories=sorted(set(condition.tolist())))
    obs["cell_type"] = pd.Categorical([cell_type] * adata.n_obs)
    obs["dose_val"] = pd.Categorical(dose_val.astype(str))
    obs["control"] = control
    obs["condition_name"] = pd.Categorical(condition_name.astype(str))
