"""The ``perturb-select design`` command: main(), the installed entry point, ``python -m perturb_select``.

Tiny inputs are written in tmp_path: the six-node graph of tests/test_design.py (receptive fields with
K = 1: R(A) = {A, B, C, D}, R(B) = {A, B}, R(C) = {C}, R(D) = {C, D}, R(E) = {E}, R(F) = {E, F}, with
GENE prefixed) and its gene_info; the graph-building path uses the GO fixtures of tests/data/go.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from perturb_select.cli import GO_DIR_ENV, main
from perturb_select.knowledge.graph import KnowledgeGraph

EDGES = [("B", "A"), ("C", "A"), ("D", "A"), ("A", "B"), ("C", "D"), ("E", "F")]
GENE_INFO = (
    "#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\n"
    "9606\t1\tGENEA\t-\tOLDA\t-\n"
    "9606\t2\tGENEB\t-\tSHARED\t-\n"
    "9606\t3\tGENEC\t-\tSHARED\t-\n"
    "9606\t4\tGENED\t-\t-\t-\n"
    "9606\t5\tGENEE\t-\t-\t-\n"
    "9606\t6\tGENEF\t-\t-\t-\n"
    "9606\t7\tGENEG\t-\t-\t-\n"
)
GENES = "# candidates\nOLDA\nSHARED\nGENEG\nNOTAGENE\nGENEF\nGENED\n"
GO_FIXTURES = REPO / "tests" / "data" / "go"
ENTRY_POINT = Path(sys.executable).parent / "perturb-select"


@pytest.fixture
def inputs(tmp_path):
    """(graph TSV, GO directory holding the mirror's gene_info name, gene list)."""
    edges = pd.DataFrame([("GENE" + s, "GENE" + t, 0.5) for s, t in EDGES], columns=["source", "target", "importance"])
    graph = tmp_path / "graph.tsv"
    KnowledgeGraph.from_edges(edges).write(graph)
    go_dir = tmp_path / "go"
    go_dir.mkdir()
    (go_dir / "Homo_sapiens.gene_info.gz").write_bytes(gzip.compress(GENE_INFO.encode()))
    genes = tmp_path / "genes.txt"
    genes.write_text(GENES)
    return graph, go_dir, genes


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_design_to_stdout(inputs, capsys):
    graph, go_dir, genes = inputs
    code, out, err = _run(["design", "--genes", genes, "--budget", 2, "--graph", graph, "--go-dir", go_dir], capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    # candidates GENEA (as OLDA), GENEF, GENED: A reaches 4 nodes, then F adds E and F
    assert table.to_dict("list") == {
        "rank": [1, 2],
        "gene": ["GENEA", "GENEF"],
        "query": ["OLDA", "GENEF"],
        "required": [False, False],
        "gain": [4, 2],
        "covered_nodes": [4, 6],
        "coverage_fraction": [0.666667, 1.0],
        "tie": [False, False],
    }
    assert "6 symbols read" in err
    assert "2 official, 1 alias-mapped, 1 ambiguous, 1 unknown, 1 not in the graph, 0 duplicates -> 3 candidates" in err
    assert "6 nodes covered (coverage fraction 1.0000)" in err
    # with stdout output and no --unresolved, the queries not used are listed on stderr
    assert "SHARED\tambiguous" in err and "NOTAGENE\tunknown" in err and "GENEG\tnot_in_graph" in err


def test_design_to_files_with_default_unresolved_and_plot(inputs, tmp_path, capsys, monkeypatch):
    graph, go_dir, genes = inputs
    monkeypatch.setenv(GO_DIR_ENV, str(go_dir))  # the GO directory from the environment
    out = tmp_path / "out"
    code, stdout, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--budget",
            3,
            "--method",
            "maxspec",
            "--graph",
            graph,
            "--output",
            out / "picks.tsv",
            "--plot",
            out / "picks.png",
        ],
        capsys,
    )
    assert code == 0, err
    assert stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["picks.png", "picks.tsv", "picks.unresolved.tsv"]
    picks = pd.read_csv(out / "picks.tsv", sep="\t")
    assert sorted(picks["gene"]) == ["GENEA", "GENED", "GENEF"]
    assert picks["covered_nodes"].iat[-1] == 6  # R(A) | R(D) | R(F) = all six nodes
    unresolved = pd.read_csv(out / "picks.unresolved.tsv", sep="\t", keep_default_na=False)
    assert unresolved["query"].tolist() == ["SHARED", "GENEG", "NOTAGENE"]
    assert unresolved["status"].tolist() == ["ambiguous", "not_in_graph", "unknown"]
    assert (out / "picks.png").read_bytes()[:4] == b"\x89PNG"


