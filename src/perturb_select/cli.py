"""Command line: ``perturb-select design`` ranks perturbations for a screen from a list of candidate
symbols; ``perturb-select graph`` builds the GO graph it uses.

Thin: arguments in, :mod:`perturb_select.design` does the work. Offline: only local files are read (a
prebuilt graph with ``--graph``, else the GO files of ``--go-dir``, the built graph cached by content).
Bad input ends with one line ``perturb-select <command>: error: <message>`` on stderr, exit status 2
and no output file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .config import DEFAULT_HOPS, DESIGN_METHODS, GO_FILE_NAMES, GRAPH_CACHE_ENV, DesignConfig, GraphConfig
from .strategies import GRAPHREACH_WEIGHTS, MAXSPEC_OPERATORS, TIE_BREAKS

PROG = "perturb-select"
#: '-' as an output file: standard output.
STDOUT = "-"
GO_DIR_ENV = "PERTURB_SELECT_GO_DIR"


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``perturb-select`` argument parser (subcommands ``design`` and ``graph``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Pick gene perturbations for a Perturb-seq screen from the GO knowledge graph.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    design = commands.add_parser(
        "design",
        prog=f"{PROG} design",
        help="rank perturbations of a candidate gene list (GraphReach, MaxSpec or facility location)",
        description=(
            "Candidate symbols in, ranked picks out: rank, gene, query (the symbol as listed), gain, "
            "covered_nodes and coverage_fraction (receptive-field coverage of the whole GO graph after "
            "each pick). Symbols are resolved through gene_info synonyms; ambiguous aliases are never "
            "guessed. Reads local files only."
        ),
        epilog=(
            f"GO files: --go-dir (default ${GO_DIR_ENV}) holds "
            + ", ".join(" or ".join(names) for names in GO_FILE_NAMES.values())
            + ". gene_info is always needed (symbol resolution); gene2go and go-basic.obo only "
            "without --graph. Exit status 2 on bad input."
        ),
    )
    design.add_argument(
        "--genes",
        required=True,
        metavar="FILE",
        help="candidate symbols, one per line ('#' comments; first column of a TSV); a line "
        "A+B is a double perturbation (receptive field: the union of both genes' fields)",
    )
    design.add_argument(
        "--budget",
        type=_int_at_least(1),
        metavar="N",
        help="number of perturbations to pick (or --cycles and --perturbations-per-cycle)",
    )
    design.add_argument(
        "--cycles",
        type=_int_at_least(1),
        metavar="C",
        help="screen cycles; with --perturbations-per-cycle instead of --budget (budget = C x B): adds a cycle column",
    )
    design.add_argument(
        "--perturbations-per-cycle",
        "--batch",
        dest="perturbations_per_cycle",
        type=_int_at_least(1),
        metavar="B",
        help="perturbations per cycle (with --cycles; --batch is the short form)",
    )
    design.add_argument(
        "--screened",
        metavar="FILE",
        help="perturbations already screened: their receptive fields count as covered from the "
        "start (MaxSpec: the starting set; facility: facilities open from the start); never picked again",
    )
    design.add_argument(
        "--require", metavar="FILE", help="perturbations picked first, in the file's order (reported as required)"
    )
    design.add_argument(
        "--exclude", metavar="FILE", help="genes or pairs never picked (a pair with an excluded gene is excluded too)"
    )
    design.add_argument(
        "--method",
        choices=DESIGN_METHODS,
        default=DesignConfig.method,
        help=f"selector (default: {DesignConfig.method}); facility: facility location on the "
        "candidates' receptive-field overlap (picks that represent the candidates)",
    )
    design.add_argument(
        "--weights",
        choices=GRAPHREACH_WEIGHTS,
        default=DesignConfig.weights,
        help=f"graphreach's node weights (default: {DesignConfig.weights}); candidates: a node counts "
        "the candidates whose receptive field holds it, so the picks cover where the candidates are",
    )
    design.add_argument(
        "--tie-break",
        choices=TIE_BREAKS,
        default=DesignConfig.tie_break,
        dest="tie_break",
        help=f"how graphreach's and maxspec's equal gains are decided (default: "
        f"{DesignConfig.tie_break}): symbol (first in symbol order), lookahead (the most new nodes one "
        "hop further, then symbol), seeded (a random order drawn from --seed)",
    )
    design.add_argument(
        "--operator",
        choices=MAXSPEC_OPERATORS,
        default=DesignConfig.operator,
        help=f"maxspec's operator (default: {DesignConfig.operator}): whole_graph (GEARS's operator "
        "restricted to the reached nodes) or induced (the reached subgraph with its own degrees)",
    )
    design.add_argument(
        "--hops",
        type=_int_at_least(0),
        default=DEFAULT_HOPS,
        metavar="K",
        help=f"receptive-field radius K = GEARS's GO-graph SGC layers (default: {DEFAULT_HOPS})",
    )
    design.add_argument(
        "--output", default="-", metavar="FILE", help="ranked picks as TSV (default: '-', standard output)"
    )
    design.add_argument(
        "--unresolved",
        metavar="FILE",
        help="TSV of the queries not used (query, status, symbol, reason); default: "
        "<output stem>.unresolved.tsv beside --output, or standard error with stdout output; "
        "'-': standard output)",
    )
    design.add_argument("--plot", metavar="FILE", help="coverage-vs-budget plot (.svg, .png or .pdf)")
    design.add_argument(
        "--graph",
        metavar="FILE",
        help="prebuilt graph (.tsv: source, target, importance, e.g. results/graph/go_jaccard.tsv; "
        "or .npz from `perturb-select graph`); default: build GEARS's Jaccard GO graph from "
        "--go-dir, cached",
    )
    _add_go_options(design)
    design.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=DesignConfig.seed,
        help=f"seed of the random-order baseline in the plot (default: {DesignConfig.seed})",
    )
    design.set_defaults(func=_design)

    graph = commands.add_parser(
        "graph",
        prog=f"{PROG} graph",
        help="build GEARS's Jaccard GO graph from local GO files",
        description=(
            "Build GEARS's gene-gene graph (Jaccard similarity of GO annotation sets, top --k per gene "
            "above --threshold; gears/utils.py make_GO) from the GO files of --go-dir, write it to "
            "--output (.tsv: source, target, importance; .npz: fast to read) and store it in the cache "
            "that `perturb-select design` reads."
        ),
    )
    graph.add_argument("--output", required=True, metavar="FILE", help="the graph, .tsv or .npz")
    _add_go_options(graph)
    graph.set_defaults(func=_graph)
    return parser


def _add_go_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--go-dir", metavar="DIR", default=None, help=f"offline GO mirror directory (default: ${GO_DIR_ENV})"
    )
    parser.add_argument("--gene-info", metavar="FILE", help="NCBI gene_info (default: the one in --go-dir)")
    parser.add_argument(
        "--k",
        type=_int_at_least(1),
        default=None,
        help=f"graph building: most similar genes kept per gene (default: {GraphConfig.k})",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        help=f"graph building: keep Jaccard similarities above this (default: {GraphConfig.threshold})",
    )
    parser.add_argument(
        "--taxid",
        type=_int_at_least(1),
        default=GraphConfig.taxid,
        help=f"NCBI taxonomy id (default: {GraphConfig.taxid})",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=None,
        help=f"graph cache, keyed by the GO files' content and --k/--threshold/--taxid "
        f"(default: ${GRAPH_CACHE_ENV} or ~/.cache/perturb-select)",
    )
    parser.add_argument("--no-cache", action="store_true", help="build the graph without reading or writing the cache")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``perturb-select`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)


def _design(args: argparse.Namespace) -> int:
    from .io import InputError

    prog = f"{PROG} design"
    try:
        # Library prints (goatools' progress lines) must not end up in a TSV written to stdout.
        with contextlib.redirect_stdout(sys.stderr):
            result, graph, outputs, timings = _run_design(args)
        _write_outputs(args, result, graph, outputs)
    except (InputError, OSError) as err:
        sys.stderr.write(f"{prog}: error: {err}\n")
        return 2
    _print_summary(prog, args, result, outputs, timings)
    return 0


def _outputs(args) -> dict:
    """Output paths (None: not written; the table None means standard output, the unresolved queries
    STDOUT standard output), checked before any work: no two outputs one file (also through links), none
    a directory, over an input, or write-protected."""
    from .design import plot_format
    from .io import InputError, check_output

    table = None if args.output == "-" else Path(args.output)
    if args.unresolved == STDOUT and table is None:
        raise InputError("--output/--unresolved", None, "both are '-' (standard output): give one of them a file")
    unresolved = STDOUT if args.unresolved == STDOUT else Path(args.unresolved) if args.unresolved else None
    if unresolved is None and table is not None:
        stem = table.name[: -len(table.suffix)] if table.suffix else table.name
        unresolved = table.with_name(f"{stem}.unresolved.tsv")
    plot = Path(args.plot) if args.plot else None
    if plot is not None:
        plot_format(plot, source="--plot")
    paths = [p for p in (table, unresolved, plot) if p is not None and p is not STDOUT]
    if len({os.path.realpath(p) for p in paths}) < len(paths):  # resolved: a link to another output is that output
        raise InputError("--output/--unresolved/--plot", None, "two outputs name the same file")
    for path in paths:
        if path.is_dir():
            raise InputError(path, None, "is a directory; give a file name")
        check_output(path)
    _refuse_outputs_over_inputs(
        args, {"--output": table, "--plot": plot, "--unresolved": None if unresolved is STDOUT else unresolved}
    )
    return {"table": table, "unresolved": unresolved, "plot": plot}


def _refuse_outputs_over_inputs(args, outputs: dict) -> None:
    """An output that is one of the inputs (also through a link) would destroy it: refuse before any work."""
    from .io import InputError, is_stream

    inputs = {
        option: getattr(args, option[2:].replace("-", "_"), None)
        for option in ("--genes", "--graph", "--gene-info", "--screened", "--require", "--exclude")
    }
    go_dir = args.go_dir or os.environ.get(GO_DIR_ENV)
    if go_dir and Path(go_dir).is_dir():
        for names in GO_FILE_NAMES.values():
            for name in names:
                inputs[f"--go-dir ({name})"] = str(Path(go_dir) / name)
    real_inputs = {os.path.realpath(p): option for option, p in inputs.items() if p}
    for option, path in outputs.items():
        if path is None:
            continue
        clash = real_inputs.get(os.path.realpath(path))
        if clash is not None and not is_stream(path):
            raise InputError(f"{option}/{clash}", None, f"{path} is also the input {clash}: refusing to overwrite it")


def _go_inputs(args, need_go_files: bool):
    """``(go_dir, gene_info)`` checked: the GO directory (None if not needed and not given) and gene_info."""
    from .io import InputError

    go_dir = args.go_dir or os.environ.get(GO_DIR_ENV) or None
    if go_dir is None and (need_go_files or not args.gene_info):
        raise InputError(
            "--go-dir",
            None,
            f"no GO directory: give --go-dir DIR or set {GO_DIR_ENV} (a directory with "
            f"{', '.join(names[0] for names in GO_FILE_NAMES.values())})"
            + ("" if need_go_files else ", or both --graph and --gene-info"),
        )
    if go_dir is not None and not Path(go_dir).is_dir():
        raise InputError(go_dir, None, "GO directory not found (--go-dir / " + GO_DIR_ENV + ")")
    from .knowledge.build import go_file

    gene_info = Path(args.gene_info) if args.gene_info else go_file(go_dir, "gene_info", "--go-dir")
    if not gene_info.is_file():
        raise InputError(gene_info, None, "gene_info file not found (--gene-info)")
    return go_dir, gene_info


def _build_graph(args, go_dir, gene_info):
    """The GO graph from --go-dir, through the cache unless --no-cache; returns (graph, how)."""
    from .knowledge.build import GoFiles, build_knowledge_graph, cached_knowledge_graph

    params = GraphConfig(
        k=GraphConfig.k if args.k is None else args.k,
        threshold=GraphConfig.threshold if args.threshold is None else args.threshold,
        taxid=args.taxid,
    )
    files = GoFiles.in_directory(go_dir, gene_info)
    if args.no_cache:
        graph = build_knowledge_graph(files, params).graph
        return graph, f"built (k = {params.k}, threshold = {params.threshold}; cache not used)"
    graph, hit, entry = cached_knowledge_graph(files, params, cache_dir=args.cache_dir)
    if hit:
        return graph, f"read from the cache {entry}"
    stored = f"cached as {entry}" if entry else "cache folder not writable"
    return graph, f"built (k = {params.k}, threshold = {params.threshold}; {stored})"


#: The design command's option of each ``DesignConfig`` field, named in its errors.
DESIGN_OPTION_NAMES = {
    "genes": "--genes",
    "budget": "--budget",
    "cycles": "--cycles/--perturbations-per-cycle",
    "perturbations_per_cycle": "--cycles/--perturbations-per-cycle",
    "screened": "--screened",
    "require": "--require",
    "exclude": "--exclude",
    "method": "--method",
    "weights": "--weights",
    "tie_break": "--tie-break",
    "operator": "--operator",
    "hops": "--hops",
    "seed": "--seed",
}


def _design_entry(args) -> DesignConfig:
    """The command line as a design entry (``config.DesignConfig``, checked as a config entry is), its errors
    naming the option."""
    from .io import InputError

    try:
        return DesignConfig(
            name="command_line",
            genes=args.genes,
            **{name: getattr(args, name) for name in (*DesignConfig.OPTIONS, "screened", "require", "exclude")},
        )
    except InputError as err:
        keys = str(err.field).rsplit(".", 1)[-1].split("/")  # e.g. design.command_line.budget/cycles
        options = "/".join(dict.fromkeys(DESIGN_OPTION_NAMES.get(key, key) for key in keys))
        raise InputError(options, None, err.problem) from None


def _run_design(args):
    from .design import run_design
    from .io import InputError
    from .knowledge.symbols import SymbolResolver, read_gene_list

    start = time.perf_counter()
    timings = {}
    outputs = _outputs(args)
    if args.graph and (args.k is not None or args.threshold is not None):
        raise InputError("--k/--threshold", None, "only used to build the graph; drop them or drop --graph")
    go_dir, gene_info = _go_inputs(args, need_go_files=not args.graph)
    entry = _design_entry(args)

    # The lists first: an empty or unreadable list fails before the graph is loaded.
    symbols = read_gene_list(args.genes)
    lists = {
        option: read_gene_list(getattr(args, option)) if getattr(args, option) else []
        for option in ("screened", "require", "exclude")
    }

    step = time.perf_counter()
    if args.graph:
        graph = _read_graph(Path(args.graph))
        how = "read"
    else:
        graph, how = _build_graph(args, go_dir, gene_info)
    timings["graph"] = (how, time.perf_counter() - step)
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph.genes, taxid=args.taxid)
    result = run_design(graph, symbols, resolver, **entry.options(), **lists, names=DESIGN_OPTION_NAMES)
    timings["select"] = result.seconds["select"]
    timings["start"] = start
    return result, graph, outputs, timings


def _graph(args: argparse.Namespace) -> int:
    """``perturb-select graph``: build the GO graph (through the cache) and write it as TSV or NPZ."""
    from .io import InputError, check_output

    prog = f"{PROG} graph"
    start = time.perf_counter()
    try:
        output = Path(args.output)
        if output.suffix.lower() not in (".tsv", ".npz"):
            raise InputError("--output", None, f"{output} must end in .tsv or .npz")
        if output.is_dir():
            raise InputError(output, None, "is a directory; give a file name")
        check_output(output)
        _refuse_outputs_over_inputs(args, {"--output": output})
        go_dir, gene_info = _go_inputs(args, need_go_files=True)
        with contextlib.redirect_stdout(sys.stderr):
            graph, how = _build_graph(args, go_dir, gene_info)
        if output.suffix.lower() == ".npz":
            graph.save_npz(output)
        else:
            graph.write(output)
    except (InputError, OSError) as err:
        sys.stderr.write(f"{prog}: error: {err}\n")
        return 2
    sys.stderr.write(
        f"{prog}: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges, {how}; wrote {output} "
        f"in {time.perf_counter() - start:.1f} s\n"
    )
    return 0


def _read_graph(path: Path):
    import pandas as pd

    from .io import InputError
    from .knowledge.graph import KnowledgeGraph

    if path.is_dir():
        raise InputError(path, None, "is a directory, not a graph file (--graph)")
    if not path.is_file():
        raise InputError(path, None, "graph file not found (--graph)")
    try:
        return KnowledgeGraph.read(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"not a tab-separated source/target/importance table (--graph): {err}") from None


def _write_outputs(args, result, graph, outputs) -> None:
    from .design import FLOAT_FORMAT, write_design

    unresolved = outputs["unresolved"]
    write_design(
        result,
        graph,
        table_path=outputs["table"],
        unresolved_path=None if unresolved is STDOUT else unresolved,
        plot_path=outputs["plot"],
        seed=args.seed,
    )
    to_stdout = result.table if outputs["table"] is None else result.unresolved if unresolved is STDOUT else None
    if to_stdout is not None:
        try:
            to_stdout.to_csv(sys.stdout, sep="\t", index=False, float_format=FLOAT_FORMAT)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (e.g. `| head`): not an error of ours; silence the flush at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError as err:  # e.g. > /dev/full: name where it went
            raise OSError(err.errno, err.strerror or str(err), "standard output") from None


def _print_summary(prog, args, result, outputs, timings) -> None:
    s = result.summary()
    err = sys.stderr
    skipped = "".join(f", {s[key]} {key}" for key in ("invalid", "screened", "excluded") if s[key])
    err.write(
        f"{prog}: {s['queries']} symbols read from {args.genes}: {s['official']} official, {s['alias']} alias-mapped, "
        f"{s['ambiguous']} ambiguous, {s['unknown']} unknown, {s['not_in_graph']} not in the graph, "
        f"{s['duplicate']} duplicates{skipped} -> {s['candidates']} candidates\n"
    )
    for option, key in (
        ("screened", "screened_perturbations"),
        ("require", "required_perturbations"),
        ("exclude", "excluded_perturbations"),
    ):
        path = getattr(args, option)
        if path:
            listed = int((result.report["list"] == option).sum())
            err.write(f"{prog}: --{option} {path}: {s[key]} of {listed} resolved\n")
    how, seconds = timings["graph"]
    err.write(f"{prog}: graph {how}: {s['graph_nodes']:,} nodes in {seconds:.1f} s\n")
    if s["screened_perturbations"]:
        err.write(
            f"{prog}: starting coverage (screened): {s['start_covered_nodes']:,} nodes "
            f"({s['start_coverage_fraction']:.4f})\n"
        )
    plan = (
        f"{s['cycles']} cycles x {s['perturbations_per_cycle']}"
        if s["perturbations_per_cycle"]
        else f"budget {s['budget']}"
    )
    required = f" ({s['required_perturbations']} required first)" if s["required_perturbations"] else ""
    err.write(
        f"{prog}: {result.label}, K = {s['hops']}, {plan}{required}: {s['covered_nodes']:,} nodes covered "
        f"(coverage fraction {s['coverage_fraction']:.4f}); all {s['candidates']} candidates would cover "
        f"{s['all_candidates_covered_nodes']:,} ({s['all_candidates_coverage_fraction']:.4f}); "
        f"selection {timings['select']:.1f} s\n"
    )
    if outputs["unresolved"] is None and len(result.unresolved):
        err.write(f"{prog}: {len(result.unresolved)} queries not used:\n")
        for row in result.unresolved.itertuples():
            err.write(f"  {row.list}\t{row.query}\t{row.status}\t{row.reason}\n")
    written = [str(p) for p in outputs.values() if p is not None and p is not STDOUT]
    where = ", ".join(written) if written else "standard output"
    if (outputs["table"] is None or outputs["unresolved"] is STDOUT) and written:
        where = "standard output, " + where
    err.write(f"{prog}: wrote {where} in {time.perf_counter() - timings['start']:.1f} s\n")
