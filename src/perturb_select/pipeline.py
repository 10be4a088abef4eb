"""One function per pipeline stage: plain paths and parameters in, files out.

The Snakemake scripts under ``scripts/`` only unpack ``snakemake.input/params/output`` and call these,
so every stage can be run and tested without Snakemake. Each stage writes its outputs atomically.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .io import InputError, atomic_open, read_json, read_tsv, write_json, write_tsv

log = logging.getLogger("perturb_select")


# --------------------------------------------------------------------------- Snakemake glue
def run_snakemake_stage(snakemake, stage: Callable, **kwargs) -> None:
    """Run ``stage(**kwargs)`` with logging (and the stdout/stderr of libraries) sent to the rule's log.

    Bad input (``InputError`` and the other ``ValueError``s, missing files or keys) is reported as one
    clear line, anything else with its traceback; both go to the log and to Snakemake's stderr, and the
    job ends with exit status 1, so Snakemake removes its outputs.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    message = None
    with _redirect_to_log(log_path):
        try:
            _injected_fault(getattr(snakemake, "rule", ""))
            stage(**kwargs)
        except (InputError, ValueError, KeyError, FileNotFoundError) as err:
            message = f"{type(err).__name__}: {err}"
            log.error("%s", message)
        except Exception as err:  # noqa: BLE001 - report, then fail the job
            message = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
            log.error("%s", message)
    if message is not None:
        sys.stderr.write(f"ERROR in rule {getattr(snakemake, 'rule', '?')}: {message}\n")
        raise SystemExit(1)
    _trace_imports(getattr(snakemake, "rule", "unknown"))


def _trace_imports(rule: str) -> None:
    """Write the top-level modules this package's code imported in this job (a test hook:
    ``$PERTURB_SELECT_TRACE_IMPORTS/<rule>/<pid>.txt``; nothing without the variable)."""
    import os

    from . import IMPORTED_BY_US, TRACE_IMPORTS_ENV

    folder = os.environ.get(TRACE_IMPORTS_ENV)
    if not folder:
        return
    modules = sorted(IMPORTED_BY_US)
    path = Path(folder) / rule / f"{os.getpid()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(modules) + "\n")


#: Test hook (tests/test_slurm.py only; no config reaches it): ``RULE:once:DIR`` fails the first job of
#: rule RULE (a marker file in DIR records it), ``RULE:always`` fails every job of RULE.
FAULT_ENV = "PERTURB_SELECT_TEST_FAULT"


def _injected_fault(rule: str) -> None:
    """Raise ``RuntimeError`` when ``$PERTURB_SELECT_TEST_FAULT`` asks this rule's job to fail."""
    import os

    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, mode, *rest = spec.split(":", 2) + [""]
    if target != rule:
        return
    if mode == "always":
        raise RuntimeError(f"fault injected by {FAULT_ENV} (every {rule} job fails)")
    if mode == "once":
        marker = Path(rest[0]) / f"{rule}.failed-once"
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
        raise RuntimeError(f"fault injected by {FAULT_ENV} (the first {rule} job fails)")


@contextlib.contextmanager
def _redirect_to_log(log_path):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as handle:
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        previous = root.handlers[:]
        root.handlers = [handler]
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved_out, saved_err
            root.handlers = previous


# --------------------------------------------------------------------------- stages
def fetch(
    output: str,
    url: str | None,
    mirror: str | None,
    mirror_name: str | None,
    sha256: str | None,
    archive_member: str | None = None,
) -> None:
    """Stage fetch_go_annotation / fetch_dataset: mirror first, then the URL (see ``go.fetch_source``).

    ``archive_member`` (GEARS-layout datasets): the fetched file (checked against ``sha256``) is an
    archive, and only that member is written to ``output`` (``gears_data.extract_member``: safe paths,
    no links, atomic).
    """
    import tempfile

    from .go import fetch_source

    if not url:
        # Sources without a canonical URL (e.g. a screen shared in-house) must come from the mirror.
        mirrored = Path(mirror) / mirror_name if mirror and mirror_name else None
        if mirrored is None or not mirrored.is_file():
            raise InputError("config", "url", f"no URL configured for {output} and mirror file {mirrored} not found")
        url = mirrored.resolve().as_uri()
    mirror = Path(mirror) if mirror else None
    if not archive_member:
        fetch_source(url, output, mirror=mirror, mirror_name=mirror_name, sha256=sha256)
        return
    from .gears_data import extract_member

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(output).parent, prefix=".fetch-") as scratch:
        archive = fetch_source(url, Path(scratch) / "archive", mirror=mirror, mirror_name=mirror_name, sha256=sha256)
        extract_member(archive, output, archive_member)


