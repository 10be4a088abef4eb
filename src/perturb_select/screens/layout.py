"""GEARS's processed layout of a screen: its names, the tables every screen gives, and its files.

GEARS (cell-gears 0.1.2) names a single perturbation of gene G ``'G+ctrl'`` and control cells ``'ctrl'``
(``obs['condition']``); its DE genes are the top :data:`N_DE` of ``rank_genes_groups_cov_all``. Every screen,
raw or published, ends up as a :class:`ScreenData`: the processed AnnData, the candidates (perturbations
with data whose gene is a graph node) and the dropped perturbations with the reason.

anndata is imported only where an h5ad file is read, so the names here are cheap to import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..io import InputError, atomic_path, read_tsv, write_tsv

#: GEARS's control condition.
CTRL = "ctrl"
#: DE genes per perturbation that GEARS's metrics and this project's primary metric use (top-20 DE MSE).
N_DE = 20
CANDIDATE_COLUMNS = ("gene", "perturbation", "condition", "n_cells", "resolution")
DROPPED_COLUMNS = ("perturbation", "n_cells", "status", "reason")
#: ``uns`` keys keyed by condition name that GEARS writes (``PertData.new_data_process``).
DE_KEYS = (
    "rank_genes_groups_cov_all",
    "top_non_dropout_de_20",
    "top_non_zero_de_20",
    "non_zeros_gene_idx",
    "non_dropout_gene_idx",
)
#: The ``uns`` keys the pipeline reads (``screens.arrays.ScreenArrays.from_anndata``).
REQUIRED_DE_KEYS = ("rank_genes_groups_cov_all", "top_non_dropout_de_20", "non_zeros_gene_idx")


def condition_of(gene: str) -> str:
    """GEARS's condition label of a single perturbation of ``gene``: ``'GENE+ctrl'``."""
    return f"{gene}+{CTRL}"


def condition_genes(condition: str) -> tuple[str, ...] | None:
    """The perturbed genes of a GEARS condition: ``'ctrl'`` -> ``()``, ``'A+ctrl'`` / ``'ctrl+A'`` ->
    ``('A',)``, ``'A+B'`` -> ``('A', 'B')``; None for any other form (empty parts, three parts).

    Spaces around a part are ignored (``'A+ctrl '`` is ``('A',)``): user-made GEARS files carry them
    (GEARS issue 71), and no gene symbol has one.
    """
    parts = [p.strip() for p in condition.split("+")]
    if parts == [CTRL]:
        return ()
    if len(parts) != 2 or not all(parts):
        return None
    genes = tuple(p for p in parts if p != CTRL)
    return genes if genes else None


def condition_gene(condition: str) -> str:
    """The gene of a single perturbation's condition, read by :func:`condition_genes`: ``'A+ctrl'`` or
    ``'ctrl+A'`` -> ``'A'`` (the inverse of :func:`condition_of`).

    Raises
    ------
    ValueError
        The control, a pair, or a name that is not a GEARS condition.
    """
    genes = condition_genes(condition)
    if genes is None or len(genes) != 1:
        raise ValueError(f"{condition!r} is not the condition of a single perturbation ('GENE+{CTRL}')")
    return genes[0]


def check_raw_counts(values, source, field: str = "X") -> None:
    """The one check that a matrix's stored values are raw UMI counts (a raw screen, a SIMULATED reference):
    numeric, finite, non-negative integers (log-normalised data is not counts).

    Raises
    ------
    InputError
        ``(source, field, problem)``.
    """
    import numpy as np

    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise InputError(source, field, f"expected numeric counts, got dtype {values.dtype}")
    if not values.size:
        return
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise InputError(
            source,
            field,
            f"contains {int(np.count_nonzero(~np.isfinite(values)))} NaN or infinite values; expected raw counts",
        )
    if values.min() < 0:
        raise InputError(source, field, f"contains negative values (min {values.min()}); expected raw counts")
    if values.dtype.kind == "f" and np.any(values != np.floor(values)):
        bad = values[values != np.floor(values)][0]
        raise InputError(
            source, field, f"contains non-integer values (e.g. {bad}); expected raw UMI counts, not normalised data"
        )


#: The ``uns`` entries that are ranked gene lists (the others hold gene indices).
RANKED_DE_KEYS = ("rank_genes_groups_cov_all", "top_non_dropout_de_20", "top_non_zero_de_20")