def test_design_weights_and_facility(inputs, capsys):
    graph, go_dir, genes = inputs
    base = ["design", "--genes", genes, "--budget", 2, "--graph", graph, "--go-dir", go_dir]
    # candidates GENEA, GENEF, GENED; weights count them: A 1, B 1, C 2 (R(A), R(D)), D 2, E 1, F 1
    # gains A 6, D 4, F 2; after A, D adds nothing and F 2
    code, out, err = _run(base + ["--weights", "candidates"], capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    assert table["gene"].tolist() == ["GENEA", "GENEF"] and table["gain"].tolist() == [6, 2]
    assert table["covered_nodes"].tolist() == [4, 6]
    assert "graphreach (weights: candidates), K = 1, budget 2" in err
    code, out, err = _run(base + ["--method", "facility"], capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    assert len(table) == 2 and set(table["gene"]) <= {"GENEA", "GENED", "GENEF"}
    assert "facility, K = 1, budget 2" in err
    code, out, err = _run(base + ["--method", "maxspec", "--weights", "candidates"], capsys)
    assert (code, out) == (2, "")
    assert "--weights: only graphreach takes weights; maxspec takes no weights 'candidates'" in err
    code, out, err = _run(base + ["--weights", "degree"], capsys)
    assert code == 2 and "invalid choice: 'degree'" in err


def test_design_builds_the_graph_from_the_go_directory(tmp_path, capsys):
    # The mirror's file names; gene2go_tiny: GENEA and GENEB share immune response (Jaccard 1/3), GENEC's
    # only live annotation is a NOT line, so the graph is GENEA <-> GENEB.
    go_dir = tmp_path / "mirror"
    go_dir.mkdir()
    shutil.copy(GO_FIXTURES / "gene2go_tiny.gz", go_dir / "gene2go_human.gz")
    shutil.copy(GO_FIXTURES / "tiny.obo", go_dir / "go-basic.obo")
    shutil.copy(GO_FIXTURES / "gene_info_tiny.gz", go_dir / "Homo_sapiens.gene_info.gz")
    genes = tmp_path / "genes.txt"
    genes.write_text("OLDA\nGENEB\nGENEC\nSHARED\n")
    code, out, err = _run(["design", "--genes", genes, "--budget", 1, "--go-dir", go_dir], capsys)
    assert code == 0, err
    assert out.splitlines() == [
        "rank\tgene\tquery\trequired\tgain\tcovered_nodes\tcoverage_fraction\ttie",
        "1\tGENEA\tOLDA\tFalse\t2\t2\t1\tTrue",
    ]  # GENEA and GENEC tie at 2
    assert "graph built (k = 20, threshold = 0.1; cached as " in err and ": 2 nodes" in err
    assert "GENEC\tnot_in_graph" in err and "SHARED\tambiguous" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "field 'genes': no gene symbols"),
        ("# nothing but a comment\n\n", "field 'genes': no gene symbols"),
    ],
)
def test_empty_list_is_exit_2_without_output(inputs, tmp_path, capsys, content, message):
    graph, go_dir, genes = inputs
    genes.write_text(content)
    output = tmp_path / "out" / "picks.tsv"
    code, out, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--budget",
            1,
            "--graph",
            graph,
            "--go-dir",
            go_dir,
            "--output",
            output,
            "--plot",
            tmp_path / "out" / "plot.svg",
        ],
        capsys,
    )
    assert code == 2
    assert err.startswith(f"perturb-select design: error: {genes}, {message}")
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--genes": "missing.txt"}, "missing.txt: gene list file not found"),
        ({"--budget": "4"}, "--budget: budget is 4 but only 3 of the 6 listed symbols can be picked"),
        ({"--graph": "nope.tsv"}, "nope.tsv: graph file not found (--graph)"),
        ({"--go-dir": "nowhere"}, "nowhere: GO directory not found"),
        ({"--plot": "plot.jpg"}, "--plot: the coverage plot must end in .svg, .png, .pdf"),
        ({"--k": "5"}, "--k/--threshold: only used to build the graph"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(inputs, tmp_path, capsys, change, message):
    graph, go_dir, genes = inputs
    options = {
        "--genes": genes,
        "--budget": "2",
        "--graph": graph,
        "--go-dir": go_dir,
        "--output": tmp_path / "picks.tsv",
    }
    options.update(
        {k: (tmp_path / v if k in ("--genes", "--graph", "--go-dir", "--plot") else v) for k, v in change.items()}
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _run(["design", *[x for kv in options.items() for x in kv]], capsys)
    assert code == 2
    assert err.startswith("perturb-select design: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_no_go_directory_is_exit_2(inputs, capsys, monkeypatch):
    graph, go_dir, genes = inputs
    monkeypatch.delenv(GO_DIR_ENV, raising=False)
    code, _, err = _run(["design", "--genes", genes, "--budget", 1, "--graph", graph], capsys)
    assert code == 2
    assert f"no GO directory: give --go-dir DIR or set {GO_DIR_ENV}" in err
    # --gene-info and --graph together need no GO directory
    code, out, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--budget",
            1,
            "--graph",
            graph,
            "--gene-info",
            go_dir / "Homo_sapiens.gene_info.gz",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.splitlines()[1] == "1\tGENEA\tOLDA\tFalse\t4\t4\t0.666667\tFalse"


def test_usage_errors_are_exit_2(inputs, capsys):
    graph, go_dir, genes = inputs
    code, _, err = _run(["design", "--genes", genes, "--budget", 0, "--graph", graph], capsys)
    assert code == 2 and "argument --budget: must be an integer >= 1, got 0" in err
    code, _, err = _run(["design", "--genes", genes, "--budget", 1, "--method", "random"], capsys)
    assert code == 2 and "invalid choice: 'random'" in err
    code, _, err = _run(["design", "--budget", 1], capsys)
    assert code == 2 and "the following arguments are required: --genes" in err
    assert _run([], capsys)[0] == 2
    assert _run(["design", "--help"], capsys)[0] == 0


def test_installed_entry_point_and_python_m(inputs, tmp_path):
    graph, go_dir, genes = inputs
    assert ENTRY_POINT.exists(), "perturb-select is not installed: pip install -e ."
    args = ["design", "--genes", str(genes), "--budget", "2", "--graph", str(graph), "--go-dir", str(go_dir)]
    for command in ([str(ENTRY_POINT)], [sys.executable, "-m", "perturb_select"]):
        result = subprocess.run(command + args, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "rank\tgene\tquery\trequired\tgain\tcovered_nodes\tcoverage_fraction\ttie",
            "1\tGENEA\tOLDA\tFalse\t4\t4\t0.666667\tFalse",
            "2\tGENEF\tGENEF\tFalse\t2\t6\t1\tFalse",
        ]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = subprocess.run(
        [
            str(ENTRY_POINT),
            "design",
            "--genes",
            str(empty),
            "--budget",
            "1",
            "--graph",
            str(graph),
            "--go-dir",
            str(go_dir),
            "--output",
            str(tmp_path / "never.tsv"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == f"perturb-select design: error: {empty}, field 'genes': no gene symbols: the list is empty or holds only "
        "comments and blank lines\n"
    )
    assert not (tmp_path / "never.tsv").exists()


@pytest.mark.slow
def test_real_replogle_offline_from_the_mirror(shared_data, tmp_path):
    """The whole command on the real list, building the graph from the GO mirror (no --graph)."""
    output = tmp_path / "replogle.tsv"
    result = subprocess.run(
        [
            str(ENTRY_POINT),
            "design",
            "--genes",
            str(shared_data / "genelists" / "replogle2022_k562_essential_1092_genes.txt"),
            "--budget",
            "100",
            "--go-dir",
            str(shared_data / "go"),
            "--output",
            str(output),
            "--plot",
            str(tmp_path / "replogle.svg"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "1092 symbols read" in result.stderr
    assert (
        "1066 official, 19 alias-mapped, 4 ambiguous, 0 unknown, 3 not in the graph, 0 duplicates -> 1085 candidates"
        in result.stderr
    )
    assert "20,709 nodes" in result.stderr
    picks = pd.read_csv(output, sep="\t")
    assert len(picks) == 100 and picks["covered_nodes"].is_monotonic_increasing
    # K = 1 on a top-20 graph: the first picks each add their whole receptive field (20 sources + itself)
    assert picks["gain"].iat[0] == 21
    assert len(pd.read_csv(tmp_path / "replogle.unresolved.tsv", sep="\t")) == 7
    assert (tmp_path / "replogle.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize("option", ["--output", "--unresolved", "--plot"])
@pytest.mark.parametrize("victim", ["genes", "graph", "gene_info"])
def test_an_output_naming_an_input_is_refused_and_the_input_kept(inputs, tmp_path, capsys, option, victim):
    graph, go_dir, genes = inputs
    target = {"genes": genes, "graph": graph, "gene_info": go_dir / "Homo_sapiens.gene_info.gz"}[victim]
    if option == "--plot":  # the plot needs a plot suffix: reach the input through a link with one
        link = tmp_path / "link.svg"
        link.symlink_to(target)
        path = link
    else:
        path = target
    before = target.read_bytes()
    argv = ["design", "--genes", genes, "--budget", 2, "--graph", graph, "--go-dir", go_dir, option, path]
    if option != "--output":
        argv += ["--output", tmp_path / "picks.tsv"]
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert "refusing to overwrite" in err and option in err and err.count("\n") == 1
    assert target.read_bytes() == before
    assert not (tmp_path / "picks.tsv").exists()


def test_outputs_to_a_fifo_and_through_a_symlink(inputs, tmp_path, capsys):
    import os
    import threading

    graph, go_dir, genes = inputs
    fifo = tmp_path / "picks.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    real = tmp_path / "real_unresolved.tsv"
    real.write_text("old\n")
    link = tmp_path / "unresolved_link.tsv"
    link.symlink_to(real)
    code, out, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--budget",
            2,
            "--graph",
            graph,
            "--go-dir",
            go_dir,
            "--output",
            fifo,
            "--unresolved",
            link,
        ],
        capsys,
    )
    reader.join(timeout=30)
    assert code == 0, err
    assert received and received[0].startswith("rank\tgene\tquery")  # written as a stream
    assert fifo.is_fifo()  # not replaced by a regular file
    assert link.is_symlink() and real.read_text().startswith("list\tquery\tstatus")  # written through the link


def test_design_with_screened_required_excluded_and_cycles(inputs, tmp_path, capsys):
    graph, go_dir, genes = inputs
    lists = {}
    for option, text in (("screened", "GENEB\n"), ("require", "GENED\n"), ("exclude", "GENEE\nGENEG\n")):
        lists[option] = tmp_path / f"{option}.txt"
        lists[option].write_text(text)
    out = tmp_path / "out"
    code, _, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--graph",
            graph,
            "--go-dir",
            go_dir,
            "--cycles",
            1,
            "--batch",
            2,
            "--screened",
            lists["screened"],
            "--require",
            lists["require"],
            "--exclude",
            lists["exclude"],
            "--output",
            out / "picks.tsv",
            "--plot",
            out / "picks.svg",
        ],
        capsys,
    )
    assert code == 0, err
    # screened B covers {A,B}; D required (+C,D); then A adds nothing and F adds E,F
    picks = pd.read_csv(out / "picks.tsv", sep="\t")
    assert picks[["rank", "cycle", "gene", "required", "covered_nodes"]].values.tolist() == [
        [1, 1, "GENED", True, 4],
        [2, 1, "GENEF", False, 6],
    ]
    assert "starting coverage (screened): 2 nodes (0.3333)" in err
    assert "1 cycles x 2 (1 required first)" in err
    assert "--exclude " + str(lists["exclude"]) + ": 1 of 2 resolved" in err
    unresolved = pd.read_csv(out / "picks.unresolved.tsv", sep="\t", keep_default_na=False)
    assert ["exclude", "GENEG", "not_in_graph"] in unresolved[["list", "query", "status"]].values.tolist()


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--budget", 2, "--cycles", 1, "--batch", 2],
            "--budget/--cycles/--perturbations-per-cycle: give either a budget or cycles",
        ),
        (["--cycles", 2], "--cycles/--perturbations-per-cycle: a per-cycle plan needs both"),
        (
            ["--budget", 2, "--require", "{list}", "--exclude", "{list}"],
            "--require/--exclude: 1 perturbations are both required and excluded: GENEF",
        ),
        (["--budget", 2, "--require", "{list}", "--screened", "{list}"], "--require/--screened: 1 required"),
        (["--budget", 1, "--require", "{two}"], "--require/--budget: 2 required perturbations but the budget is 1"),
        # a per-cycle plan is named as given, never as a --budget that was not passed
        (
            ["--cycles", 1, "--batch", 1, "--require", "{two}"],
            "--require/--cycles/--perturbations-per-cycle: 2 required perturbations but the budget is 1 (1 cycles x 1)",
        ),
        (
            ["--cycles", 1, "--batch", 9],
            "--cycles/--perturbations-per-cycle: 1 cycles x 9 perturbations = 9 but only 3 of the 6 listed symbols",
        ),
        # lists of which nothing resolves applied nothing, exit 0: each is refused, naming the option
        (
            ["--budget", 2, "--require", "{unknown}"],
            "--require: none of its 2 entries is a perturbation of graph genes",
        ),
        (["--budget", 2, "--screened", "{unknown}"], "--screened: none of its 2 entries"),
        (["--budget", 2, "--exclude", "{unknown}"], "--exclude: none of its 2 entries"),
    ],
)
def test_design_option_errors_exit_2_without_output(inputs, tmp_path, capsys, extra, message):
    graph, go_dir, genes = inputs
    (tmp_path / "one.txt").write_text("GENEF\n")
    (tmp_path / "two.txt").write_text("GENEF\nGENED\n")
    (tmp_path / "unknown.txt").write_text("NOTAGENE\nctrl\n")
    extra = [
        str(a).format(list=tmp_path / "one.txt", two=tmp_path / "two.txt", unknown=tmp_path / "unknown.txt")
        for a in extra
    ]
    out = tmp_path / "out"
    code, _, err = _run(
        [
            "design",
            "--genes",
            genes,
            "--graph",
            graph,
            "--go-dir",
            go_dir,
            *extra,
            "--output",
            out / "picks.tsv",
            "--plot",
            out / "picks.svg",
        ],
        capsys,
    )
    assert code == 2
    assert err == f"perturb-select design: error: {message}" + err.split(message, 1)[1]
    assert err.count("\n") == 1
    assert not out.exists()


def test_graph_command_builds_once_then_reads_the_cache(tmp_path, capsys, graph_cache):
    go_dir = tmp_path / "mirror"
    go_dir.mkdir()
    shutil.copy(GO_FIXTURES / "gene2go_tiny.gz", go_dir / "gene2go_human.gz")
    shutil.copy(GO_FIXTURES / "tiny.obo", go_dir / "go-basic.obo")
    shutil.copy(GO_FIXTURES / "gene_info_tiny.gz", go_dir / "Homo_sapiens.gene_info.gz")
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "g.npz"], capsys)
    assert code == 0, err
    assert "2 nodes, 2 edges, built (k = 20, threshold = 0.1; cached as " in err
    assert len(list(graph_cache.glob("go_jaccard-*.npz"))) == 1
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "g.tsv"], capsys)
    assert code == 0 and "read from the cache" in err
    npz, tsv = KnowledgeGraph.read_npz(tmp_path / "g.npz"), KnowledgeGraph.read(tmp_path / "g.tsv")
    assert npz.genes.tolist() == tsv.genes.tolist() == ["GENEA", "GENEB"]
    assert (npz.adjacency != tsv.adjacency).nnz == 0
    # the design command reads the same cache entry, and takes the .npz with --graph
    genes = tmp_path / "genes.txt"
    genes.write_text("GENEA\nGENEB\n")
    code, _, err = _run(["design", "--genes", genes, "--budget", 1, "--go-dir", go_dir], capsys)
    assert code == 0 and "graph read from the cache" in err
    code, out, err = _run(
        ["design", "--genes", genes, "--budget", 1, "--go-dir", go_dir, "--graph", tmp_path / "g.npz"], capsys
    )
    assert code == 0 and out.splitlines()[1].split("\t")[1] in ("GENEA", "GENEB")
    # --no-cache builds without touching the cache
    for entry in graph_cache.iterdir():
        entry.unlink()
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "h.tsv", "--no-cache"], capsys)
    assert code == 0 and "cache not used" in err and not list(graph_cache.iterdir())
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "g.txt"], capsys)
    assert (
        code == 2 and err == f"perturb-select graph: error: --output: {tmp_path / 'g.txt'} must end in .tsv or .npz\n"
    )