def build_go_graph(
    gene2go: str,
    obo: str,
    gene_info: str,
    edges_out: str,
    stats_out: str,
    gene2go_out: str,
    graph: Mapping,
    taxid: int,
    npz_out: str | None = None,
) -> None:
    """Stage build_go_graph: GO term sets per gene symbol -> Jaccard top-k graph, stats and GEARS's pickle.

    ``npz_out`` (optional): the same graph as ``.npz`` (``KnowledgeGraph.save_npz``) for the many jobs
    that read it (milliseconds instead of parsing the TSV).
    """
    from .gears_model import write_gears_gene2go
    from .go import graph_stats, jaccard_topk_edges, read_gene2go_symbols
    from .graph import KnowledgeGraph

    start = time.perf_counter()
    gene_terms = read_gene2go_symbols(
        gene2go,
        gene_info,
        obo,
        taxid=taxid,
        evidence_codes=graph.get("evidence_codes"),
        namespaces=graph.get("namespaces"),
        scratch_dir=Path(edges_out).parent,  # the job's own folder: a killed job leaves nothing in /tmp
    )
    universe = None
    if graph.get("universe"):
        universe = _read_gene_list(graph["universe"])
    log.info("%d genes with GO terms", len(gene_terms))
    edges = jaccard_topk_edges(gene_terms, k=int(graph["k"]), threshold=float(graph["threshold"]), genes=universe)
    knowledge_graph = KnowledgeGraph.from_edges(edges)
    stats = graph_stats(edges, len(gene_terms) if universe is None else len(set(universe) & set(gene_terms)))
    stats["seconds"] = round(time.perf_counter() - start, 2)
    stats["params"] = {k: graph.get(k) for k in ("k", "threshold", "evidence_codes", "namespaces", "universe")}
    log.info("graph: %d nodes, %d edges in %.1f s", knowledge_graph.n_nodes, knowledge_graph.n_edges, stats["seconds"])
    # The Jaccard values as computed (float64), not the graph's float32 copy.
    write_tsv(edges, edges_out)
    if npz_out:
        knowledge_graph.save_npz(npz_out)
    write_gears_gene2go({g: gene_terms[g] for g in knowledge_graph.genes}, gene2go_out)
    write_json(stats, stats_out)


