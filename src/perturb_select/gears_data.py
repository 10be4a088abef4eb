"""Datasets already in GEARS's processed layout (``format: gears``): the paper's screens as GEARS ships them.

cell-gears's ``PertData.load(data_name)`` downloads a zip archive from Harvard Dataverse (the file ids
are in ``resources/datasets.yaml``) and reads ``<name>/perturb_processed.h5ad`` from it. Here:

* :func:`extract_member` takes that one file out of a zip or tar archive, refusing any archive with a
  member outside the target folder (absolute, ``..``) or a link, and publishes it atomically;
* :func:`validate_gears_adata` checks the layout the rest of the pipeline relies on (conditions
  ``ctrl`` / ``GENE+ctrl`` / ``ctrl+GENE`` / ``A+B``, the DE keys in ``uns`` for every condition,
  unique gene names, a finite non-negative expression matrix) without recomputing anything;
* :func:`prepare_gears_screen` resolves the perturbed genes to graph nodes exactly as raw screens are
  (``data.preprocess_screen``): single-gene conditions become candidates, the rest is dropped with its
  reason, and a gene listed under an outdated symbol is renamed everywhere its condition appears.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Collection

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import CANDIDATE_COLUMNS, CONTROL_CONDITION, DROPPED_COLUMNS, ScreenData, read_h5ad_file
from .io import InputError, atomic_path

#: The member cell-gears reads from each dataset archive (``gears/pertdata.py::PertData.load``).
PROCESSED_NAME = "perturb_processed.h5ad"
#: ``uns`` keys the pipeline reads (``screen.ScreenArrays.from_anndata``), keyed by condition name.
REQUIRED_DE_KEYS = ("rank_genes_groups_cov_all", "top_non_dropout_de_20", "non_zeros_gene_idx")
#: Every ``uns`` entry keyed by condition name (renamed together when a gene symbol is updated).
CONDITION_KEYED = REQUIRED_DE_KEYS + ("top_non_zero_de_20", "non_dropout_gene_idx")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# --------------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------------

def extract_member(archive: str | os.PathLike, destination: str | os.PathLike, member: str = PROCESSED_NAME) -> Path:
    """Copy one file out of a zip or tar archive (or an h5ad file as it is) to ``destination``, atomically.

    The whole archive is checked before anything is written: a member with an absolute path or a
    ``..`` component (it would land outside the target folder), a symbolic or hard link, or a device
    makes the archive unusable. ``member`` is matched exactly, else as the only member whose last
    path component equals it (``adamson/perturb_processed.h5ad`` for ``perturb_processed.h5ad``).

    Parameters
    ----------
    archive : path-like
        A ``.zip``, a tar (optionally gzip/bz2/xz-compressed) or an HDF5 (``.h5ad``) file, told apart
        by content, not by name.
    destination : path-like
        The file to write (parent folders are created); absent after any error.
    member : str
        Path inside the archive, or a file name.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    InputError
        Source ``archive``: not a zip, tar or HDF5 file; an unsafe member (field: the member's name);
        ``member`` missing or matching several members (field ``'member'``).
    """
    archive, destination = Path(archive), Path(destination)
    with open(archive, "rb") as handle:
        head = handle.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        with atomic_path(destination) as tmp:
            shutil.copyfile(archive, tmp)
        return destination
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
            for info in infos:
                kind = stat.S_IFMT(info.external_attr >> 16)
                _check_member_path(archive, info.filename)
                if kind in (stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
                    raise InputError(archive, info.filename, "a link or device in the archive: refusing to extract")
            chosen = _choose_member(archive, [i.filename for i in infos if not i.is_dir()], member)
            with bundle.open(chosen) as source, atomic_path(destination) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        return destination
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            infos = bundle.getmembers()
            for info in infos:
                _check_member_path(archive, info.name)
                if not (info.isfile() or info.isdir()):
                    raise InputError(archive, info.name, "a link or device in the archive: refusing to extract")
            chosen = _choose_member(archive, [i.name for i in infos if i.isfile()], member)
            source = bundle.extractfile(chosen)
            with atomic_path(destination) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        return destination
    raise InputError(archive, None, "neither a zip nor a tar archive nor an h5ad (HDF5) file")


def _check_member_path(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InputError(archive, name, "a member path outside the target folder: refusing to extract")


def _choose_member(archive: Path, names: list[str], member: str) -> str:
    if member in names:
        return member
    matches = [n for n in names if PurePosixPath(n).name == PurePosixPath(member).name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(archive, "member", f"no {member} in the archive ({len(names)} files)")
    raise InputError(archive, "member", f"{member} matches several files: {matches[:5]}; name the path")


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

def condition_genes(condition: str) -> tuple[str, ...] | None:
    """The perturbed genes of a GEARS condition: ``'ctrl'`` -> ``()``, ``'A+ctrl'`` / ``'ctrl+A'`` ->
    ``('A',)``, ``'A+B'`` -> ``('A', 'B')``; None for any other form (empty parts, three parts)."""
    if condition == CONTROL_CONDITION:
        return ()
    parts = condition.split("+")
    if len(parts) != 2 or not all(p.strip() == p and p for p in parts):
        return None
    genes = tuple(p for p in parts if p != CONTROL_CONDITION)
    return genes if genes else None


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
    if CONTROL_CONDITION not in set(conditions):
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
    perturbed = names.loc[names["condition"] != CONTROL_CONDITION, "condition_name"].tolist()
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

    Every single-gene condition's gene is resolved with ``resolver`` (as ``data.preprocess_screen``
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
    resolver : perturb_select.go.SymbolResolver
    source : str
        Names the file in log and error messages.

    Returns
    -------
    ScreenData
        As ``data.preprocess_screen`` returns it (same ``candidates`` and ``dropped`` columns;
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

    keep_cells = obs["condition"].astype(str).isin(set(kept) | {CONTROL_CONDITION}).to_numpy()
    out = adata[keep_cells].copy()
    renames = {c: f"{gene}+{CONTROL_CONDITION}" for c, (gene, _) in kept.items() if f"{gene}+{CONTROL_CONDITION}" != c}
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
