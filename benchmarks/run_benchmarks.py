#!/usr/bin/env python
"""Run the genome-scale benchmarks and print their table (see docs/benchmarks.md).

    .venv/bin/python benchmarks/run_benchmarks.py [--quick] [--only NAME ...] [--json FILE] [--markdown FILE]

Inputs are built from the real data (default ``../shared/data`` beside the repository), never
downloaded. Each benchmark, and each point of the MaxSpec grid, runs in its own fresh process, so
the peak resident set size printed next to it is its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_convergence  # noqa: E402
import bench_suite as suite  # noqa: E402 - the helper module beside this script
import bench_training  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

ALL_PEERS = ("plain greedy", "apricot lazy", "apricot naive")
QUICK_PEERS = ("plain greedy", "apricot lazy")

# name -> what it measures (the --only choices, in run order)
BENCHMARKS = {
    "graphreach-k1": "greedy max coverage, every gene a candidate, K=1",
    "graphreach-k2": "greedy max coverage, every gene a candidate, K=2",
    "replogle-graphreach": "GraphReach on the 1,092 Replogle 2022 K562 targets, K=1, budget 500",
    "replogle-maxspec": "MaxSpec on the Replogle targets, K=1, budget 500 (--quick: 50)",
    "maxspec-scaling": "MaxSpec time over a grid of budgets x candidate pool sizes",
    "maxspec-agreement": "MaxSpec's shortlisted greedy against the exhaustive greedy, first 40 picks (--quick: 10)",
    "jaccard-full": "GO graph from the full human gene2go: reading and Jaccard top-k",
    "jaccard-gears": "Jaccard top-k against GEARS's make_GO on a 2,000-gene subset",
    "gears-job": "one cold train_gears job of the main job (Papalexi cycle 5): perturbations, cells, cell-gears",
    "gears-throughput": "one GEARS training epoch at Replogle K562 shape (synthetic values), the three trainers",
    "gears-reach-real": "CPU time to the cells trainer's best validation score, Papalexi (real), 3 seeds",
    "gears-reach-simulated": "the same on a SIMULATED Replogle-shaped screen (1,085 genes, 50 cells each), 3 seeds",
    "gears-replogle-job": "one cycle-5 job of the paper's protocol at Replogle shape (SIMULATED screen), 1 core",
    "gears-accuracy": "test top-20 DE MSE, perturbations vs cells trainer, Papalexi cycle 5, 10 seeds paired",
    "active-selection": "TypiClust and ACS-FW batches from 1,000 pool perturbations with 100-d features",
}
NEEDS_PREPARED = set(BENCHMARKS) - {"jaccard-full", "gears-job", "active-selection"}
#: Seconds allowed to benchmarks that train to convergence (the others: --time-limit).
LONG_LIMITS = {"gears-reach-simulated": 3 * 3600.0, "gears-replogle-job": 2 * 3600.0, "gears-accuracy": 1800.0}

# Libraries imported before a benchmark's baseline memory is taken, so that its RSS increase is data
# and work, not library code.
_BASE = ("numpy", "scipy.sparse", "pandas", "perturb_select.knowledge.graph")
_COVERAGE = _BASE + ("perturb_select.selection.graphreach", "apricot")
PRELOAD = {
    "graphreach-k1": _COVERAGE,
    "graphreach-k2": _COVERAGE,
    "replogle-graphreach": _COVERAGE,
    "replogle-maxspec": _BASE + ("perturb_select.selection.maxspec",),
    "maxspec-agreement": _BASE + ("perturb_select.selection.maxspec",),
    "jaccard-full": _BASE
    + (
        "perturb_select.knowledge.annotations",
        "perturb_select.knowledge.jaccard",
        "goatools.anno.genetogo_reader",
        "goatools.obo_parser",
    ),
    "jaccard-gears": _BASE + ("perturb_select.knowledge.jaccard", "gears.utils"),
    "gears-job": _BASE,
    "active-selection": _BASE + ("torch", "sklearn.cluster"),
    "gears-throughput": _BASE + ("torch", "torch_geometric", "gears.utils", "perturb_select.gears.cells"),
    "gears-reach-real": _BASE + ("torch", "perturb_select.gears.perturbations"),
    "gears-reach-simulated": _BASE + ("torch", "perturb_select.gears.perturbations", "scanpy"),
    "gears-replogle-job": _BASE + ("torch", "perturb_select.gears.perturbations", "scanpy"),
    "gears-accuracy": _BASE + ("torch", "perturb_select.gears.perturbations"),
}


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _pool_list(text: str) -> list[int | None]:
    return [None if x.strip() == "all" else int(x) for x in text.split(",") if x.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="shared data directory with go/ and genelists/ (default: ../shared/data beside the repository)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller budgets and grid, no apricot naive peer (a few minutes)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", type=Path, help="also write rows, machine and inputs as JSON")
    parser.add_argument("--markdown", type=Path, help="also write the printed markdown tables to this file")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds allowed to each benchmark process (default 900; --quick 180)",
    )
    parser.add_argument(
        "--maxspec-budgets",
        type=_int_list,
        default=None,
        help="MaxSpec grid budgets, comma-separated (default 50,100,200,500; --quick 10,25,50)",
    )
    parser.add_argument(
        "--maxspec-pools",
        type=_pool_list,
        default=None,
        help="MaxSpec grid pool sizes, comma-separated, 'all' = every Replogle candidate "
        "(default 250,500,all; --quick 250,all); subsets are seeded and nested",
    )
    parser.add_argument(
        "--gears-genes", type=int, default=None, help="genes in the make_GO comparison (default 2000; --quick 500)"
    )
    parser.add_argument("--gears-workers", type=int, default=None, help="make_GO num_workers (default: number of CPUs)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the prepared inputs here and reuse them on the next run (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.time_limit is None:
        args.time_limit = 180.0 if quick else 900.0
    if args.maxspec_budgets is None:
        args.maxspec_budgets = [10, 25, 50] if quick else [50, 100, 200, 500]
    if args.maxspec_pools is None:
        args.maxspec_pools = [250, None] if quick else [250, 500, None]
    if args.gears_genes is None:
        args.gears_genes = 500 if quick else 2000
    args.only = args.only or list(BENCHMARKS)
    return args


def check_data(data: Path) -> None:
    """Exit with a message naming the first missing input file."""
    for relative in [*suite.GO_FILES.values(), suite.REPLOGLE_LIST]:
        if not (data / relative).is_file():
            sys.exit(f"{data / relative}: input file not found (pass --data DIR, the shared data directory)")


def fixed_jobs(args, workdir: Path) -> list[tuple[str, Callable, dict]]:
    """(name, function, keyword arguments) of every selected benchmark except the MaxSpec grid."""
    peers = QUICK_PEERS if args.quick else ALL_PEERS
    jobs = {
        "graphreach-k1": (
            suite.bench_coverage,
            dict(workdir=workdir, hops=1, budget=200 if args.quick else 1000, peers=peers),
        ),
        "graphreach-k2": (
            suite.bench_coverage,
            dict(workdir=workdir, hops=2, budget=100 if args.quick else 500, peers=peers),
        ),
        "replogle-graphreach": (
            suite.bench_coverage,
            dict(workdir=workdir, hops=1, budget=500, candidates="replogle", peers=ALL_PEERS, full_call=True),
        ),
        "replogle-maxspec": (suite.bench_maxspec, dict(workdir=workdir, budget=50 if args.quick else 500)),
        "maxspec-agreement": (suite.bench_maxspec_agreement, dict(workdir=workdir, budget=10 if args.quick else 40)),
        "jaccard-full": (suite.bench_jaccard_full, dict(data=args.data)),
        "jaccard-gears": (
            suite.bench_jaccard_gears,
            dict(workdir=workdir, n_genes=args.gears_genes, workers=args.gears_workers),
        ),
        "gears-job": (
            bench_training.bench_gears_job,
            dict(data=args.data, workdir=workdir, epochs=2 if args.quick else 5),
        ),
        "active-selection": (bench_training.bench_active_selection, dict()),
        "gears-throughput": (
            bench_training.bench_gears_throughput,
            dict(workdir=workdir, steps=3 if args.quick else 10, n_genes=1000 if args.quick else 5000),
        ),
        "gears-reach-real": (
            bench_convergence.bench_time_to_reach,
            dict(data=args.data, workdir=workdir, screen="real", cells_epochs=5 if args.quick else 20),
        ),
        "gears-reach-simulated": (
            bench_convergence.bench_time_to_reach,
            dict(
                data=args.data,
                workdir=workdir,
                screen="simulated",
                cycle=1,
                perturbations_per_cycle=20 if args.quick else 100,
                cells_epochs=2 if args.quick else 10,
            ),
        ),
        "gears-replogle-job": (
            bench_convergence.bench_replogle_job,
            dict(
                data=args.data,
                workdir=workdir,
                epochs=2 if args.quick else None,
                **(dict(n_genes=1000, cells_per_perturbation=50) if args.quick else {}),
            ),
        ),
        "gears-accuracy": (
            bench_convergence.bench_trainer_accuracy,
            dict(data=args.data, workdir=workdir, seeds=(1, 2, 3) if args.quick else tuple(range(1, 11))),
        ),
    }
    return [(name, *jobs[name]) for name in BENCHMARKS if name in args.only and name in jobs]


def attach_memory(name: str, result: dict) -> list[dict]:
    """The job's rows with its memory figures, or one placeholder row saying why there are none."""
    rows = result["rows"] or [suite.make_row(name, "-", None, note=result["error"])]
    for row in rows:
        row.update(
            job=name,
            peak_rss_mib=result["peak_rss_mib"],
            rss_increase_mib=result["rss_increase_mib"],
            children_peak_rss_mib=result["children_peak_rss_mib"],
        )
        if result["error"] and result["rows"]:
            row["note"] = f"{row['note']}; {result['error']}".strip("; ")
        if result["children_peak_rss_mib"]:  # e.g. make_GO's Pool: not in the process's own ru_maxrss
            row["note"] = f"{row['note']}; worker processes' peak RSS {result['children_peak_rss_mib']:.0f} MiB".strip(
                "; "
            )
    return rows


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_job(name: str, function, kwargs: dict, time_limit: float, preload=()) -> tuple[list[dict], dict]:
    """Run one benchmark in its own process (``suite.run_isolated``), logging progress to stderr."""
    log(f"[{time.strftime('%H:%M:%S')}] {name} ...")
    result = suite.run_isolated(function, kwargs, time_limit_s=time_limit, preload=preload)
    status = result["error"] or "ok"
    log(
        f"[{time.strftime('%H:%M:%S')}] {name}: {status}, {result['wall_s']:.1f} s wall, "
        f"peak RSS {result['peak_rss_mib'] or 0:.0f} MiB"
    )
    if result.get("traceback"):
        log(result["traceback"])
    return attach_memory(name, result), result


