"""GEARS trained per perturbation: one network row per perturbation, GEARS's loss over all of its cells.

``GEARS_Model.forward`` (cell-gears 0.1.2, ``gears/model.py``) builds a cell's prediction from the gene and
perturbation embeddings alone and adds the cell's input expression only at the very end
(``out.reshape(...) + x.reshape(-1, 1)``). So for one perturbation p and its training cells i, each paired with
a control input x_i (GEARS's pairing), the prediction is ``f(p) + x_i``: the network runs once per
perturbation, not once per cell, and GEARS's loss (``gears.utils.loss_fct`` / ``uncertainty_loss_fct``,
per condition the mean over its cells, plus the direction term) is computed on the expanded cells
``f(p)[row of i] + x_i`` with cell-gears's own functions. Gradients flow back through the one row.

What depends on a step's make-up, and how this trainer differs from GEARS's cell mini-batches
(``tests/test_gears_perturbations.py`` checks each statement):

* In eval mode (validation, test, pool scores) every row is independent, so ``f(p) + x_i`` equals the
  per-cell forward exactly, except for GEARS's quirk that only the *first* graph of a batch gets
  co-expression messages. Predictions reproduce ``gears.inference.evaluate`` with that quirk: each
  condition's mean mixes the row without co-expression and the row with it, in the proportion of its cells
  that sit first in a prediction batch of ``cells_per_prediction_step`` cells.
* In train mode, BatchNorm's statistics come from the step's rows: one row per perturbation here, one per
  cell in GEARS's batches. When every cell of a cell batch comes from another perturbation (GEARS's
  batches at Replogle scale: 32 cells out of ~75,000 from ~500 perturbations), the rows are the same and the
  outputs are equal; when a perturbation has several cells in a cell batch, GEARS weights its row by that
  count and this trainer does not.
* The loss sees all training cells of each perturbation of the step (or a seeded sample of at most
  ``cells_per_perturbation``), so each step weights every perturbation of the step equally, where a cell
  batch weights it by its cells in the batch; the control counts as one perturbation.

Schedule: an epoch is ``steps_per_epoch`` steps of ``perturbations_per_step`` distinct training conditions
(default: one pass over them), drawn from seeded permutations; Adam, ``StepLR`` per epoch, gradient values
clipped at 1.0, the best epoch by validation top-20 DE MSE kept (``BatchedGears.fit``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..io import InputError
from ..screens.layout import CTRL, condition_gene
from .cells import BatchedGears, CellBatch


class PerturbationGears(BatchedGears):
    """:class:`BatchedGears` trained on mini-batches of perturbations (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        conditions = self.train["conditions"]
        # the training conditions (control included) and the positions of their cells in self.train
        self.train_groups = {c: np.flatnonzero(conditions == c) for c in sorted(set(conditions.tolist()))}
        self._names = list(self.train_groups)
        self._nodes = [-1 if c == CTRL else int(self.pert_graph.index_of([condition_gene(c)])[0]) for c in self._names]
        self._queue: list[int] = []
        self._cell_rng = np.random.default_rng([self.seed, 2])

    def _check_training_set(self) -> None:
        """BatchNorm in train mode needs two rows: the control and at least one perturbation."""
        n = len(set(self.train["conditions"].tolist()))
        if n < 2:
            raise InputError(
                "config",
                "gears.trainer",
                f"the perturbations trainer needs the control and at least one training perturbation, got {n}",
            )

    # ------------------------------------------------------------------ training
    def _train_epoch(self, optimizer, generator) -> tuple[float, int]:
        """``steps_per_epoch`` steps (default one pass over the training conditions) of
        ``perturbations_per_step`` distinct conditions. Returns (mean loss, steps)."""
        cfg = self.config
        per_step = min(cfg.perturbations_per_step, len(self._names))
        steps = cfg.steps_per_epoch or -(-len(self._names) // per_step)
        total = 0.0
        for _ in range(steps):
            total += self._optimizer_step(optimizer, self._step_loss(self._next_conditions(per_step, generator)))
        return total / steps, steps

    def _next_conditions(self, k: int, generator) -> list[int]:
        """The next ``k`` distinct conditions from a stream of seeded permutations (every condition equally
        often over the stream; one that repeats within a step waits for the next step)."""
        import torch

        if not 0 < k <= len(self._names):
            raise ValueError(f"cannot draw {k} distinct conditions of {len(self._names)}")
        chosen: list[int] = []
        deferred: list[int] = []
        while len(chosen) < k:
            if not self._queue:
                self._queue = torch.randperm(len(self._names), generator=generator).tolist()
            i = self._queue.pop(0)
            (deferred if i in chosen else chosen).append(i)
        self._queue = deferred + self._queue
        return chosen

    def _step_loss(self, chosen: list[int]):
        """GEARS's loss over the cells of the ``chosen`` conditions, from one network row per condition."""
        import torch

        cfg = self.config
        cells, rows = [], []
        for row, i in enumerate(chosen):
            members = self.train_groups[self._names[i]]
            if cfg.cells_per_perturbation is not None and len(members) > cfg.cells_per_perturbation:
                members = np.sort(self._cell_rng.choice(members, cfg.cells_per_perturbation, replace=False))
            cells.append(members)
            rows.append(np.full(len(members), row, dtype=np.int64))
        idx, row_of = np.concatenate(cells), torch.from_numpy(np.concatenate(rows)).to(self.device)
        out = self.model(self.row_batch([self._nodes[i] for i in chosen]))
        effect, logvar = out if cfg.uncertainty else (out, None)
        pred = effect[row_of] + self._take(self.train["x"], idx)
        y = self._take(self.train["y"], idx)
        perts = self.train["conditions"][idx].tolist()
        return self._loss((pred, logvar[row_of]) if cfg.uncertainty else pred, y, perts)

    def row_batch(self, nodes: Sequence[int]) -> CellBatch:
        """One row per perturbation-graph node (``-1``: control) with a zero input: ``GEARS_Model`` then
        returns each row's ``f(p)``."""
        import torch

        n = len(nodes)
        return CellBatch(
            x=torch.zeros((n * self.screen.n_genes, 1), device=self.device),
            pert_idx=[[int(v)] for v in nodes],
            batch=torch.arange(n, device=self.device),
        )

    # ------------------------------------------------------------------ prediction
    def condition_means(self, data: dict, conditions: list[str]):
        """Mean predicted and observed expression per condition (and mean log-variance), as
        ``BatchedGears.condition_means`` (``gears.inference.evaluate``) gives them, from network rows.

        Each condition's prediction is ``f(p)`` plus the mean of its cells' inputs, where ``f(p)`` mixes the
        row without co-expression messages (after a leading control row) and the row with them (the
        condition alone, first of its batch) in the proportion of its cells that a per-cell prediction in
        batches of ``cells_per_prediction_step`` cells would place first in a batch.
        """
        import torch

        model, per_batch = self.model, self.config.cells_per_prediction_step
        model.eval()
        order = data["conditions"]
        nodes = [-1 if c == CTRL else int(self.pert_graph.index_of([condition_gene(c)])[0]) for c in conditions]
        with torch.no_grad():
            plain, plain_logvar = self._rows_forward([-1] + nodes)
            preds, truths, logvars = [], [], []
            for i, condition in enumerate(conditions):
                where = np.flatnonzero(order == condition)
                first = np.count_nonzero(where % per_batch == 0) / len(where)
                effect, logvar = plain[i + 1], None if plain_logvar is None else plain_logvar[i + 1]
                if first:
                    alone, alone_logvar = self._rows_forward([nodes[i]])
                    effect = (1 - first) * effect + first * alone[0]
                    if logvar is not None:
                        logvar = (1 - first) * logvar + first * alone_logvar[0]
                x = self._take(data["x"], where).mean(dim=0)
                preds.append((effect + x).cpu().numpy())
                truths.append(self._take(data["y"], where).mean(dim=0).cpu().numpy())
                if logvar is not None:
                    logvars.append(logvar.cpu().numpy())
        as32 = lambda rows: np.stack(rows).astype(np.float32)  # noqa: E731
        return as32(preds), as32(truths), as32(logvars) if logvars else None

    def _rows_forward(self, nodes: Sequence[int]):
        """``f`` (and the log-variance with the uncertainty head) of the rows ``nodes``, model as it is."""
        out = self.model(self.row_batch(nodes))
        return out if self.config.uncertainty else (out, None)