def _go_mirror(tmp_path) -> Path:
    go_dir = tmp_path / "mirror"
    go_dir.mkdir()
    shutil.copy(GO_FIXTURES / "gene2go_tiny.gz", go_dir / "gene2go_human.gz")
    shutil.copy(GO_FIXTURES / "tiny.obo", go_dir / "go-basic.obo")
    shutil.copy(GO_FIXTURES / "gene_info_tiny.gz", go_dir / "Homo_sapiens.gene_info.gz")
    return go_dir


@pytest.mark.parametrize("victim", ["gene-info", "go-file-link", "gene-info-link"])
def test_graph_output_naming_an_input_is_refused_and_the_input_kept(tmp_path, capsys, victim):
    """`graph --output` onto --gene-info or a GO file of --go-dir (directly or through a link) once overwrote
    it with exit 0; `design` refused the same."""
    go_dir = _go_mirror(tmp_path)
    gene_info = tmp_path / "gene_info.tsv"  # a gene_info under a name the graph command may write
    gene_info.write_bytes(gzip.decompress((go_dir / "Homo_sapiens.gene_info.gz").read_bytes()))
    argv = ["graph", "--go-dir", go_dir, "--gene-info", gene_info]
    if victim == "gene-info":
        output, target = gene_info, gene_info
    else:
        target = go_dir / "gene2go_human.gz" if victim == "go-file-link" else gene_info
        output = tmp_path / "graph.npz"
        output.symlink_to(target)
    before = target.read_bytes()
    code, out, err = _run(argv + ["--output", output], capsys)
    assert code == 2 and out == ""
    assert err.startswith("perturb-select graph: error: --output/--") and "refusing to overwrite it" in err
    assert err.count("\n") == 1 and target.read_bytes() == before