def preprocess_dataset(
    screen: str,
    edges: str,
    gene_info: str,
    adata_out: str,
    candidates_out: str,
    dropped_out: str,
    dataset: Mapping,
    taxid: int,
    arrays_out: str | None = None,
) -> None:
    """Stage preprocess_dataset: raw-count screen -> GEARS layout, candidates and dropped perturbations.

    ``dataset['format'] == 'gears'``: the screen is already GEARS's ``perturb_processed.h5ad``; it is
    validated and its perturbed genes resolved (``gears_data``), nothing is recomputed.

    ``arrays_out`` (optional): the processed screen as ``screen.npz`` (``screen.ScreenArrays``), what the
    batched GEARS trainer reads.
    """
    from .data import preprocess_screen, read_screen, write_outputs
    from .go import SymbolResolver
    from .graph import KnowledgeGraph

    graph = KnowledgeGraph.read(edges)
    graph_genes = set(graph.genes)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph_genes, taxid=taxid)
    if dataset.get("format") == "gears":
        from .gears_data import prepare_gears_screen, read_gears_dataset

        result = prepare_gears_screen(read_gears_dataset(screen), graph_genes=graph_genes, resolver=resolver, source=screen)
    else:
        key = dataset.get("perturbation_key", "perturbation")
        adata = read_screen(screen, key)
        result = preprocess_screen(
            adata,
            graph_genes=graph_genes,
            resolver=resolver,
            perturbation_key=key,
            control_label=dataset.get("control_label", "non-targeting"),
            cell_type=dataset["cell_type"],
            max_cells_per_condition=dataset.get("max_cells_per_condition"),
            min_cells_per_condition=dataset.get("min_cells_per_condition", 1),
            n_top_genes=dataset.get("n_top_genes"),
            seed=int(dataset.get("seed", 0)),
            source=screen,
        )
    log.info("%d candidates, %d dropped", len(result.candidates), len(result.dropped))
    if arrays_out:
        from .screen import ScreenArrays

        ScreenArrays.from_anndata(result.adata, source=adata_out).save(arrays_out)
    write_outputs(result, adata_out, candidates_out, dropped_out)


def split_test_set(candidates: str, output: str, seed: int, test_fraction: float, cycles: int, batch_size: int) -> None:
    """Stage split_test_set: a fixed random test set per seed; the rest is the pool selectors pick from.

    ``cycles`` and ``batch_size`` are only checked (``cycles * batch_size`` must fit in the pool): the split
    does not depend on them.
    """
    from .experiment import check_budget, split_test_set as split

    genes = _read_candidates(candidates)
    result = split(genes, test_fraction=test_fraction, seed=seed)
    check_budget(len(result["pool"]), cycles, batch_size, source=f"{candidates} (config experiment.cycles x batch_size)")
    write_json(result, output)


def select(
    edges: str,
    split: str,
    output: str,
    strategy: str,
    seed: int,
    params: Mapping,
    batch_size: int,
) -> None:
    """Stage select: a one-shot strategy's ranking of the whole pool of the split.

    Cycle ``c`` trains on the first ``c * batch_size`` of the ranking, so adding a cycle reuses this file.
    The greedy selectors are prefix-consistent (the first ``b`` picks of a longer ranking are the picks
    of budget ``b``); ``random`` is a seeded permutation (``seed``: the run's initialisation seed).
    """
    from .graph import KnowledgeGraph
    from .selection import select as run_selection
    from .selection.base import write_selection

    graph = KnowledgeGraph.read(edges)
    pool = read_json(split)["pool"]
    start = time.perf_counter()
    selection = run_selection(strategy, graph, pool, len(pool), seed=int(seed), params=dict(params),
                              source=f"config: experiment.strategies.{strategy}")
    log.info("%s ranked the pool of %d in %.3f s", strategy, len(pool), time.perf_counter() - start)
    write_selection(selection, output, batch_size=int(batch_size))