def run_maxspec_grid(args, workdir: Path, n_replogle: int, done: list[dict]) -> list[dict]:
    """Every (budget, pool) point in its own process; past a timeout, larger budgets of that pool are skipped.

    ``done`` holds rows already measured (the headline MaxSpec run): a matching point is not run
    again. Returns the new rows only.
    """
    rows = []
    known = {(r["budget"], r["pool"]): r for r in done if "budget" in r}
    for pool in args.maxspec_pools:
        size = n_replogle if pool is None or pool >= n_replogle else pool
        stopped = None
        for budget in sorted(args.maxspec_budgets):
            if budget > size:
                continue
            if (budget, size) in known:
                if known[(budget, size)]["ours_s"] is None:
                    stopped = f"b={budget} did not finish"
                continue
            name = f"maxspec-scaling b={budget} pool={size}"
            if stopped is not None:
                note = f"skipped ({stopped})"
                rows.append(suite.make_row(name, "maxspec", None, note=note, budget=budget, pool=size, job=name))
                continue
            kwargs = dict(workdir=workdir, budget=budget, n_candidates=None if size == n_replogle else size)
            job_rows, result = run_job(name, suite.bench_maxspec, kwargs, args.time_limit, PRELOAD["replogle-maxspec"])
            if result["error"]:
                stopped = f"b={budget} {'timed out' if result['timed_out'] else 'failed'}"
                for row in job_rows:
                    row.update(budget=budget, pool=size, note=result["error"])
            rows.extend(job_rows)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    args.data = args.data.resolve()
    check_data(args.data)
    machine = suite.machine_description()
    log(f"machine: {machine['cpu']}, {machine['cores']} logical cores, {machine['memory_gib']} GiB")

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="perturb_select_bench_")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rows, inputs = [], None
    try:
        if NEEDS_PREPARED & set(args.only):
            summary = workdir / suite.INPUTS_FILE
            if summary.is_file() and json.loads(summary.read_text()).get("data") == str(args.data):
                log(f"reusing prepared inputs in {workdir}")
            else:
                log(f"preparing inputs from {args.data} in {workdir} (about 20 s)")
                result = suite.run_isolated(suite.prepare_inputs, dict(data=args.data, workdir=workdir))
                if result["error"]:
                    log(result.get("traceback", result["error"]))
                    return 1
            inputs = json.loads((workdir / suite.INPUTS_FILE).read_text())
            log(f"inputs: {inputs}")

        for name, function, kwargs in fixed_jobs(args, workdir):
            limit = max(args.time_limit, LONG_LIMITS.get(name, 0.0)) if not args.quick else args.time_limit
            job_rows, _ = run_job(name, function, kwargs, limit, PRELOAD[name])
            if function is suite.bench_maxspec:
                for row in job_rows:  # a timed-out headline run still marks its grid point
                    row.setdefault("budget", kwargs["budget"])
                    row.setdefault("pool", inputs["replogle_candidates"])
            rows.extend(job_rows)
        if "maxspec-scaling" in args.only:
            rows.extend(run_maxspec_grid(args, workdir, inputs["replogle_candidates"], rows))
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)

    report = render(rows, machine, inputs, args)
    print(report)
    if args.markdown:
        from perturb_select.io import atomic_open

        with atomic_open(args.markdown, "w") as handle:
            handle.write(report + "\n")
    if args.json:
        from perturb_select.io import write_json

        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        write_json({"rows": rows, "machine": machine, "inputs": inputs, "options": options}, args.json)
    failed = [
        r for r in rows if r["ours_s"] is None and not str(r.get("note", "")).startswith(("timed out", "skipped"))
    ]
    return 1 if failed else 0


