"""Runs of an experiment: a run is ``(split seed, initialisation seed)``. The main runs use the same seed for
both (``seed{s}`` in file paths, the ``{run}`` wildcard ``s``); the stability analysis adds runs on one split
with other initialisation seeds (``seed{s}-{i}``)."""

from __future__ import annotations

import re

#: A run label, ``SEED`` or ``SPLIT-INIT`` (the workflow's ``{run}`` wildcard).
RUN_PATTERN = r"\d+(?:-\d+)?"


def run_seeds(run: str) -> tuple[int, int]:
    """``'3'`` -> (3, 3); ``'3-7'`` -> (3, 7): the split seed and the initialisation seed of a run label."""
    text = str(run)
    if not re.fullmatch(RUN_PATTERN, text):
        raise ValueError(f"run label {run!r} is not 'SEED' or 'SPLIT-INIT'")
    split, _, init = text.partition("-")
    return int(split), int(init or split)


def run_label(split_seed: int, init_seed: int) -> str:
    """Inverse of ``run_seeds``: the main run of a seed is plain ``'{seed}'``."""
    return str(split_seed) if int(split_seed) == int(init_seed) else f"{split_seed}-{init_seed}"


def run_keys(dataset: str, strategy: str, run: str, cycle: int) -> dict:
    """The keys of one run's records at one cycle (its metrics and baselines files): ``dataset``,
    ``strategy``, ``seed`` (the run's split seed) and ``cycle``; and ``run``, the label, for a stability run
    (an initialisation seed other than the split seed)."""
    split_seed, init_seed = run_seeds(run)
    keys = {"dataset": dataset, "strategy": strategy, "seed": split_seed, "cycle": int(cycle)}
    if split_seed != init_seed:
        keys["run"] = str(run)
    return keys