def select_active(
    split: str,
    output: str,
    strategy: str,
    params: Mapping,
    cycle: int,
    batch_size: int,
    seed: int,
    picks: Sequence[str] = (),
    pool_scores: str | None = None,
    edges: str | None = None,
) -> None:
    """Stage select_active: the batch of cycle ``cycle`` of an active strategy (``strategies`` module).

    Cycle 1 is a seeded random batch of the pool: the first batch of ``random`` for the same ``seed`` (the
    run's initialisation seed), so every active run starts where the random run does. Hybrid's warm-up
    cycles continue GraphReach's greedy on the pool (needs ``edges``). Later cycles apply the strategy's
    method (``active.next_batch``) to ``pool_scores``, written by the training job of cycle ``cycle - 1``;
    k-means and random features are seeded by ``active.cycle_seed(seed, cycle)``.

    Parameters
    ----------
    picks : sequence of str
        The pick files of cycles 1..cycle-1, in order.

    Raises
    ------
    InputError
        A batch larger than the pool left (``experiment.batch_size``), pick files or scores that do not
        belong together.
    """
    from .active import PoolScores, cycle_seed, next_batch, read_picks, write_picks
    from .selection import graphreach, random_selection

    cycle, batch_size = int(cycle), int(batch_size)
    pool = read_json(split)["pool"]
    if len(picks) != cycle - 1:
        raise ValueError(f"cycle {cycle} needs the picks of {cycle - 1} earlier cycles, got {len(picks)}")
    labelled = read_picks(picks, batch_size)
    outside = sorted(set(labelled) - set(pool))
    if outside:
        raise InputError(picks[-1], "gene", f"picks outside the split's pool: {outside[:10]}")
    taken = set(labelled)
    remaining = [g for g in pool if g not in taken]
    if batch_size > len(remaining):
        raise InputError("config", "experiment.batch_size",
                         f"cycle {cycle}: a batch of {batch_size} is larger than the {len(remaining)} pool "
                         f"perturbations left (experiment.cycles x batch_size must fit the pool of {len(pool)})")
    warmup = int(params.get("warmup_cycles", 0))
    start = time.perf_counter()
    if cycle <= warmup:
        from .graph import KnowledgeGraph

        if not edges:
            raise ValueError("hybrid's warm-up needs the graph")
        ranking = graphreach(KnowledgeGraph.read(edges), pool, cycle * batch_size, hops=int(params["hops"]))
        if ranking.genes[: len(labelled)] != labelled:
            raise InputError(picks[-1], "gene", "the warm-up picks so far are not GraphReach's")
        genes, scores, method = ranking.genes[len(labelled):], ranking.gains[len(labelled):], "graphreach"
    elif cycle == 1:
        first = random_selection(pool, batch_size, seed=int(seed))
        genes, scores, method = first.genes, np.full(batch_size, np.nan), "random"
    else:
        if not pool_scores:
            raise ValueError(f"cycle {cycle} needs the pool scores of cycle {cycle - 1}")
        scored = PoolScores.load(pool_scores)
        scored.info["path"] = pool_scores
        method = params["method"]
        genes, scores = next_batch(method, dict(params), scored, labelled, remaining, batch_size,
                                   seed=cycle_seed(int(seed), cycle))
    log.info("%s cycle %d: %s picked %s in %.3f s", strategy, cycle, method, genes, time.perf_counter() - start)
    write_picks(genes, scores, cycle=cycle, method=method, path=output)


def train_gears(
    split: str,
    selection: str | Sequence[str],
    output: str,
    cycle: int,
    seed: int,
    gears: Mapping,
    batch_size: int,
    edges: str,
    screen: str | None = None,
    adata: str | None = None,
    gene2go: str | None = None,
    work_dir: str | None = None,
    threads: int = 1,
    strategy_params: Mapping | None = None,
    pool_out: str | None = None,
) -> None:
    """Stage train_gears: train GEARS on the first ``cycle * batch_size`` picks, predict the test set.

    ``gears`` is the config's ``gears:`` block (``training.TrainingConfig.from_config``); ``threads`` (the
    job's cores) overrides its ``threads``. The batched trainer (default) reads ``screen`` (``screen.npz``)
    and ``edges`` (the graph, ``.npz`` or TSV); the cell-gears trainer reads ``adata``
    (``perturb_processed.h5ad``), ``edges``, ``gene2go`` and uses ``work_dir`` as GEARS's scratch.

    ``selection`` is a one-shot ranking (one TSV) or, for an active strategy, the pick files of cycles
    1..cycle. Then ``strategy_params`` (``strategies.active_params``) and ``pool_out`` are given: the model
    also scores the labelled and the remaining pool perturbations (``active.PoolScores``, written to
    ``pool_out``) for the next cycle's selection; the ``uncertainty`` method trains GEARS with its
    uncertainty head (``uncertainty_reg`` from the strategy's block). ``seed`` is the run's initialisation
    seed.
    """
    import dataclasses

    from .graph import KnowledgeGraph
    from .training import TrainingConfig

    config = dataclasses.replace(TrainingConfig.from_config(gears), threads=max(1, int(threads)))
    params = dict(strategy_params or {})
    train_genes = _cycle_picks(selection, int(cycle), int(batch_size))
    if params.get("method") == "uncertainty":
        config = dataclasses.replace(config, uncertainty=True, uncertainty_reg=float(params["uncertainty_reg"]))
    split_record = read_json(split)
    test_genes = split_record["test"]
    graph = KnowledgeGraph.read(edges)
    pool = None
    if config.trainer == "batched":
        from .gears_batched import train_batched
        from .screen import ScreenArrays

        if not screen:
            raise InputError("config", "gears.trainer", "the batched trainer needs the screen arrays (screen.npz)")
        score_genes = None
        if pool_out:
            trained = set(train_genes)
            score_genes = train_genes + [g for g in split_record["pool"] if g not in trained]
        result = train_batched(ScreenArrays.load(screen), graph, train_genes, test_genes, seed=int(seed), config=config,
                               score_genes=score_genes, score_controls=int(params.get("controls", 300)))
        if pool_out:
            result, pool = result
    else:
        if pool_out:
            raise InputError("config", "gears.trainer",
                             "active strategies need the batched trainer (it scores the pool); set gears.trainer: batched")
        result = _train_cell_gears(adata, gene2go, graph, train_genes, test_genes, int(seed), config, work_dir)
    result.info["cycle"] = int(cycle)
    if pool is not None:
        pool.info["cycle"] = int(cycle)
        pool.save(pool_out)
    result.save(output)


