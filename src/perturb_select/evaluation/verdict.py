"""The GEARS verdict (``benchmarks/gears_verdict.py``): GEARS's trainers and the reference models on SIMULATED
screens built in-process, scored on the held-out test perturbations and in sample.

What the benchmark needs that a pipeline job gets from files, made in memory instead, and the table it writes:

* :func:`go_inputs`: GEARS's GO graph and its gene2go pickle (``knowledge.build``), cached by the GO files'
  content;
* :func:`resolved_candidates`: a gene list's symbols resolved to graph nodes (as ``stages.data.simulate_dataset``);
* :func:`simulated_case`: a SIMULATED screen (``screens.simulated.simulate_screen``) processed as the pipeline
  processes it (``screens.raw.preprocess_screen``), as GEARS's AnnData, the screen arrays and the truth;
* :func:`cached_graph_kernels`: the graph baselines' kernels (``evaluation.baselines.graph_kernels``), cached;
* :func:`reference_scores`: every model of ``evaluation.baselines.score_baselines`` (``MODELS`` and the oracle,
  whatever they are) on the test perturbations and, in sample, on the perturbations GEARS was fitted on;
* :func:`gears_scores`: a ``TrainingResult``'s test and in-sample predictions scored the same way;
* :func:`parse_gears_log`: the per-epoch learning curve that ``GEARS.train`` prints (the cell-gears trainer
  records none);
* :func:`verdict_rows` / :func:`write_verdict_tsv`: the table (:data:`VERDICT_COLUMNS`).

Everything shown here is SIMULATED; the benchmark's file names say so.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import DEFAULT_HOPS, HUMAN_TAXID
from ..io import InputError, write_tsv
from ..screens.layout import CTRL, condition_of

#: Columns of the verdict table, in order: one row per (screen, cycle, seed, model run, split).
VERDICT_COLUMNS = (
    "screen",
    "mechanism",
    "graph_signal",
    "cycle",
    "seed",
    "model",
    "trainer",
    "schedule",
    "split",
    "n_perturbations",
    "epochs",
    "best_epoch",
    "budget_epochs",
    "stopped_early",
    "mse_top20_de",
    "pearson_delta",
    "cpu_s",
    "wall_s",
)
#: Splits of the verdict table: the held-out test perturbations, and the perturbations the model was fitted on.
SPLITS = ("test", "train")
SIMULATED_CELL_TYPE = "simulated"


# --------------------------------------------------------------------------------------------------
# Inputs: the GO graph, the candidates, a simulated screen, the kernels
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoInputs:
    """GEARS's GO graph and the GO terms of its genes.

    Attributes
    ----------
    graph : perturb_select.knowledge.graph.KnowledgeGraph
    gene2go_path : Path
        GEARS's ``gene2go_all.pkl`` restricted to the graph's genes (the cell-gears trainer's input).
    key : str
        Hex digest of the GO files' content and the graph parameters (``knowledge.build.graph_cache_key``).
    """

    graph: object
    gene2go_path: Path
    key: str


def go_inputs(go_dir: str | os.PathLike, cache_dir: str | os.PathLike, params=None) -> GoInputs:
    """GEARS's Jaccard GO graph (``knowledge.build.build_knowledge_graph``, ~15 s) and its gene2go pickle, read
    from ``cache_dir`` when the same GO files and parameters were built before.

    Parameters
    ----------
    go_dir : path-like
        Holds gene2go, go-basic.obo and gene_info (``config.GO_FILE_NAMES``).
    cache_dir : path-like
        ``go_jaccard-<key>.npz`` and ``gene2go-<key>.pkl`` are kept there (written atomically).
    params : perturb_select.config.GraphConfig, optional
        Default ``GraphConfig()`` (k 20, threshold 0.1, human): config/simulated.yaml's graph.

    Raises
    ------
    InputError
        A GO file missing from ``go_dir``; the readers' errors.
    """
    from ..config import GraphConfig
    from ..knowledge.annotations import write_gears_gene2go
    from ..knowledge.build import GoFiles, build_knowledge_graph, graph_cache_key
    from ..knowledge.graph import KnowledgeGraph

    params = params or GraphConfig()
    files = GoFiles.in_directory(go_dir)
    key = graph_cache_key(files.paths(), params.cache_params())[:32]
    cache = Path(cache_dir)
    graph_path, gene2go_path = cache / f"go_jaccard-{key}.npz", cache / f"gene2go-{key}.pkl"
    if graph_path.is_file() and gene2go_path.is_file():
        try:
            return GoInputs(KnowledgeGraph.read_npz(graph_path), gene2go_path, key)
        except InputError:
            pass  # a damaged entry: rebuilt below
    built = build_knowledge_graph(files, params)
    cache.mkdir(parents=True, exist_ok=True)
    write_gears_gene2go({g: built.gene_terms[g] for g in built.graph.genes}, gene2go_path)
    built.graph.save_npz(graph_path)
    return GoInputs(built.graph, gene2go_path, key)


def resolved_candidates(
    gene_list: str | os.PathLike,
    gene_info: str | os.PathLike,
    graph,
    taxid: int = HUMAN_TAXID,
    n: int | None = None,
    seed: int = 0,
) -> list[str]:
    """The symbols of ``gene_list`` resolved to graph nodes through ``gene_info``, sorted and unique (as
    ``stages.data.simulate_dataset`` resolves a simulated dataset's candidates).

    Parameters
    ----------
    n : int, optional
        Keep a seeded random subset of ``n`` (``numpy.random.default_rng(seed)``), sorted; None keeps all.

    Raises
    ------
    InputError
        Fewer than ``n`` (or than 3) resolved candidates; the readers' errors.
    """
    from ..knowledge.symbols import SymbolResolver, read_gene_list

    resolver = SymbolResolver.from_gene_info(gene_info, universe=set(graph.genes), taxid=taxid)
    genes = sorted({r.symbol for r in resolver.resolve_many(read_gene_list(gene_list)) if r.ok})
    if n is not None:
        if n > len(genes) or n < 3:
            raise InputError(gene_list, "genes", f"asked for {n} candidates, {len(genes)} resolve to graph nodes")
        genes = sorted(np.random.default_rng(seed).choice(genes, n, replace=False).tolist())
    if len(genes) < 3:
        raise InputError(gene_list, "genes", f"{len(genes)} symbols resolve to graph nodes; need at least 3")
    return genes


@dataclass
class SimulatedCase:
    """One SIMULATED screen, processed: what the trainers and the baselines read.

    Attributes
    ----------
    name : str
        Contains "simulated" (e.g. ``simulated_kernel_gs0.9``).
    mechanism : str
        ``simulation.mechanism`` (``kernel`` when the settings have none).
    graph_signal : float
    seed : int
        The screen's seed (``simulate_screen``); ``replicate`` the replicate, or None.
    adata : anndata.AnnData
        GEARS's processed layout (``screens.raw.preprocess_screen``): the cell-gears trainer's input.
    arrays : perturb_select.screens.arrays.ScreenArrays
        The same screen as arrays: the tensor trainers' and the baselines' input.
    candidates : list of str
        The perturbed genes kept by the processing (every simulated target).
    truth : dict of str to numpy.ndarray
        ``{condition: expected expression in arrays.genes order}`` (``screens.simulated.read_truth``'s form).
    seconds : dict
        ``simulate`` and ``process`` wall seconds.
    """

    name: str
    mechanism: str
    graph_signal: float
    seed: int
    adata: object
    arrays: object
    candidates: list
    truth: dict
    replicate: int | None = None
    seconds: dict = field(default_factory=dict)


def simulated_case(
    graph,
    candidates: Sequence[str],
    control,
    settings,
    *,
    seed: int = 0,
    replicate: int | None = None,
    hops: int = DEFAULT_HOPS,
    resolver=None,
    name: str | None = None,
) -> SimulatedCase:
    """Draw a SIMULATED screen and process it as the pipeline does (``stages.data``: ``simulate_dataset``, then
    ``preprocess_dataset`` with ``cell_type`` 'simulated').

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str
        Graph nodes (:func:`resolved_candidates`).
    control : perturb_select.screens.simulated.ControlModel
    settings : perturb_select.config.SimulationConfig
    seed, replicate, hops
        ``screens.simulated.simulate_screen``'s.
    resolver : SymbolResolver, optional
        Resolves the screen's labels (they are graph symbols already); default an identity resolver.
    name : str, optional
        Default ``simulated_<mechanism>_gs<graph_signal>``; must contain "simulated".

    Raises
    ------
    InputError
        ``simulate_screen``'s and ``preprocess_screen``'s errors; a name without "simulated".
    """
    import time

    from ..screens.arrays import ScreenArrays
    from ..screens.raw import preprocess_screen
    from ..screens.simulated import simulate_screen, simulated_anndata

    mechanism = settings.mechanism
    name = name or f"simulated_{mechanism}_gs{settings.graph_signal:g}"
    if "simulated" not in name:
        raise InputError("name", None, f"a SIMULATED screen's name must say so, got {name!r}")
    t0 = time.perf_counter()
    screen = simulate_screen(
        graph,
        list(candidates),
        control,
        settings,
        seed=int(seed),
        hops=int(hops),
        replicate=None if replicate is None else int(replicate),
    )
    simulated_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = preprocess_screen(
        simulated_anndata(screen),
        graph_genes=frozenset(graph.genes),
        resolver=resolver or _IdentityResolver(),
        control_label=screen.control_label,
        cell_type=SIMULATED_CELL_TYPE,
        source=name,
    )
    arrays = ScreenArrays.from_anndata(result.adata, source=name)
    kept = result.candidates["gene"].astype(str).tolist()
    position = {g: i for i, g in enumerate(np.asarray(screen.genes).astype(str))}
    columns = np.array([position[g] for g in arrays.genes])
    conditions = [CTRL] + [condition_of(g) for g in screen.candidates]
    truth = {c: row[columns] for c, row in zip(conditions, screen.truth)}
    return SimulatedCase(
        name=name,
        mechanism=mechanism,
        graph_signal=float(settings.graph_signal),
        seed=int(seed),
        replicate=replicate,
        adata=result.adata,
        arrays=arrays,
        candidates=kept,
        truth=truth,
        seconds={"simulate": round(simulated_s, 1), "process": round(time.perf_counter() - t0, 1)},
    )


class _IdentityResolver:
    """A simulated screen's labels are graph symbols: each resolves to itself."""

    def resolve(self, symbol):
        from ..knowledge.symbols import Resolution

        return Resolution(query=symbol, symbol=symbol, status="official")


def cached_graph_kernels(graph, genes: Sequence[str], hops: int, cache_dir: str | os.PathLike, betas=None):
    """``evaluation.baselines.graph_kernels`` between ``genes`` (~30 s per beta for the 1,085 Replogle targets on
    the human graph), kept in ``cache_dir`` under a key of the graph's edges, the genes, ``hops`` and ``betas``.

    Returns
    -------
    perturb_select.evaluation.baselines.GraphKernels
    """
    from .baselines import BETAS, graph_kernels, load_kernels, save_kernels

    betas = tuple(float(b) for b in (BETAS if betas is None else betas))
    digest = hashlib.sha256()
    adjacency = graph.adjacency.tocsr()
    for part in (np.asarray(graph.genes).astype(str), adjacency.indptr, adjacency.indices, adjacency.data):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(repr((sorted(str(g) for g in genes), int(hops), betas)).encode())
    path = Path(cache_dir) / f"kernels-{digest.hexdigest()[:32]}.npz"
    genes = [str(g) for g in genes]
    if path.is_file():
        try:
            kernels = load_kernels(path)
            if kernels.genes == genes:
                return kernels
        except InputError:
            pass
    kernels = graph_kernels(graph, genes, int(hops), betas)
    save_kernels(path, kernels)
    return kernels


# --------------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------------


def reference_scores(
    case: SimulatedCase, kernels, train_genes: Sequence[str], fitted_genes: Sequence[str], test_genes: Sequence[str]
) -> dict:
    """Every model ``evaluation.baselines.score_baselines`` scores (its ``MODELS`` and the oracle), trained on
    ``train_genes``: on the test perturbations, and in sample on ``fitted_genes`` (the perturbations GEARS was
    fitted on: the picks less its validation ones).

    Returns
    -------
    dict
        ``{'test': score_baselines's dict, 'train': the same with test = fitted_genes}``.
    """
    from .baselines import score_baselines

    return {
        split: score_baselines(case.arrays, kernels, list(train_genes), list(genes), source=case.name, truth=case.truth)
        for split, genes in (("test", test_genes), ("train", fitted_genes))
    }


def gears_scores(result) -> dict:
    """``evaluation.metrics.evaluate_predictions`` of a ``gears.results.TrainingResult``'s test predictions and,
    when present, its in-sample ones: ``{'test': ..., 'train': ...}``."""
    from .metrics import evaluate_predictions

    out = {"test": evaluate_predictions(result.predictions)}
    if result.train_predictions is not None:
        out["train"] = evaluate_predictions(result.train_predictions)
    return out


_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|-?inf)"
_GEARS_EPOCH = re.compile(rf"Epoch (\d+): Train Overall MSE: {_NUMBER} Validation Overall MSE: {_NUMBER}")
_GEARS_DE = re.compile(rf"Train Top 20 DE MSE: {_NUMBER} Validation Top 20 DE MSE: {_NUMBER}")


def parse_gears_log(text: str) -> pd.DataFrame:
    """The learning curve ``GEARS.train`` (cell-gears 0.1.2, ``gears/gears.py``) prints after every epoch.

    Parameters
    ----------
    text : str
        What ``GEARS.train`` wrote to stderr (``print_sys``): per epoch ``Epoch E: Train Overall MSE: a
        Validation Overall MSE: b.`` then ``Train Top 20 DE MSE: c Validation Top 20 DE MSE: d.``.

    Returns
    -------
    pandas.DataFrame
        ``epoch`` (int), ``train_mse``, ``val_mse``, ``train_mse_top20_de``, ``val_mse_top20_de`` (float64; the
        training set is GEARS's own: its fitted perturbations and the control cells, at that epoch's weights).

    Raises
    ------
    ValueError
        The two kinds of line do not pair up.
    """
    epochs = _GEARS_EPOCH.findall(text)
    de = _GEARS_DE.findall(text)
    if len(epochs) != len(de):
        raise ValueError(f"GEARS log: {len(epochs)} epoch lines but {len(de)} top-20 DE lines")
    return pd.DataFrame(
        {
            "epoch": [int(e[0]) for e in epochs],
            "train_mse": [float(e[1]) for e in epochs],
            "val_mse": [float(e[2]) for e in epochs],
            "train_mse_top20_de": [float(d[0]) for d in de],
            "val_mse_top20_de": [float(d[1]) for d in de],
        },
        columns=["epoch", "train_mse", "val_mse", "train_mse_top20_de", "val_mse_top20_de"],
    )


def verdict_rows(
    keys: Mapping, scores: Mapping[str, dict], *, model: str, trainer: str = "", schedule: str = "", **extra
) -> list[dict]:
    """Rows of the verdict table for one model run, one per split of ``scores``.

    Parameters
    ----------
    keys : mapping
        ``screen``, ``mechanism``, ``graph_signal``, ``cycle``, ``seed``.
    scores : mapping str -> dict
        Per split (:data:`SPLITS`), ``evaluate_predictions``'s dict.
    model, trainer, schedule : str
    **extra
        The other columns (``epochs``, ``best_epoch``, ``budget_epochs``, ``stopped_early``, ``cpu_s``,
        ``wall_s``); missing ones are left empty.
    """
    rows = []
    for split in SPLITS:
        if split not in scores:
            continue
        mean = scores[split]["mean"]
        rows.append(
            {
                **keys,
                "model": model,
                "trainer": trainer,
                "schedule": schedule,
                "split": split,
                "n_perturbations": scores[split]["n_perturbations"],
                "mse_top20_de": mean["mse_top20_de"],
                "pearson_delta": mean["pearson_delta"],
                **extra,
            }
        )
    return rows


def per_perturbation_errors(
    scores: Mapping[str, dict], split: str = "test", metric: str = "mse_top20_de"
) -> dict[str, float]:
    """``{condition: metric}`` of one split of :func:`gears_scores` / :func:`reference_scores`'s per-model dict."""
    return {c: values[metric] for c, values in scores[split]["per_perturbation"].items()}


def write_verdict_tsv(rows: Sequence[Mapping], path: str | os.PathLike) -> pd.DataFrame:
    """Write the verdict table (:data:`VERDICT_COLUMNS`, in that order; extra keys after them), atomically.

    Raises
    ------
    ValueError
        A row without ``screen``, ``model``, ``split`` or ``mse_top20_de``, a split outside :data:`SPLITS`, or a
        screen name without "simulated".
    """
    frame = pd.DataFrame(list(rows))
    for column in ("screen", "model", "split", "mse_top20_de"):
        if column not in frame.columns or frame[column].isna().any():
            raise ValueError(f"every row needs {column!r}")
    bad = sorted(set(frame["split"]) - set(SPLITS))
    if bad:
        raise ValueError(f"unknown splits {bad}; expected {SPLITS}")
    unlabelled = sorted({s for s in frame["screen"].astype(str) if "simulated" not in s})
    if unlabelled:
        raise ValueError(f"screens not labelled SIMULATED: {unlabelled}")
    for column in VERDICT_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    frame = frame[list(VERDICT_COLUMNS) + [c for c in frame.columns if c not in VERDICT_COLUMNS]]
    write_tsv(frame, path, float_format="%.6g")
    return frame