def test_a_link_in_the_cache_is_replaced_never_written_through(tmp_path, capsys, graph_cache):
    go_dir = _go_mirror(tmp_path)
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "g.npz"], capsys)
    assert code == 0, err
    (entry,) = graph_cache.glob("go_jaccard-*.npz")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    entry.unlink()
    entry.symlink_to(victim)  # an entry's name is predictable; a link there once got the graph written through it
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "h.npz"], capsys)
    assert code == 0 and "built" in err
    assert victim.read_text() == "precious\n"
    assert not entry.is_symlink() and KnowledgeGraph.read_npz(entry).genes.tolist() == ["GENEA", "GENEB"]
    # a link to a valid graph is not read either: rebuilt, and replaced by a plain entry
    entry.unlink()
    entry.symlink_to(tmp_path / "g.npz")
    code, _, err = _run(["graph", "--go-dir", go_dir, "--output", tmp_path / "i.npz"], capsys)
    assert code == 0 and "built" in err and not entry.is_symlink()
    assert (tmp_path / "g.npz").is_file()


@pytest.mark.parametrize(
    "damage, field",
    [
        (dict(indices=[0, 7]), "indices"),  # an index past the last node
        (dict(indices=[-1, 0]), "indices"),  # a negative index
        (dict(indptr=[0, 2, 1, 2]), "indptr"),  # decreasing
        (dict(indptr=[0, 1, 2]), "indptr"),  # one entry short
        (dict(data=[0.5, float("nan")]), "data"),
        (dict(indices=[0.0, 1.0]), "indices"),  # not integers
    ],
)
def test_a_crafted_graph_npz_is_one_clear_error_not_a_crash(tmp_path, capsys, inputs, damage, field):
    """Out-of-range or negative indices and a non-monotonic indptr once segfaulted scipy (exit 139)."""
    import numpy as np

    from perturb_select.io import save_container
    from perturb_select.knowledge.graph import GRAPH_NPZ_FORMAT

    _, go_dir, genes = inputs
    arrays = {
        "genes": np.array(["GENEA", "GENEB", "GENEC"]),
        "data": np.array([0.5, 0.5]),
        "indices": np.array([1, 0]),
        "indptr": np.array([0, 1, 2, 2]),
    }
    arrays.update({k: np.array(v) for k, v in damage.items()})
    crafted = tmp_path / "crafted.npz"
    save_container(crafted, GRAPH_NPZ_FORMAT, arrays)
    out = tmp_path / "picks.tsv"
    code, _, err = _run(
        ["design", "--genes", genes, "--budget", 1, "--go-dir", go_dir, "--graph", crafted, "--output", out], capsys
    )
    assert code == 2 and err.startswith(f"perturb-select design: error: {crafted}, field '{field}':")
    assert err.count("\n") == 1 and not out.exists()


