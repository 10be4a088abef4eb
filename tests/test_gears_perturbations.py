"""The perturbations trainer: one ``GEARS_Model`` row per perturbation, GEARS's loss over its cells.

The claim (``gears/perturbations.py``): a cell's prediction is ``f(perturbation) + x``, so one forward row per
perturbation gives every cell's prediction, loss and gradient. Checked here against ``GEARS_Model.forward`` on
a PyG batch of GEARS's own cell graphs, with BatchNorm in eval mode (equal) and in train mode (equal when
every cell comes from another perturbation; otherwise the batch statistics differ, by exactly the weighting of
rows by their cells).
"""

from __future__ import annotations

import numpy as np
import pytest

from test_gears_cells import N_GENES, TEST, TRAIN, _pyg_batch, _toy_model, real_cycle  # noqa: F401 - a fixture


def _cells_first_control(seed=1):
    """7 cells, the control only in first place (so GEARS's co-expression quirk hits the control row in both
    forms): inputs, targets, perturbation node (-1 control), condition."""
    rng = np.random.default_rng(seed)
    node = np.array([-1, 2, 4, 2, 0, 4, 5])
    x = rng.random((len(node), N_GENES)).astype(np.float32)
    y = rng.random((len(node), N_GENES)).astype(np.float32)
    cond = np.array(["ctrl" if n < 0 else f"P{n}+ctrl" for n in node])
    return x, y, node, cond


def _rows(node):
    """The distinct nodes in order of first appearance, and each cell's row among them."""
    distinct = list(dict.fromkeys(node.tolist()))
    return distinct, np.array([distinct.index(n) for n in node])


def _row_batch(nodes):
    import torch

    from perturb_select.gears.cells import CellBatch

    return CellBatch(torch.zeros((len(nodes) * N_GENES, 1)), [[int(n)] for n in nodes], torch.arange(len(nodes)))


def _loss_and_grads(model, out, y, cond, uncertainty):
    import torch

    from perturb_select.gears.upstream import gears_loss_functions

    losses = gears_loss_functions()
    ctrl = torch.ones(N_GENES) * 0.5
    dict_filter = {c: np.arange(0, N_GENES, 2) for c in set(cond.tolist()) if c != "ctrl"}
    target = torch.from_numpy(y)
    if uncertainty:
        loss = losses.uncertainty_loss_fct(
            out[0], out[1], target, list(cond), reg=1.0, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1
        )
    else:
        loss = losses.loss_fct(out, target, list(cond), ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1)
    model.zero_grad()
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _expand(model, x, node, uncertainty):
    """Per-cell outputs from one row per perturbation: f(row of the cell) + x (log-variance: f's alone)."""
    import torch

    distinct, row = _rows(node)
    out = model(_row_batch(distinct))
    index = torch.from_numpy(row)
    if uncertainty:
        return out[0][index] + torch.from_numpy(x), out[1][index]
    return out[index] + torch.from_numpy(x)