def _train_cell_gears(adata, gene2go, graph, train_genes, test_genes, seed, config, work_dir):
    """The reference path: cell-gears's own PertData / GEARS.train (``gears_model.train_and_predict``)."""
    import shutil

    import anndata as ad

    from .gears_model import read_gears_gene2go, train_and_predict

    from .training import TrainingConfig

    gears_defaults = TrainingConfig()  # GEARS's values; train_and_predict cannot change these
    unsupported = {
        name: getattr(gears_defaults, name)
        for name in ("lr_decay", "direction_lambda", "coexpress_k", "coexpress_threshold", "uncertainty")
        if getattr(config, name) != getattr(gears_defaults, name)
    }
    if unsupported:
        name = sorted(unsupported)[0]
        raise InputError("config", f"gears.{name}",
                         f"the cell-gears trainer runs GEARS.train as it is (GEARS's value {unsupported[name]!r}); "
                         "set gears.trainer: batched to change it")
    if not (adata and gene2go and work_dir):
        raise InputError("config", "gears.trainer", "the cell-gears trainer needs the h5ad, gene2go pickle and work_dir")
    gene_terms = read_gears_gene2go(gene2go)
    result = train_and_predict(
        ad.read_h5ad(adata),
        graph,
        gene_terms,
        train_genes,
        test_genes,
        seed=seed,
        work_dir=Path(work_dir),
        epochs=config.epochs,
        batch_size=config.batch_size,
        test_batch_size=config.test_batch_size,
        hidden_size=config.hidden_size,
        num_go_gnn_layers=config.num_go_gnn_layers,
        lr=config.lr,
        weight_decay=config.weight_decay,
        val_fraction=config.val_fraction,
        device=config.device,
        use_subgraph=config.use_subgraph,
        num_threads=config.threads,
    )
    result.info["trainer"] = "cell-gears"
    # GEARS's scratch (cell graphs, co-expression cache) is only needed while training.
    shutil.rmtree(work_dir, ignore_errors=True)
    return result


def evaluate(predictions: str, output: str, wildcards: Mapping) -> None:
    """Stage evaluate: our metrics on one run's saved predictions."""
    from .gears_model import CyclePredictions
    from .metrics import evaluate_predictions

    run = CyclePredictions.load(predictions)
    result = evaluate_predictions(run)
    # Perturbations GEARS learnt from in this cycle (its own train + validation split of the picks).
    result["n_train_perturbations"] = len(run.info["train_conditions"]) + len(run.info["val_conditions"])
    result["trainer"] = run.info.get("trainer", "cell-gears")
    if "diagnostics" in run.info:  # learning curves of the batched trainer (gears_batched.BatchedGears.fit)
        result["diagnostics"] = run.info["diagnostics"]
    result.update({k: (int(v) if str(v).isdigit() else v) for k, v in wildcards.items()})
    write_json(result, output)