def test_a_text_file_given_as_an_npz_graph_is_named_for_what_it_is(inputs, tmp_path, capsys):
    """A text file as --graph x.npz was reported as 'pickled data' (numpy's guess)."""
    _, go_dir, genes = inputs
    text = tmp_path / "graph.npz"
    text.write_text("source\ttarget\timportance\nGENEA\tGENEB\t0.5\n")
    code, out, err = _run(["design", "--genes", genes, "--budget", 1, "--go-dir", go_dir, "--graph", text], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"perturb-select design: error: {text}: not an .npz file (neither a zip archive nor a numpy array file)\n"
    )


# Issue 27.6: the design CLI's last doors.


def _design_argv(inputs, *extra):
    graph, go_dir, genes = inputs
    return ["design", "--genes", genes, "--budget", 2, "--graph", graph, "--go-dir", go_dir, *extra]


def test_unresolved_through_a_link_to_the_output_is_the_same_file(inputs, tmp_path, capsys):
    output = tmp_path / "a.tsv"
    link = tmp_path / "link.tsv"
    link.symlink_to(output)
    code, out, err = _run(_design_argv(inputs, "--output", output, "--unresolved", link), capsys)
    assert code == 2 and out == ""
    assert "--output/--unresolved/--plot: two outputs name the same file" in err and err.count("\n") == 1
    assert not output.exists()


