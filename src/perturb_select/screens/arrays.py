"""The processed screen as plain arrays (``screen.npz``): what a training job reads, without anndata.

``preprocess_dataset`` writes it once beside ``perturb_processed.h5ad``; every training job then loads
a few numpy arrays (milliseconds) instead of importing anndata/scanpy and parsing the h5ad.

Contents (all from the GEARS layout, ``screens.layout``; ``C`` conditions, control included, ``G`` genes):

================== ================== ==========================================================
``genes``          (G,) str           measured genes (``var_names`` = ``var['gene_name']``)
``conditions``     (C,) str           ``'ctrl'`` and ``'GENE+ctrl'``, sorted
``cell_condition`` (n_cells,) int32   index into ``conditions`` of every cell
``x_*``            csr float32        ``X`` (log1p-normalised expression), cells x genes
``de_idx``         (C, 20) int64      top-20 DE genes (``rank_genes_groups_cov_all``, rank order), -1 pad
``de_idx_non_dropout`` (C, 20) int64  ``top_non_dropout_de_20``, -1 pad
``nz_offsets``, ``nz_indices``         ragged ``non_zeros_gene_idx`` per condition (GEARS's loss filter)
================== ================== ==========================================================

The control condition's rows of ``de_idx`` are all -1 and its gene filter is empty (GEARS's loss uses
every gene for control cells).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..io import InputError, load_container, save_container
from .layout import CTRL, N_DE, check_condition_keys

SCREEN_FORMAT = "perturb-select screen arrays v1"
_ARRAYS = (
    "genes",
    "conditions",
    "cell_condition",
    "x_data",
    "x_indices",
    "x_indptr",
    "x_shape",
    "de_idx",
    "de_idx_non_dropout",
    "nz_offsets",
    "nz_indices",
)


@dataclass(frozen=True)
class ScreenArrays:
    """A processed screen in GEARS layout as arrays (see module docstring for shapes and dtypes)."""

    genes: np.ndarray
    conditions: np.ndarray
    cell_condition: np.ndarray
    X: sp.csr_matrix
    de_idx: np.ndarray
    de_idx_non_dropout: np.ndarray
    nz_offsets: np.ndarray
    nz_indices: np.ndarray

    def __post_init__(self):
        n_cond, n_genes = len(self.conditions), len(self.genes)
        checks = {
            "X": (self.X.shape, (len(self.cell_condition), n_genes)),
            "de_idx": (self.de_idx.shape, (n_cond, N_DE)),
            "de_idx_non_dropout": (self.de_idx_non_dropout.shape, (n_cond, N_DE)),
            "nz_offsets": (self.nz_offsets.shape, (n_cond + 1,)),
        }
        for name, (got, want) in checks.items():
            if got != want:
                raise ValueError(f"{name} has shape {got}, expected {want}")
        if CTRL not in set(self.conditions.tolist()):
            raise ValueError("no 'ctrl' condition")
        if len(self.cell_condition) and (self.cell_condition.min() < 0 or self.cell_condition.max() >= n_cond):
            raise ValueError("cell_condition holds indices outside the conditions")

    # ------------------------------------------------------------------ lookups
    @property
    def n_cells(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    def condition_index(self, condition: str) -> int:
        """Row of ``condition`` in ``conditions``; KeyError if absent."""
        hits = np.flatnonzero(self.conditions == condition)
        if not hits.size:
            raise KeyError(condition)
        return int(hits[0])

    def cells_of(self, condition: str) -> np.ndarray:
        """Cell indices (int64, ascending) of ``condition``; empty if the condition has no cells."""
        try:
            code = self.condition_index(condition)
        except KeyError:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.cell_condition == code)

    def nonzero_genes(self, condition: str) -> np.ndarray:
        """GEARS's ``non_zeros_gene_idx`` of ``condition`` (int64 gene indices)."""
        i = self.condition_index(condition)
        return self.nz_indices[self.nz_offsets[i] : self.nz_offsets[i + 1]]

    def mean_expression(self, condition: str) -> np.ndarray:
        """Mean expression over the condition's cells, float64 (G,)."""
        cells = self.cells_of(condition)
        if not cells.size:
            raise KeyError(condition)
        return np.asarray(self.X[cells].mean(axis=0), dtype=np.float64).ravel()

    # ------------------------------------------------------------------ construction and files
    @classmethod
    def from_anndata(cls, adata, source: str = "perturb_processed.h5ad") -> "ScreenArrays":
        """Arrays of an AnnData in GEARS layout (``screens.layout``).

        Raises
        ------
        InputError
            If a layout field is missing, or the condition names or DE entries fail
            :func:`screens.layout.check_condition_keys`; ``source`` names the input (the screen file).
        """
        pairs = check_condition_keys(adata, source)  # one check of names and DE entries for every format
        genes = np.asarray(adata.var_names).astype(str)
        if len(set(genes.tolist())) != len(genes):
            raise InputError(source, "var_names", "gene names are not unique")
        labels = np.asarray(adata.obs["condition"]).astype(str)
        conditions = np.array(sorted(set(labels.tolist())), dtype=str)
        code = {c: i for i, c in enumerate(conditions)}
        gene_pos = {g: i for i, g in enumerate(genes.tolist())}
        de_idx = np.full((len(conditions), N_DE), -1, dtype=np.int64)
        de_nd = np.full((len(conditions), N_DE), -1, dtype=np.int64)
        nz = []
        for i, cond in enumerate(conditions.tolist()):
            if cond == CTRL:
                nz.append(np.zeros(0, dtype=np.int64))
                continue
            name = pairs[cond]
            for key, out in (("rank_genes_groups_cov_all", de_idx), ("top_non_dropout_de_20", de_nd)):
                ranked = [str(g) for g in list(adata.uns[key][name])[:N_DE]]
                missing = [g for g in ranked if g not in gene_pos]
                if missing:
                    raise InputError(source, f"uns['{key}']", f"names genes not in var_names: {missing[:5]}")
                out[i, : len(ranked)] = [gene_pos[g] for g in ranked]
            nz.append(np.asarray(adata.uns["non_zeros_gene_idx"][name], dtype=np.int64))
        offsets = np.zeros(len(conditions) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(a) for a in nz])
        X = adata.X if sp.issparse(adata.X) else sp.csr_matrix(np.asarray(adata.X))
        return cls(
            genes=genes,
            conditions=conditions,
            cell_condition=np.array([code[c] for c in labels.tolist()], dtype=np.int32),
            X=sp.csr_matrix(X, dtype=np.float32),
            de_idx=de_idx,
            de_idx_non_dropout=de_nd,
            nz_offsets=offsets,
            nz_indices=np.concatenate(nz) if nz else np.zeros(0, dtype=np.int64),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the arrays as a container (:func:`perturb_select.io.save_container`), atomically."""
        X = self.X.tocsr()
        save_container(
            path,
            SCREEN_FORMAT,
            {
                "genes": self.genes.astype(str),
                "conditions": self.conditions.astype(str),
                "cell_condition": self.cell_condition.astype(np.int32),
                "x_data": X.data.astype(np.float32),
                "x_indices": X.indices.astype(np.int32),
                "x_indptr": X.indptr.astype(np.int64),
                "x_shape": np.array(X.shape, dtype=np.int64),
                "de_idx": self.de_idx,
                "de_idx_non_dropout": self.de_idx_non_dropout,
                "nz_offsets": self.nz_offsets,
                "nz_indices": self.nz_indices,
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScreenArrays":
        """Read a file written by ``save``.

        Raises
        ------
        InputError
            If the file is not a screen-arrays container, an array is missing or shapes disagree.
        """
        arrays, _ = load_container(path, SCREEN_FORMAT, _ARRAYS, hint="rerun preprocess_dataset")
        try:
            X = sp.csr_matrix(
                (arrays["x_data"], arrays["x_indices"], arrays["x_indptr"]), shape=tuple(arrays["x_shape"])
            )
            return cls(
                genes=arrays["genes"].astype(str),
                conditions=arrays["conditions"].astype(str),
                cell_condition=arrays["cell_condition"],
                X=X,
                de_idx=arrays["de_idx"],
                de_idx_non_dropout=arrays["de_idx_non_dropout"],
                nz_offsets=arrays["nz_offsets"],
                nz_indices=arrays["nz_indices"],
            )
        except ValueError as err:
            raise InputError(path, None, str(err)) from None
