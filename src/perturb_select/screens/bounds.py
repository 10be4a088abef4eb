"""How many candidates a dataset can give at most, read before any job: a plan that cannot fit is refused
before the graph is built and the screen preprocessed.

The number of candidates is known only after preprocessing (symbols resolved, cells counted), but it can
never exceed the number of distinct perturbation labels in the file, which a local file gives in
milliseconds (one ``obs`` column read with h5py, nothing else):

* ``format: raw``: the distinct labels of ``obs[perturbation_key]`` other than ``control_label``;
* ``format: gears`` given as an ``.h5ad`` (not an archive): the distinct genes of single-gene conditions;
* ``format: simulated``: the distinct symbols of the candidate list.

A file that is not local yet (only a URL), an archive, or a file this cannot read gives no bound; the
split stage checks the plan against the real pool then (``experiment.splits.check_budget``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .layout import condition_genes


def candidate_bound(dataset) -> tuple[int, str] | None:
    """An upper bound on the candidates of ``dataset`` and the file it was read from, or None.

    Parameters
    ----------
    dataset : perturb_select.config.DatasetConfig

    Returns
    -------
    (int, str) or None
        The bound and the file's path; None when no local file gives one (see the module docstring).
        Never raises: an unreadable file is the fetch or preprocessing stage's to report.
    """
    if dataset.simulated:
        from ..knowledge.symbols import read_gene_list

        try:
            return len(set(read_gene_list(dataset.candidates))), str(dataset.candidates)
        except Exception:  # noqa: BLE001 - the simulate stage names the file and the problem
            return None
    if not (dataset.mirror and dataset.mirror_name):
        return None
    path = Path(dataset.mirror) / dataset.mirror_name
    if not path.is_file():
        return None
    key = dataset.perturbation_key if dataset.format == "raw" else "condition"
    labels = _obs_labels(path, key)
    if labels is None:
        return None
    if dataset.format == "raw":
        return len(labels - {dataset.control_label}), str(path)
    genes = {g[0] for g in map(condition_genes, labels) if g and len(g) == 1}
    return len(genes), str(path)


def _obs_labels(path: os.PathLike, key: str) -> set[str] | None:
    """The distinct values of ``obs[key]`` of an h5ad file (anndata's on-disk categorical or string
    column), or None if the file is not an h5ad file holding that column."""
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            node = handle["obs"][key]
            if isinstance(node, h5py.Group):  # categorical: categories + codes (-1: missing)
                codes = node["codes"][()]
                values = node["categories"][()][np.unique(codes[codes >= 0])]
            else:
                values = np.unique(node[()])
    except Exception:  # noqa: BLE001 - not an h5ad file (an archive), no such column, an old layout
        return None
    return {v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()}
