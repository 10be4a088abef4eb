"""One cycle of a tensor trainer (``cells``, ``perturbations``): what they share around their runner class.

:func:`run_trainer` takes the receptive field of the cycle's genes, splits validation perturbations off the
training ones (``common.split_validation``), fits a :class:`perturb_select.gears.cells.BatchedGears` (or a
subclass), predicts the test perturbations (and, when asked, the fitted ones and a pool's scores) and writes
the run record (``results.run_info``). It is the tensor trainers' one adapter: ``perturb_select.gears.trainer``
binds it to a trainer's name and its model class (``config.TRAINER_REGISTRY``'s ``model_class``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..config import TrainingConfig
from ..io import InputError
from ..knowledge.graph import compact_receptive_field
from ..screens.arrays import ScreenArrays
from ..screens.layout import CTRL, condition_of
from .common import check_genes, split_validation
from .results import CyclePredictions, PoolScores, TrainingResult, package_versions, run_info

if TYPE_CHECKING:
    from .cells import BatchedGears


def run_trainer(
    runner_class,
    trainer: str,
    data,
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    *,
    seed: int,
    config: TrainingConfig,
    score_genes: Sequence[str] | None = None,
    score_controls: int | None = None,
    score_train: bool = False,
) -> TrainingResult:
    """Train GEARS on one cycle's perturbations with ``runner_class`` (a :class:`BatchedGears`), predict the
    test perturbations, optionally score pool perturbations: what every tensor trainer shares.

    Parameters
    ----------
    runner_class : type
        :class:`BatchedGears` (cell mini-batches) or a subclass (``gears.perturbations.PerturbationGears``).
    trainer : str
        The trainer's name (``gears.trainer``), recorded in the run record.
    data : perturb_select.gears.TrainingData
        ``data.screen`` (``ScreenArrays``, from ``screen.npz``) and ``data.graph`` (the whole GO graph; the
        receptive field of train + test genes is taken here when ``config.use_subgraph``).
    train_genes, test_genes : sequence of str
        The cycle's picks and the fixed test perturbations (graph nodes with cells in the screen).
    seed : int
        Validation split, control pairing, weights and batch order.
    config : TrainingConfig
    score_genes : sequence of str, optional
        Perturbations to score after training for an active strategy (the labelled and the remaining
        pool perturbations): they join the receptive field (which leaves training unchanged: the compact
        receptive field is exact and initial weights do not depend on the node set), and
        ``BatchedGears.predict_perturbations(score_genes, score_controls, seed)`` gives their features.
    score_controls : int, optional
        Control cells of the scoring sample (an active strategy's ``controls``; ``GEARS.predict``: 300).
    score_train : bool
        Also predict the fitted perturbations (the picks less the validation ones) as the test ones
        (``condition_means`` of their cells, each paired with a control cell drawn after the test cells'
        pairing, so the test predictions do not change).

    Returns
    -------
    TrainingResult
        ``predictions.info`` (``gears.results.RUN_INFO_KEYS``) holds the learning curves
        (``diagnostics``, ``BatchedGears.fit``); ``pool`` the scores when ``score_genes`` is given;
        ``train_predictions`` the in-sample predictions with ``score_train``.

    Raises
    ------
    InputError
        Bad genes (``gears.common.check_genes``), a condition without cells or DE genes, too few
        training cells, an unavailable CUDA device, no screen arrays.
    """
    import torch

    started = time.perf_counter()
    screen, graph = data.screen, data.graph
    if screen is None:
        raise InputError("config", "gears.trainer", f"the {trainer} trainer needs the screen arrays (screen.npz)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("config", "seed", f"must be an integer >= 0, got {seed!r}")
    train_genes, test_genes = [str(g) for g in train_genes], [str(g) for g in test_genes]
    check_genes(graph, train_genes, test_genes)
    fit_conds, val_conds = split_validation(train_genes, config.val_fraction, int(seed))
    test_conds = sorted(condition_of(g) for g in test_genes)
    _check_conditions(screen, fit_conds, val_conds, test_conds)
    pert_graph, self_loop = graph, None
    if config.use_subgraph:
        field_genes = train_genes + test_genes + [str(g) for g in (score_genes or [])]
        pert_graph, self_loop = compact_receptive_field(
            graph, list(dict.fromkeys(field_genes)), hops=config.num_go_gnn_layers
        )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        t0 = time.perf_counter()
        runner = runner_class(screen, pert_graph, fit_conds, val_conds, config, int(seed), self_loop=self_loop)
        seconds = {"load": time.perf_counter() - t0}
        t0 = time.perf_counter()
        diagnostics = runner.fit()
        seconds["train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        test = runner.cell_set(test_conds)
        pred, truth, logvar = runner.condition_means(test, test_conds)
        seconds["predict"] = time.perf_counter() - t0
        pool = None
        if score_genes is not None:
            t0 = time.perf_counter()
            pool = _pool_scores(runner, [str(g) for g in score_genes], set(train_genes), int(score_controls), int(seed))
            seconds["score_pool"] = time.perf_counter() - t0
        in_sample = None
        if score_train:
            t0 = time.perf_counter()
            fitted = runner.cell_set(fit_conds)
            in_sample = runner.condition_means(fitted, fit_conds)[:2]
            seconds["score_train"] = time.perf_counter() - t0
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous_threads)
    seconds["total"] = time.perf_counter() - started
    info = run_info(
        trainer=trainer,
        seed=int(seed),
        train_conditions=fit_conds,
        val_conditions=val_conds,
        test_conditions=test_conds,
        n_cells={
            "ctrl": int(len(runner.ctrl_cells)),
            "train": int(len(runner.train["cells"])),
            "val": int(len(runner.val["cells"])),
            "test": int(len(test["cells"])),
        },
        graph={
            "use_subgraph": bool(config.use_subgraph),
            "nodes": pert_graph.n_nodes,
            "edges": pert_graph.n_edges,
            "self_loops": 0 if self_loop is None else int((self_loop != 1.0).sum()),
            "whole_graph_nodes": graph.n_nodes,
            "whole_graph_edges": graph.n_edges,
        },
        coexpress_edges=int(runner.coexpress[1].numel()),
        device=runner.device,
        torch_threads=threads,
        config=config.to_dict(),
        # the kept epoch's validation scores (NaN if no epoch scored: the initial weights were kept)
        best_val_mse_top20_de=_at_epoch(diagnostics, "val_mse_top20_de"),
        best_val_mse=_at_epoch(diagnostics, "val_mse"),
        diagnostics=diagnostics,
        # GEARS.predict's uncertainty score: exp(-mean log-variance) per perturbation
        test_uncertainty=None
        if logvar is None
        else {c: float(np.exp(-np.mean(row))) for c, row in zip(test_conds, logvar)},
        seconds={**{k: round(v, 3) for k, v in seconds.items()}, "epochs": [round(v, 3) for v in runner.epoch_seconds]},
        versions=package_versions(),
    )
    predictions = _screen_predictions(screen, test_conds, pred, truth, runner.ctrl_mean, info)
    train_predictions = None
    if in_sample is not None:
        train_predictions = _screen_predictions(
            screen, fit_conds, *in_sample, runner.ctrl_mean, {"split": "train", "trainer": trainer, "seed": int(seed)}
        )
    return TrainingResult(predictions, pool, train_predictions)


def _screen_predictions(screen: ScreenArrays, conditions: list[str], pred, truth, ctrl_mean, info: dict):
    """``CyclePredictions`` of ``conditions`` with the screen's DE genes."""
    idx = [screen.condition_index(c) for c in conditions]
    return CyclePredictions(
        conditions=np.array(conditions),
        genes=screen.genes,
        pred=pred,
        truth=truth,
        ctrl_mean=ctrl_mean,
        de_idx=screen.de_idx[idx],
        de_idx_non_dropout=screen.de_idx_non_dropout[idx],
        info=info,
    )


def _check_conditions(screen: ScreenArrays, fit_conds, val_conds, test_conds) -> None:
    """Every condition of the cycle has cells, and every perturbed one its DE genes."""
    absent = [c for c in [CTRL, *fit_conds, *val_conds, *test_conds] if not screen.cells_of(c).size]
    if absent:
        raise InputError("screen", "conditions", f"no cells for conditions {absent[:10]}")
    no_de = [c for c in [*fit_conds, *val_conds, *test_conds] if (screen.de_idx[screen.condition_index(c)] < 0).all()]
    if no_de:
        raise InputError("screen", "de_idx", f"no DE genes for {no_de[:10]}")


def _pool_scores(runner: "BatchedGears", genes: list[str], labelled: set, controls: int, seed: int) -> PoolScores:
    """The trained model's view of ``genes`` (``BatchedGears.predict_perturbations``) as ``PoolScores``."""
    features, uncertainty = runner.predict_perturbations(genes, n_ctrl=controls, seed=seed)
    return PoolScores(
        genes=np.array(genes),
        labelled=np.array([g in labelled for g in genes]),
        features=features,
        uncertainty=np.full(len(genes), np.nan) if uncertainty is None else uncertainty,
        info={"seed": seed, "controls": controls, "uncertainty_head": bool(runner.config.uncertainty)},
    )


def _at_epoch(diagnostics: dict, key: str) -> float:
    best = diagnostics["best_epoch"]
    return float(diagnostics[key][best - 1]) if best else float("nan")