@pytest.mark.parametrize("uncertainty", [False, True])
def test_rows_plus_input_equal_gears_forward_loss_and_gradients_in_eval_mode(uncertainty):
    x, y, node, cond = _cells_first_control()
    results = {}
    for form in ("gears", "rows"):
        model = _toy_model(uncertainty)
        model.eval()  # BatchNorm on its running statistics: every row on its own
        if form == "gears":
            out = model(_pyg_batch(x, y, node, cond)[0])
        else:
            out = _expand(model, x, node, uncertainty)
        loss, grads = _loss_and_grads(model, out, y, cond, uncertainty)
        results[form] = ((out[0] if uncertainty else out).detach().numpy(), loss, grads)
    (out_g, loss_g, grads_g), (out_r, loss_r, grads_r) = results["gears"], results["rows"]
    np.testing.assert_allclose(out_r, out_g, rtol=1e-6, atol=1e-6)
    assert loss_r == pytest.approx(loss_g, rel=1e-6)
    assert set(grads_r) == set(grads_g) and len(grads_g) > 10
    for name in grads_g:
        np.testing.assert_allclose(grads_r[name].numpy(), grads_g[name].numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_only_the_first_row_gets_co_expression_messages():
    """GEARS's quirk: ``G_coexpress`` covers the first ``num_genes`` rows only. A perturbation's row first in a
    batch differs from the same row after another; the cell form has the same quirk for the first cell."""
    import torch

    model = _toy_model()
    model.eval()
    with torch.no_grad():
        first = model(_row_batch([2]))[0]
        after = model(_row_batch([-1, 2]))[1]
        again = model(_row_batch([4, 2, 0]))[1]
    assert np.abs(first.numpy() - after.numpy()).max() > 1e-5
    np.testing.assert_allclose(after.numpy(), again.numpy(), rtol=1e-6, atol=1e-7)  # any place but the first


def test_train_mode_equal_when_every_cell_is_another_perturbation():
    """GEARS's batches at Replogle scale: 32 cells of ~500 perturbations, nearly always one cell each. Then the
    cell batch and the rows have the same BatchNorm statistics: outputs, loss and gradients agree."""
    rng = np.random.default_rng(4)
    node = np.array([-1, 2, 4, 0, 5, 1])
    x = rng.random((len(node), N_GENES)).astype(np.float32)
    y = rng.random((len(node), N_GENES)).astype(np.float32)
    cond = np.array(["ctrl" if n < 0 else f"P{n}+ctrl" for n in node])
    results = {}
    for form in ("gears", "rows"):
        model = _toy_model()
        model.train()
        out = model(_pyg_batch(x, y, node, cond)[0]) if form == "gears" else _expand(model, x, node, False)
        results[form] = (out.detach().numpy(), *_loss_and_grads(model, out, y, cond, False))
    (out_g, loss_g, grads_g), (out_r, loss_r, grads_r) = results["gears"], results["rows"]
    np.testing.assert_allclose(out_r, out_g, rtol=1e-5, atol=1e-6)
    assert loss_r == pytest.approx(loss_g, rel=1e-6)
    for name in grads_g:
        np.testing.assert_allclose(grads_r[name].numpy(), grads_g[name].numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_train_mode_differs_by_the_weighting_of_rows_when_cells_share_a_perturbation():
    """With several cells of one perturbation in a cell batch, GEARS's BatchNorm counts its row once per cell;
    one row per perturbation counts it once. Repeating each row by its cells reproduces GEARS exactly: the
    difference is that weighting and nothing else."""
    import torch

    x, y, node, cond = _cells_first_control()
    model = _toy_model()
    model.train()
    with torch.no_grad():
        gears_out = model(_pyg_batch(x, y, node, cond)[0]).numpy()
        rows = _expand(model, x, node, False).numpy()
        repeated = (model(_row_batch(node.tolist())) + torch.from_numpy(x)).numpy()  # one row per cell
    assert np.abs(rows - gears_out).max() > 1e-4  # batch statistics over 5 rows instead of 7
    np.testing.assert_allclose(repeated, gears_out, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# The trainer on the real screen
# --------------------------------------------------------------------------------------------------


def _runner(real_cycle, cls_name="PerturbationGears", seed=0, **overrides):
    from perturb_select.config import TrainingConfig
    from perturb_select.gears import perturbations
    from perturb_select.gears.common import split_validation
    from perturb_select.knowledge.graph import compact_receptive_field

    config = TrainingConfig(**{"epochs": 1, "hidden_size": 16, "device": "cpu", **overrides})
    fit, val = split_validation(TRAIN, config.val_fraction, seed)
    sub, loops = compact_receptive_field(real_cycle["graph"], TRAIN + TEST, 1)
    cls = getattr(perturbations, cls_name)
    return cls(real_cycle["screen"], sub, fit, val, config, seed, self_loop=loops)


@pytest.mark.parametrize("per_batch", [128, 7])
def test_predictions_from_rows_equal_gears_per_cell_evaluate(real_cycle, per_batch):
    """``PerturbationGears.condition_means`` (rows, with the co-expression quirk's share) = the per-cell
    prediction of ``gears.inference.evaluate`` (``BatchedGears.condition_means``), same weights."""
    from perturb_select.gears.cells import BatchedGears

    runner = _runner(real_cycle, cells_per_prediction_step=per_batch)
    runner.fit()
    conditions = sorted(f"{g}+ctrl" for g in TRAIN)
    data = runner.cell_set(conditions)
    rows_pred, rows_truth, _ = runner.condition_means(data, conditions)
    cell_pred, cell_truth, _ = BatchedGears.condition_means(runner, data, conditions)
    np.testing.assert_allclose(rows_truth, cell_truth, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows_pred, cell_pred, rtol=1e-4, atol=2e-5)


def test_uncertainty_rows_equal_per_cell(real_cycle):
    from perturb_select.gears.cells import BatchedGears

    runner = _runner(real_cycle, uncertainty=True, cells_per_prediction_step=16)
    runner.fit()
    conditions = [f"{TEST[0]}+ctrl"]
    data = runner.cell_set(conditions)
    rows = runner.condition_means(data, conditions)
    cells = BatchedGears.condition_means(runner, data, conditions)
    np.testing.assert_allclose(rows[0], cells[0], rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(rows[2], cells[2], rtol=1e-4, atol=2e-5)


def test_steps_draw_distinct_conditions_and_sample_cells(real_cycle, monkeypatch):
    import torch

    runner = _runner(real_cycle, perturbations_per_step=3, cells_per_perturbation=10, steps_per_epoch=5)
    seen = []
    original = runner._loss

    def spy(out, y, perts):
        seen.append(list(perts))
        return original(out, y, perts)

    monkeypatch.setattr(runner, "_loss", spy)
    from perturb_select.gears.common import Adam

    generator = torch.Generator().manual_seed(0)
    optimizer = Adam(runner.model.parameters(), lr=1e-3)
    mean_loss, steps = runner._train_epoch(optimizer, generator)
    assert steps == 5 and np.isfinite(mean_loss)
    for perts in seen:
        conditions = sorted(set(perts))
        assert len(conditions) == 3  # distinct within a step
        assert all(perts.count(c) == 10 for c in conditions)  # 40 cells each, 10 sampled
    counts = {}
    for perts in seen:
        for c in set(perts):
            counts[c] = counts.get(c, 0) + 1
    # 15 draws over 6 training conditions (control + 5): every condition 2 or 3 times
    assert sum(counts.values()) == 15 and set(counts.values()) <= {2, 3}
    # more distinct conditions than there are: refused (the epoch caps the step at the conditions)
    with pytest.raises(ValueError, match="cannot draw 7 distinct conditions of 6"):
        runner._next_conditions(7, generator)


@pytest.mark.slow
def test_trainer_is_seeded_patient_and_records_its_schedule(real_cycle):
    from perturb_select.config import TrainingConfig
    from perturb_select.gears import TrainingData, train

    data = TrainingData(graph=real_cycle["graph"], screen=real_cycle["screen"])

    def run(seed, **overrides):
        config = TrainingConfig(
            **{
                "trainer": "perturbations",
                "epochs": 12,
                "hidden_size": 16,
                "device": "cpu",
                "lr": 3e-3,
                "lr_decay": 0.95,
                "perturbations_per_step": 32,
                **overrides,
            }
        )
        return train(data, TRAIN, TEST, seed=seed, config=config).predictions

    a, b, c = run(0), run(0), run(1)
    np.testing.assert_array_equal(a.pred, b.pred)  # bit for bit: same config, seed and threads
    assert a.info["diagnostics"] == b.info["diagnostics"]
    assert not np.array_equal(a.pred, c.pred)
    d = a.info["diagnostics"]
    assert a.info["trainer"] == "perturbations" and d["steps_per_epoch"] == 1  # 6 conditions, 32 per step
    assert d["epoch"] == list(range(1, 13)) and d["train_loss"][-1] < d["train_loss"][0]
    for lr in (3e-3, 0.3):
        patient = run(0, patience=2, lr=lr)
        e = patient.info["diagnostics"]
        # stopped 2 epochs after the best, or at the last epoch
        assert len(e["epoch"]) == min(12, e["best_epoch"] + 2)
        if lr == 3e-3:
            assert e["val_mse_top20_de"] == d["val_mse_top20_de"][: len(e["epoch"])]
    assert len(e["epoch"]) < 12  # lr 0.3: no better epoch after the first few


@pytest.mark.parametrize("trainer", ["perturbations", "cells"])
def test_score_train_predicts_the_fitted_perturbations_and_leaves_the_test_alone(real_cycle, trainer):
    from perturb_select.config import TrainingConfig
    from perturb_select.evaluation.metrics import evaluate_predictions
    from perturb_select.gears import TrainingData, train

    data = TrainingData(graph=real_cycle["graph"], screen=real_cycle["screen"])
    config = TrainingConfig(trainer=trainer, epochs=3, hidden_size=16, device="cpu", lr=1e-2)
    plain = train(data, TRAIN, TEST, seed=0, config=config)
    scored = train(data, TRAIN, TEST, seed=0, config=config, score_train=True)
    assert plain.train_predictions is None
    np.testing.assert_array_equal(plain.predictions.pred, scored.predictions.pred)  # test predictions unchanged
    inner = scored.train_predictions
    fit = scored.predictions.info["train_conditions"]
    assert inner.conditions.tolist() == fit and not set(fit) & set(scored.predictions.info["val_conditions"])
    assert inner.info == {"split": "train", "trainer": trainer, "seed": 0}
    screen = real_cycle["screen"]
    np.testing.assert_allclose(inner.truth, np.stack([screen.mean_expression(c) for c in fit]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(inner.de_idx, screen.de_idx[[screen.condition_index(c) for c in fit]])
    np.testing.assert_array_equal(inner.ctrl_mean, scored.predictions.ctrl_mean)
    assert np.isfinite(evaluate_predictions(inner)["mean"]["mse_top20_de"])
