"""The pick files of an active strategy: one TSV per cycle with the batch the strategy chose.

A one-shot strategy writes one ranking of the whole pool (``selection.base.write_selection``: ``rank, gene,
cycle, gain, objective``); an active one writes, per cycle, its batch with what chose each pick
(``rank, gene, cycle, method, score``). ``experiment.splits.cycle_picks`` reads either as the
perturbations of a cycle.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ..io import InputError, read_tsv, write_tsv

PICK_COLUMNS = ("rank", "gene", "cycle", "method", "score")


def write_picks(
    genes: Sequence[str], scores: Sequence[float], *, cycle: int, method: str, path: str | os.PathLike
) -> None:
    """One cycle's batch as TSV: ``rank`` (1..batch, pick order), ``gene``, ``cycle``, ``method`` (what chose
    it: random, graphreach, uncertainty, typiclust, acsfw) and ``score`` (GEARS's uncertainty score, the
    typicality, GraphReach's gain; empty where the method has none: random, acsfw), atomically."""
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(genes) + 1),
            "gene": [str(g) for g in genes],
            "cycle": int(cycle),
            "method": method,
            "score": np.asarray(scores, dtype=np.float64),
        }
    )
    write_tsv(frame, path, float_format="%.17g")


def read_picks(paths: Sequence[str | os.PathLike], perturbations_per_cycle: int) -> list[str]:
    """The picks of cycles 1..len(paths), in order, from ``write_picks`` files (one per cycle, in order).

    Raises
    ------
    InputError
        Naming the file: a missing column, a batch that is not ``perturbations_per_cycle`` long, a wrong cycle number,
        or a gene picked twice.
    """
    genes: list[str] = []
    for cycle, path in enumerate(paths, start=1):
        frame = read_tsv(path, dtype={"gene": str}, keep_default_na=False)
        for column in PICK_COLUMNS:
            if column not in frame.columns:
                raise InputError(path, column, "column missing from the cycle's picks")
        if len(frame) != int(perturbations_per_cycle):
            raise InputError(path, "gene", f"{len(frame)} picks, expected a batch of {perturbations_per_cycle}")
        if not (pd.to_numeric(frame["cycle"], errors="coerce") == cycle).all():
            raise InputError(path, "cycle", f"expected cycle {cycle} in every row")
        genes += frame["gene"].astype(str).tolist()
    if len(set(genes)) != len(genes):
        repeated = sorted({g for g in genes if genes.count(g) > 1})
        raise InputError(paths[-1], "gene", f"genes picked in two cycles: {repeated[:10]}")
    return genes