def graph_kernels(edges: str, candidates: str, output: str) -> None:
    """Stage graph_kernel: diffusion kernels between every candidate of a dataset, once per dataset
    (``baselines.diffusion_kernels`` at ``baselines.BETAS``), as ``.npz`` (genes, betas, kernels)."""
    from .baselines import BETAS, diffusion_kernels
    from .graph import KnowledgeGraph

    genes = _read_candidates(candidates)
    start = time.perf_counter()
    kernels = diffusion_kernels(KnowledgeGraph.read(edges), genes, BETAS)
    log.info("diffusion kernels of %d candidates at beta %s in %.2f s", len(genes), BETAS, time.perf_counter() - start)
    with atomic_open(output, "wb") as handle:
        np.savez(handle, genes=np.array(genes), betas=np.array(BETAS), kernels=kernels)


def baselines(screen: str, kernels: str, split: str, selection: str | Sequence[str], cycle: int, batch_size: int,
              output: str, wildcards: Mapping) -> None:
    """Stage baselines: ``no_change``, ``train_mean`` and ``go_kernel_ridge`` (``baselines`` module) trained
    on the cycle's picks (all ``cycle * batch_size`` of them) and scored on the split's test perturbations
    with the metrics GEARS gets (``metrics.evaluate_predictions``). Needs no GEARS and no GPU.

    ``selection``: a one-shot ranking, or the pick files of cycles 1..cycle of an active strategy.
    Writes JSON: the run's keys, ``n_train_perturbations``, ``models`` {model: evaluate_predictions's dict}
    and ``kernel_ridge`` (the chosen beta and lambda).
    """
    from types import SimpleNamespace

    from .baselines import MODELS, baseline_predictions
    from .gears_model import CTRL, condition_of
    from .metrics import evaluate_predictions
    from .screen import ScreenArrays

    train_genes = _cycle_picks(selection, int(cycle), int(batch_size))
    test_genes = read_json(split)["test"]
    arrays = ScreenArrays.load(screen)
    try:
        with np.load(kernels, allow_pickle=False) as data:
            kernel_genes, betas, kernel_values = data["genes"].astype(str).tolist(), data["betas"], data["kernels"]
    except (OSError, ValueError, KeyError) as err:
        raise InputError(kernels, None, f"not a readable kernel file: {err}") from None
    position = {g: i for i, g in enumerate(kernel_genes)}
    missing = [g for g in train_genes + test_genes if g not in position]
    if missing:
        raise InputError(kernels, "genes", f"no kernel rows for {missing[:10]}")
    rows = [position[g] for g in train_genes + test_genes]
    ctrl_mean = arrays.mean_expression(CTRL)
    train_means = np.stack([arrays.mean_expression(condition_of(g)) for g in train_genes])
    test_conds = sorted(condition_of(g) for g in test_genes)
    order = [test_genes.index(c.split("+")[0]) for c in test_conds]
    predicted = baseline_predictions(ctrl_mean, train_means, kernel_values[:, rows][:, :, rows], n_test=len(test_genes))
    idx = [arrays.condition_index(c) for c in test_conds]
    truth = np.stack([arrays.mean_expression(c) for c in test_conds])
    record = {k: (int(v) if str(v).isdigit() else v) for k, v in wildcards.items()}
    record["n_train_perturbations"] = len(train_genes)
    record["models"] = {}
    for model in MODELS:
        run = SimpleNamespace(conditions=np.array(test_conds), pred=predicted[model][order], truth=truth,
                              ctrl_mean=ctrl_mean, de_idx=arrays.de_idx[idx], de_idx_non_dropout=arrays.de_idx_non_dropout[idx])
        record["models"][model] = evaluate_predictions(run)
    fit = predicted["fit"]
    record["kernel_ridge"] = {"beta": float(betas[fit.beta_index]), "lambda": fit.lam,
                              "loo_mse": [[None if np.isnan(v) else float(v) for v in row] for row in fit.loo_mse]}
    write_json(record, output)


