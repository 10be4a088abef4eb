"""One typed GEARS training configuration, built once from the config's ``gears:`` block.

Defaults are GEARS's own (cell-gears 0.1.2): ``GEARS.model_initialize`` (hidden 64, 1 GO-graph SGC layer,
co-expression graph k = 20 at |r| > 0.4, ``direction_lambda`` 0.1, ``uncertainty_reg`` 1),
``GEARS.train`` (20 epochs, Adam lr 1e-3, weight decay 5e-4, ``StepLR(step_size=1, gamma=0.5)``, gradient
values clipped at 1.0) and ``PertData.get_dataloader`` (batch 32, last incomplete batch dropped).
This module imports no torch: the Snakefile and the report read it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from .io import InputError

TRAINERS = ("batched", "cell-gears")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything one GEARS training job needs to know besides its data.

    Attributes
    ----------
    trainer : {'batched', 'cell-gears'}
        ``batched`` (``gears_batched``, default) or cell-gears's own ``PertData``/``GEARS.train`` path
        (``gears_model.train_and_predict``, the reference).
    epochs, batch_size, lr, weight_decay, lr_decay
        The schedule: Adam, learning rate multiplied by ``lr_decay`` after every epoch (``StepLR``
        step 1; GEARS: 0.5).
    test_batch_size : int
        Cells per forward pass when predicting. It matters slightly: ``GEARS_Model``'s co-expression
        ``SGConv`` gets an ``edge_index`` over the first ``num_genes`` rows of the batch, so only the first
        cell of each batch receives co-expression messages (cell-gears 0.1.2 behaviour, kept as it is).
    hidden_size, num_go_gnn_layers, direction_lambda, coexpress_k, coexpress_threshold
        ``GEARS.model_initialize`` arguments (``num_similar_genes_co_express_graph``,
        ``coexpress_threshold``).
    uncertainty, uncertainty_reg
        GEARS's uncertainty head and the weight of its loss term.
    val_fraction : float
        Share of a cycle's training perturbations held out for validation (model selection by top-20
        DE MSE): ``max(1, round(val_fraction * n))``.
    eval_train : bool
        Also evaluate the training set after every epoch (``GEARS.train`` always does; off by default:
        it costs about as much as the epoch and selects nothing).
    device : {'auto', 'cpu', 'cuda'}
    use_subgraph : bool
        Train on the receptive-field subgraph (same model, far cheaper; see gears_model).
    threads : int
        torch CPU threads of the job.
    """

    trainer: str = "batched"
    epochs: int = 20
    batch_size: int = 32
    test_batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 5e-4
    lr_decay: float = 0.5
    hidden_size: int = 64
    num_go_gnn_layers: int = 1
    direction_lambda: float = 0.1
    coexpress_k: int = 20
    coexpress_threshold: float = 0.4
    uncertainty: bool = False
    uncertainty_reg: float = 1.0
    val_fraction: float = 0.1
    eval_train: bool = False
    device: str = "auto"
    use_subgraph: bool = True
    threads: int = 1

    def __post_init__(self):
        def bad(name, problem):
            raise InputError("config", f"gears.{name}", problem)

        if self.trainer not in TRAINERS:
            bad("trainer", f"must be one of {', '.join(TRAINERS)}, got {self.trainer!r}")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            bad("device", f"must be one of {', '.join(DEVICES)} or 'cuda:N', got {self.device!r}")
        for name, low in (("epochs", 1), ("batch_size", 2), ("test_batch_size", 1), ("hidden_size", 1),
                          ("num_go_gnn_layers", 1), ("coexpress_k", 1), ("threads", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(name, f"must be an integer >= {low}, got {value!r}")
        for name, low, high, low_open in (("lr", 0.0, None, True), ("weight_decay", 0.0, None, False),
                                          ("lr_decay", 0.0, 1.0, True), ("direction_lambda", 0.0, None, False),
                                          ("uncertainty_reg", 0.0, None, False),
                                          ("coexpress_threshold", 0.0, 1.0, False),
                                          ("val_fraction", 0.0, 1.0, True)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                bad(name, f"must be a number, got {value!r}")
            if (value <= low if low_open else value < low) or (high is not None and value > high):
                bad(name, f"must lie in {'(' if low_open else '['}{low}, {high if high is not None else 'inf'}], got {value!r}")
        if self.val_fraction >= 1:
            bad("val_fraction", f"must be < 1, got {self.val_fraction!r}")
        for name in ("uncertainty", "eval_train", "use_subgraph"):
            if not isinstance(getattr(self, name), bool):
                bad(name, f"must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_config(cls, gears: Mapping[str, Any]) -> "TrainingConfig":
        """Build from the config's ``gears:`` block. Keys used only by the workflow (``gpus``) are skipped.

        Raises
        ------
        InputError
            An unknown key or a value of the wrong type or range, naming ``gears.<key>``.
        """
        known = {f.name for f in fields(cls)}
        workflow_only = {"gpus"}
        unknown = sorted(set(gears) - known - workflow_only)
        if unknown:
            raise InputError("config", f"gears.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")
        values = {k: v for k, v in gears.items() if k in known}
        for f in fields(cls):  # YAML reads `lr: 1` as an int
            value = values.get(f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                values[f.name] = float(value)
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)
