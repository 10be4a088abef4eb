"""``datasets:``: one screen each (raw, GEARS's processed, or SIMULATED with its :class:`SimulationConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Mapping

from ..io import InputError
from .checks import NAME_PATTERN, JobBlock, _bad, _choice, _field_names, _integer, _number, _unknown_keys

DATASET_FORMATS = ("raw", "gears", "simulated")
#: The word every simulated dataset's name carries, so that every file and figure made from it says so.
SIMULATED_LABEL = "simulated"
#: The label of control cells in a raw screen's perturbation column (``datasets.<name>.control_label``).
CONTROL_LABEL = "non-targeting"


SIMULATION_MECHANISMS = ("kernel", "receptive_field")
"""How a SIMULATED screen's effects depend on the graph (``screens.simulated``)."""


@dataclass(frozen=True)
class SimulationConfig(JobBlock):
    """The knobs of a SIMULATED screen (``datasets.<name>.simulation``; ``screens.simulated`` explains the
    model). Every field is recorded in the screen's truth file.

    Attributes
    ----------
    graph_signal : float in [0, 1]
        How much which perturbations have similar effects, and which have a strong phenotype, follows the
        GO graph (0: not at all).
    n_genes : int
        Readout genes: the candidates, then other graph nodes drawn at random (seeded) up to ``n_genes``.
    cells_per_perturbation, control_cells : int
    programmes, genes_per_programme : int
        Latent programmes and the genes each (and the shared response) moves.
    shared : float
        Weight of the response every perturbation shares (no graph information) against the programmes.
    strong_share : float in [0, 1]
        Share of perturbations with a strong phenotype, exactly ``round(strong_share x candidates)``
        (Replogle 2022 K562 essential: 1,092 of 2,057 targets pass GEARS's strong-perturbation filter, 53 %).
    strong_effect, weak_effect : float
        Amplitudes (natural-log fold change per unit of loading); calibrated on the Papalexi screen.
    knockdown : float in (0, 1]
        Expression fraction left to a measured target.
    beta : float
        Diffusion time of the GO kernel of the Gaussian process.
    truth_cells : int
        Cells per condition of the truth estimate (250: its Monte-Carlo variance is a fifth of that of the
        mean of a screen's 50 cells; with 1,000 a 1,500-gene screen took 152 s to draw, with 250 ~100 s).
    mechanism : {'kernel', 'receptive_field'}
        How the programme activations depend on the graph: ``kernel``, a Gaussian process on the GO
        diffusion kernel between the candidates; ``receptive_field``, GEARS's propagation of latent node
        vectors over each perturbation's receptive field (K = ``gears.num_go_gnn_layers``).
    replicate_screens : bool
        Every experiment seed draws its own screen (seeded by the dataset's seed and the experiment seed),
        so paired tests over seeds count screens, not only splits.
    """

    graph_signal: float = 0.9
    n_genes: int = 2000
    cells_per_perturbation: int = 100
    control_cells: int = 1000
    programmes: int = 10
    genes_per_programme: int = 100
    shared: float = 1.0
    strong_share: float = 0.53
    strong_effect: float = 1.0
    weak_effect: float = 0.1
    knockdown: float = 0.2
    beta: float = 8.0
    truth_cells: int = 250
    mechanism: str = "kernel"
    replicate_screens: bool = False

    def __post_init__(self):
        _choice(self.mechanism, SIMULATION_MECHANISMS, "simulation.mechanism")
        if not isinstance(self.replicate_screens, bool):
            raise _bad("simulation.replicate_screens", f"must be true or false, got {self.replicate_screens!r}")
        for name, low, high in (("graph_signal", 0.0, 1.0), ("strong_share", 0.0, 1.0)):
            _number(getattr(self, name), f"simulation.{name}", low, high)
        _number(self.knockdown, "simulation.knockdown", 0.0, 1.0, low_open=True)
        for name in (
            "n_genes",
            "cells_per_perturbation",
            "control_cells",
            "programmes",
            "genes_per_programme",
            "truth_cells",
        ):
            _integer(getattr(self, name), f"simulation.{name}", 2)
        for name in ("strong_effect", "weak_effect", "beta", "shared"):
            _number(getattr(self, name), f"simulation.{name}", 0.0, None)

    @classmethod
    def from_config(cls, block: Mapping | None, where: str = "simulation") -> "SimulationConfig":
        """From a ``simulation:`` block (integers accepted for floats), naming ``<where>.<key>`` in errors."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls), where)
        for f in fields(cls):
            value = block.get(f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                block[f.name] = float(value)
        try:
            return cls(**block)
        except InputError as err:  # name the dataset's block, not the bare key
            raise InputError("config", str(err.field).replace("simulation", where, 1), err.problem) from None


@dataclass(frozen=True)
class DatasetConfig(JobBlock):
    """One entry of ``datasets:``.

    Attributes
    ----------
    name : str
    format : {'raw', 'gears', 'simulated'}
        ``raw``: a raw-count screen processed here (``screens.raw``); ``gears``: GEARS's own
        ``perturb_processed.h5ad``, or an archive holding it (``screens.published``); ``simulated``: a
        SIMULATED raw-count screen drawn here (``screens.simulated``), then processed as ``raw``; its name
        must contain ``simulated``.
    url, mirror, mirror_name, sha256
        Where the file comes from (``knowledge.fetch.fetch_source``).
    archive_member : str
        ``format: gears``: the file taken from the archive.
    perturbations_per_cycle : int or None
        This dataset's perturbations per cycle (None: ``experiment.perturbations_per_cycle``).
    perturbation_key, control_label, cell_type
        Raw screens: the ``obs`` column of the targets, the label of control cells, the cell type.
    max_cells_per_condition, min_cells_per_condition, n_top_genes, seed
        Raw screens: cell cap per condition (seeded), minimum cells, optional HVG count; ``seed`` also
        seeds a simulated screen.
    candidates, reference, simulation
        Simulated screens: the candidate gene list (symbols, resolved to graph nodes), the real screen whose
        control cells (``control_label`` under ``perturbation_key``) give the control expression, and the
        :class:`SimulationConfig`.
    """

    name: str
    format: str = "raw"
    url: str | None = None
    mirror: str | None = None
    mirror_name: str | None = None
    sha256: str | None = None
    archive_member: str = "perturb_processed.h5ad"
    perturbations_per_cycle: int | None = None
    perturbation_key: str = "perturbation"
    control_label: str = CONTROL_LABEL
    cell_type: str | None = None
    max_cells_per_condition: int | None = None
    min_cells_per_condition: int = 1
    n_top_genes: int | None = None
    seed: int = 0
    candidates: str | None = None
    reference: str | None = None
    simulation: SimulationConfig | None = None

    NESTED = {"simulation": SimulationConfig}  # not a field: no annotation

    def __post_init__(self):
        where = f"datasets.{self.name}"
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):  # fullmatch: no trailing \n
            raise _bad(
                "datasets", f"a dataset name is letters, digits, '_' and '-' (it names files), got {self.name!r}"
            )
        _choice(self.format, DATASET_FORMATS, f"{where}.format")
        simulated = self.format == "simulated"
        if simulated:
            if SIMULATED_LABEL not in self.name:
                raise _bad(
                    where,
                    f"a simulated dataset's name must contain '{SIMULATED_LABEL}' (every file and "
                    "figure made from it carries the name)",
                )
            for key in ("candidates", "reference"):
                if not getattr(self, key):
                    raise _bad(f"{where}.{key}", "a simulated screen needs it")
            if self.simulation is None:
                object.__setattr__(self, "simulation", SimulationConfig())
            if not self.cell_type:
                object.__setattr__(self, "cell_type", SIMULATED_LABEL)
        else:
            for key in ("candidates", "reference", "simulation"):
                if getattr(self, key) is not None:
                    raise _bad(f"{where}.{key}", f"only a simulated dataset takes it (format is {self.format!r})")
        if self.format == "raw" and not self.cell_type:
            raise _bad(f"{where}.cell_type", "a raw-count screen needs its cell type")
        _integer(self.perturbations_per_cycle, f"{where}.perturbations_per_cycle", 1, optional=True)
        _integer(self.min_cells_per_condition, f"{where}.min_cells_per_condition", 1)
        _integer(self.max_cells_per_condition, f"{where}.max_cells_per_condition", 2, optional=True)
        _integer(self.n_top_genes, f"{where}.n_top_genes", 2, optional=True)
        _integer(self.seed, f"{where}.seed", 0)

    @classmethod
    def from_config(cls, name: str, block: Mapping) -> "DatasetConfig":
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"name"}, f"datasets.{name}")
        if "simulation" in block:
            block["simulation"] = SimulationConfig.from_config(block["simulation"], f"datasets.{name}.simulation")
        return cls(name=name, **block)

    def screen_params(self) -> dict:
        """The block as the screen's jobs get it (fetch, simulate, preprocess): :meth:`to_params` with the plan's
        ``perturbations_per_cycle`` set to None, so changing it redraws and reprocesses no screen (the selection
        and training jobs get it on its own).

        Returns
        -------
        dict
            Every field (``DatasetConfig.from_params`` rebuilds the block), keys sorted.
        """
        return replace(self, perturbations_per_cycle=None).to_params()

    @property
    def simulated(self) -> bool:
        return self.format == "simulated"

    def source(self) -> dict:
        """Keyword arguments of the fetch stage: url, mirror, mirror_name, sha256, archive_member
        (``None`` for a raw screen: the file is taken as it is; a simulated screen is not fetched)."""
        return {
            "url": self.url,
            "mirror": self.mirror,
            "mirror_name": self.mirror_name,
            "sha256": self.sha256,
            "archive_member": self.archive_member if self.format == "gears" else None,
        }