def aggregate_report(metric_files: Sequence[str], metrics_out: str, summary_out: str, plots: Mapping[str, str],
                     dataset: str, learning_out: str | None = None, learning_plot: str | None = None,
                     baseline_files: Sequence[str] = (), model_plots: Mapping[str, str] | None = None,
                     comparison_out: str | None = None, auc_out: str | None = None,
                     conclusions_out: str | None = None) -> None:
    """Stage aggregate_report: long metrics table (GEARS and the baselines, a ``model`` column), strategy x
    model x cycle summary (mean ± std over seeds), plots.

    ``learning_out`` / ``learning_plot``: every run's validation learning curve next to the validation
    baselines (TSV), and the final cycle's curves of the first seed per strategy (SVG).
    ``baseline_files`` (the ``baselines`` stage), then ``model_plots`` {metric: SVG} (every model per
    strategy), ``comparison_out`` (``report.final_cycle_comparison``), ``auc_out``
    (``report.learning_curve_auc``) and ``conclusions_out`` (``report.conclusions``, plain text).
    """
    from .report import (collect_learning_curves, collect_metrics, conclusions, final_cycle_comparison,
                         learning_curve_auc, plot_learning_curves, plot_metric_curves, plot_model_curves, summarise)

    table = collect_metrics(metric_files, baseline_files)
    write_tsv(table, metrics_out, float_format="%.6g")
    write_tsv(summarise(table), summary_out)
    for metric, path in plots.items():
        plot_metric_curves(table, metric, path, title=dataset)
    for metric, path in (model_plots or {}).items():
        plot_model_curves(table, metric, path, title=dataset)
    if comparison_out or conclusions_out:
        comparison = final_cycle_comparison(table)
        if comparison_out:
            write_tsv(comparison, comparison_out, float_format="%.6g")
        if conclusions_out:
            text = conclusions(comparison)
            log.info("%s", text.strip())
            with atomic_open(conclusions_out, "w") as handle:
                handle.write(text)
    if auc_out:
        write_tsv(learning_curve_auc(table), auc_out, float_format="%.6g")
    if learning_out or learning_plot:
        curves = collect_learning_curves(metric_files)
        if learning_out:
            write_tsv(curves, learning_out, float_format="%.6g")
        if learning_plot:
            plot_learning_curves(curves, learning_plot, title=dataset)


def stability(runs: Mapping[str, Sequence[Sequence[str]]], kinds: Mapping[str, str], batch_size: int, cycles: int,
              table_out: str, plot_out: str, dataset: str) -> None:
    """Stage stability: picks of R initialisations on one split -> table and figure (``stability`` module).

    ``runs[strategy]`` lists each run's files: one ranking TSV when ``kinds[strategy] == 'one-shot'``,
    else the pick files of cycles 1..cycles.
    """
    from .active import read_picks
    from .selection.base import read_selection
    from .stability import plot_stability, stability_statement, stability_table

    orders = {}
    for strategy, files in runs.items():
        if kinds[strategy] == "one-shot":
            orders[strategy] = [read_selection(f[0]).genes for f in files]
        else:
            orders[strategy] = [read_picks(f, int(batch_size)) for f in files]
    table = stability_table(orders, int(batch_size), int(cycles), kinds)
    log.info("%s", stability_statement(table))
    write_tsv(table, table_out, float_format="%.6g")
    plot_stability(table, plot_out, title=dataset)