def check_condition_keys(adata, source, required=REQUIRED_DE_KEYS) -> dict:
    """The one check of what GEARS keys by condition; returns ``{condition: condition_name}``.

    * one ``condition_name`` per condition and one condition per ``condition_name`` (two conditions
      sharing a name would give one the other's DE genes);
    * no ``'/'`` in a name: an h5ad ``uns`` key with one is split into groups and its entry lost on writing;
    * every key of ``required``, and every other :data:`DE_KEYS` key present, a mapping with an entry for
      every perturbed condition; ranked lists non-empty; ``non_zeros_gene_idx`` / ``non_dropout_gene_idx``
      integer gene indices in ``[0, n_vars)`` (a negative one would wrap round in GEARS's loss filter).

    Raises
    ------
    InputError
        ``(source, field, problem)``, field ``"obs['condition_name']"`` or ``"uns['<key>']"``.
    """
    import numpy as np

    for column in ("condition", "condition_name"):
        if column not in adata.obs.columns:
            raise InputError(source, f"obs['{column}']", "column missing")
    pairs = adata.obs[["condition", "condition_name"]].astype(str).drop_duplicates()
    for column, other in (("condition", "condition_name"), ("condition_name", "condition")):
        several = pairs.loc[pairs[column].duplicated(keep=False)].groupby(column)[other].apply(sorted)
        if len(several):
            first = several.index[0]
            raise InputError(
                source,
                "obs['condition_name']",
                f"{len(several)} {column}s have several {other}s, e.g. {first!r}: {several.iloc[0][:5]}",
            )
    slashed = [n for n in pairs["condition_name"] if "/" in n]
    if slashed:
        raise InputError(
            source,
            "obs['condition_name']",
            f"{len(slashed)} names contain '/', which splits an "
            f"h5ad uns key (their DE genes would be lost): {slashed[:3]} (is '/' in the cell type?)",
        )
    names = dict(zip(pairs["condition"], pairs["condition_name"]))
    perturbed = [names[c] for c in sorted(names) if c != CTRL]
    n_vars = int(adata.n_vars)
    for key in DE_KEYS:
        if key not in adata.uns:
            if key in required:
                raise InputError(source, f"uns['{key}']", "missing: DE genes are not in the file")
            continue
        entries = adata.uns[key]
        field = f"uns['{key}']"
        if not hasattr(entries, "keys"):
            raise InputError(source, field, f"not a mapping of condition names ({type(entries).__name__})")
        missing = [n for n in perturbed if n not in entries]
        if missing:
            raise InputError(
                source, field, f"no entry for {len(missing)} conditions (no DE genes for {', '.join(missing[:5])})"
            )
        for name in perturbed:
            values = np.asarray(entries[name])
            if key in RANKED_DE_KEYS:
                if values.size == 0 and key in REQUIRED_DE_KEYS:  # the lists the metrics are taken on
                    raise InputError(source, field, f"empty DE gene list for {name}")
                continue
            if values.size and (values.dtype.kind not in "iu" or values.min() < 0 or values.max() >= n_vars):
                bad = values if values.dtype.kind not in "iu" else values[(values < 0) | (values >= n_vars)]
                raise InputError(
                    source,
                    field,
                    f"{name}: gene indices must be integers in [0, {n_vars}), got {bad.ravel()[:3].tolist()}",
                )
    return names


@dataclass(frozen=True)
class ScreenData:
    """A preprocessed screen.

    Attributes
    ----------
    adata : anndata.AnnData
        The processed screen in GEARS's layout, cells x measured genes.
    candidates : pandas.DataFrame
        One row per kept perturbation, sorted by ``gene``: ``gene`` (graph symbol), ``perturbation``
        (the screen's label), ``condition`` (``'GENE+ctrl'``), ``n_cells`` (int64), ``resolution``
        (``'official'`` or ``'alias'``); columns :data:`CANDIDATE_COLUMNS`.
    dropped : pandas.DataFrame
        One row per dropped perturbation label, sorted by ``perturbation``: ``perturbation``,
        ``n_cells``, ``status`` (a resolver status, ``'duplicate'``, ``'too_few_cells'``,
        ``'combination'``), ``reason``; columns :data:`DROPPED_COLUMNS`. May be empty.
    """

    adata: object
    candidates: object
    dropped: object


def read_h5ad_file(path: str | os.PathLike):
    """``anndata.read_h5ad`` with ``InputError(path, None, ...)`` for a missing or unreadable file."""
    import anndata as ad

    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "file not found")
    try:
        return ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise many types for a non-h5ad file
        raise InputError(path, None, f"not a readable h5ad file ({type(exc).__name__}: {exc})") from exc


def write_screen_outputs(
    screen: ScreenData,
    h5ad_path: str | os.PathLike,
    candidates_path: str | os.PathLike,
    dropped_path: str | os.PathLike,
) -> None:
    """Write the processed screen (h5ad) and the candidates / dropped tables (TSV).

    All three are written to temporary files beside their destinations and renamed into place only
    after all three were written (``io.atomic_path``), so a failure leaves none of them behind.
    The h5ad is written uncompressed with ``anndata.AnnData.write_h5ad``.
    """
    with (
        atomic_path(h5ad_path) as tmp_h5ad,
        atomic_path(candidates_path) as tmp_cand,
        atomic_path(dropped_path) as tmp_drop,
    ):
        screen.adata.write_h5ad(tmp_h5ad)
        write_tsv(screen.candidates, tmp_cand)
        write_tsv(screen.dropped, tmp_drop)


def read_candidates(path: str | os.PathLike) -> list[str]:
    """The ``gene`` column of a candidates table (``candidates.tsv``), in file order.

    Raises
    ------
    InputError
        The table is unreadable or has no ``gene`` column.
    """
    frame = read_tsv(path)
    if "gene" not in frame.columns:
        raise InputError(path, "gene", "column missing from the candidates table")
    return frame["gene"].astype(str).tolist()