def test_unresolved_dash_is_standard_output(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(_design_argv(inputs, "--output", tmp_path / "picks.tsv", "--unresolved", "-"), capsys)
    assert code == 0, err
    assert not (tmp_path / "-").exists()
    assert out.startswith("list\tquery\tstatus") and "NOTAGENE\tunknown" in out
    assert (tmp_path / "picks.tsv").read_text().startswith("rank\tgene")
    # both on standard output: one line, nothing written
    code, out, err = _run(_design_argv(inputs, "--unresolved", "-"), capsys)
    assert code == 2 and out == "" and "both are '-'" in err and err.count("\n") == 1


@pytest.mark.parametrize("option", ["--output", "--unresolved", "--plot"])
def test_a_write_protected_output_is_refused_and_kept(inputs, tmp_path, capsys, option):
    name = {"--output": "picks.tsv", "--unresolved": "unresolved.tsv", "--plot": "plot.svg"}[option]
    protected = tmp_path / name
    protected.write_text("keep me\n")
    protected.chmod(0o444)
    argv = _design_argv(inputs, option, protected)
    if option != "--output":
        argv += ["--output", tmp_path / "picks.tsv"]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert f"{protected}: is write-protected (mode 0444)" in err and err.count("\n") == 1
    assert protected.read_text() == "keep me\n" and (protected.stat().st_mode & 0o777) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_replacing_an_output_keeps_its_mode(inputs, tmp_path, capsys):
    output = tmp_path / "picks.tsv"
    output.write_text("old\n")
    output.chmod(0o640)
    code, _, err = _run(_design_argv(inputs, "--output", output), capsys)
    assert code == 0, err
    assert output.read_text().startswith("rank\tgene") and (output.stat().st_mode & 0o777) == 0o640


def test_a_250_byte_output_name_is_written(inputs, tmp_path, capsys):
    output = tmp_path / ("p" * 246 + ".tsv")
    unresolved = tmp_path / ("u" * 246 + ".tsv")
    code, _, err = _run(_design_argv(inputs, "--output", output, "--unresolved", unresolved), capsys)
    assert code == 0, err
    assert output.read_text().startswith("rank\tgene") and unresolved.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_device_names_the_output(inputs, tmp_path, capsys):
    code, out, err = _run(_design_argv(inputs, "--output", "/dev/full"), capsys)
    assert code == 2
    assert "No space left on device" in err and "/dev/full" in err and err.count("\n") == 1


def test_a_huge_gene_list_is_read_with_a_bound(inputs, tmp_path, capsys, monkeypatch):
    from perturb_select.knowledge import symbols

    graph, go_dir, genes = inputs
    monkeypatch.setattr(symbols, "MAX_GENE_LIST_BYTES", 1000)
    big = tmp_path / "big.txt"
    big.write_text("GENEA\n" * 1000)
    packed = tmp_path / "big.txt.gz"
    packed.write_bytes(gzip.compress(b"GENEA\n" * 100_000))  # small on disk, large unpacked
    for path, message in ((big, "larger than"), (packed, "decompressed larger than")):
        code, out, err = _run(_design_argv((graph, go_dir, path), "--output", tmp_path / "picks.tsv"), capsys)
        assert code == 2 and out == ""
        assert f"{path}: {message}" in err and err.count("\n") == 1
    assert not (tmp_path / "picks.tsv").exists()
    if Path("/dev/zero").exists():  # never ends: read up to the bound only
        code, _, err = _run(_design_argv((graph, go_dir, "/dev/zero")), capsys)
        assert code == 2 and "/dev/zero: larger than" in err


def _read_only_mounts_work(tmp_path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount --bind {probe} {probe} && mount -o remount,ro,bind {probe} && ! touch {probe}/x"
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def test_design_runs_from_a_read_only_install(inputs, tmp_path):
    """numba's cache=True on a read-only package and home: falls back to a temporary cache folder."""
    if not _read_only_mounts_work(tmp_path):
        pytest.skip("needs unshare -m and mount (root in a mount namespace)")
    graph, go_dir, genes = inputs
    install, home, tmp = tmp_path / "install", tmp_path / "home", tmp_path / "tmp"
    for folder in (install, home, tmp):
        folder.mkdir()
    import perturb_select

    shutil.copytree(
        Path(perturb_select.__file__).parent, install / "perturb_select", ignore=shutil.ignore_patterns("__pycache__")
    )
    read_only = " && ".join(f"mount --bind {d} {d} && mount -o remount,ro,bind {d}" for d in (install, home))
    command = (
        f"{read_only} && env -u NUMBA_CACHE_DIR HOME={home} XDG_CACHE_HOME={home}/.cache TMPDIR={tmp} "
        f"PYTHONPATH={install} {sys.executable} -m perturb_select design --genes {genes} --budget 2 "
        f"--graph {graph} --go-dir {go_dir}"
    )
    run = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1].startswith("1\tGENEA\tOLDA")
    assert not list(install.rglob("__pycache__"))  # nothing written into the install