# --------------------------------------------------------------------------- helpers
def _cycle_picks(selection: str | Sequence[str], cycle: int, batch_size: int) -> list[str]:
    """The perturbations of cycle ``cycle``: the first ``cycle * batch_size`` of a one-shot ranking (one
    path), or the picks in the pick files of cycles 1..cycle of an active strategy (a list of paths)."""
    from .experiment import cycle_perturbations

    if isinstance(selection, (str, Path)):
        from .selection.base import read_selection

        return cycle_perturbations(read_selection(selection).genes, cycle, batch_size)
    from .active import read_picks

    if len(selection) != cycle:
        raise ValueError(f"cycle {cycle} trains on the picks of {cycle} cycles, got {len(selection)} files")
    return read_picks(selection, batch_size)


def _read_candidates(path: str) -> list[str]:
    frame = read_tsv(path)
    if "gene" not in frame.columns:
        raise InputError(path, "gene", "column missing from the candidates table")
    return frame["gene"].astype(str).tolist()


def _read_gene_list(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().split()
    except OSError as err:
        raise InputError(path, None, f"cannot read gene list: {err}") from None
    genes = [g for g in lines if g and not g.startswith("#")]
    if not genes:
        raise InputError(path, None, "gene list is empty")
    return genes


# --------------------------------------------------------------------------- design a screen
def design(
    edges: str,
    gene_info: str,
    genes: str,
    table_out: str,
    unresolved_out: str,
    plot_out: str,
    summary_out: str,
    budget: int | None,
    method: str,
    hops: int,
    taxid: int,
    seed: int = 0,
    source: str = "config: design",
    screened: str | None = None,
    require: str | None = None,
    exclude: str | None = None,
    cycles: int | None = None,
    batch: int | None = None,
) -> None:
    """Stage design_screen: a candidate gene list -> ranked picks, unresolved queries, coverage plot, summary.

    The same steps as ``perturb-select design`` (``perturb_select.design``): ``screened``, ``require``
    and ``exclude`` are optional symbol files, ``cycles`` and ``batch`` replace ``budget``; ``source``
    names the config entry in errors, the option being the field (``config: design.k562, field
    'budget': ...``).
    """
    from .design import STATUSES, read_gene_list, run_design, write_design
    from .go import SymbolResolver
    from .graph import KnowledgeGraph

    start = time.perf_counter()
    symbols = read_gene_list(genes)
    list_files = {"screened": screened, "require": require, "exclude": exclude}
    lists = {name: read_gene_list(path) if path else [] for name, path in list_files.items()}
    graph = KnowledgeGraph.read(edges)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph.genes, taxid=taxid)
    result = run_design(graph, symbols, resolver, None if budget is None else int(budget), method=method,
                        hops=int(hops), cycles=cycles, batch=batch, source=source, **lists)
    summary = {"genes": str(genes), **{f"{name}_file": str(path) for name, path in list_files.items() if path},
               **result.summary()}
    log.info(
        "%d symbols -> %d candidates (%s); %s K=%d budget %d covers %d of %d nodes (%.4f), %d before the first pick",
        summary["queries"], summary["candidates"],
        ", ".join(f"{summary[s]} {s}" for s in STATUSES if summary[s]),
        method, summary["hops"], summary["budget"], summary["covered_nodes"], summary["graph_nodes"],
        summary["coverage_fraction"], summary["start_covered_nodes"],
    )
    write_design(result, graph, table_path=table_out, unresolved_path=unresolved_out, plot_path=plot_out, seed=int(seed))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(summary, summary_out)


def design_summary(summaries: Mapping[str, str], output: str) -> None:
    """Stage design: one row per configured design (its name, then the ``design_screen`` summary fields)."""
    from .design import STATUSES

    rows = [{"design": name, **read_json(path)} for name, path in summaries.items()]
    columns = ["design", "genes", "queries", *STATUSES, "candidates", "screened_perturbations",
               "required_perturbations", "excluded_perturbations", "method", "hops", "budget", "cycles", "batch",
               "graph_nodes", "start_covered_nodes", "covered_nodes", "coverage_fraction",
               "all_candidates_covered_nodes", "all_candidates_coverage_fraction", "seconds"]
    write_tsv(pd.DataFrame(rows, columns=columns), output, float_format="%.6g")