def render(rows: list[dict], machine: dict, inputs: dict | None, args) -> str:
    """Machine line, main table (MaxSpec grid points apart) and the MaxSpec scaling table, as markdown."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    parts = [
        f"Machine: {machine['cpu']}, {machine['cores']} logical cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; {versions}.",
    ]
    if inputs:
        resolution = ", ".join(f"{k} {v}" for k, v in sorted(inputs["replogle_resolution"].items()))
        parts.append(
            f"Inputs: {inputs['genes_with_go_terms']:,} genes with GO terms; graph {inputs['graph_nodes']:,} nodes, "
            f"{inputs['graph_edges']:,} edges (k={inputs['k']}, Jaccard > {inputs['threshold']}); Replogle list "
            f"{inputs['replogle_listed']:,} symbols -> {inputs['replogle_candidates']:,} candidates ({resolution})."
        )
    parts.append(
        "Seconds: best of 3 after a warm-up (best of 1 above 10 s); ratio = peer s / ours s. "
        "Peak RSS: the benchmark's own process (ru_maxrss); RSS increase: over its start."
    )
    main_rows = [r for r in rows if not str(r.get("job", "")).startswith("maxspec-scaling")]
    parts.append(suite.markdown_table(main_rows))
    if "maxspec-scaling" in args.only:
        parts.append(
            "MaxSpec (K=1, Replogle candidates) seconds by budget and candidate pool "
            f"(limit {args.time_limit:g} s per run):"
        )
        parts.append(suite.scaling_table(rows))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
