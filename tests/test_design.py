"""design.py: gene lists, symbol resolution report, ranked picks with coverage, plot, all-or-nothing outputs.

The tiny graph (edges source -> target): B->A, C->A, D->A, A->B, C->D, E->F. Receptive fields with
K = 1 (the node and the sources of its in-edges):

    R(A) = {A, B, C, D}   R(B) = {A, B}   R(C) = {C}   R(D) = {C, D}   R(E) = {E}   R(F) = {E, F}
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perturb_select.design import (
    DESIGN_COLUMNS,
    REPORT_COLUMNS,
    coverage_curve,
    plot_coverage,
    random_coverage,
    rank_perturbations,
    reachable_nodes,
    resolution_counts,
    resolve_candidates,
    run_design,
    write_design,
)
from perturb_select.io import InputError
from perturb_select.knowledge.graph import KnowledgeGraph, in_neighbourhood
from perturb_select.knowledge.symbols import SymbolResolver, read_gene_info, read_gene_list

EDGES = [("B", "A"), ("C", "A"), ("D", "A"), ("A", "B"), ("C", "D"), ("E", "F")]
FIELDS = {"A": set("ABCD"), "B": set("AB"), "C": set("C"), "D": set("CD"), "E": set("E"), "F": set("EF")}

GENE_INFO = (
    "#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\n"
    "9606\t1\tGENEA\t-\tOLDA\t-\n"
    "9606\t2\tGENEB\t-\tSHARED\t-\n"
    "9606\t3\tGENEC\t-\tSHARED\t-\n"
    "9606\t4\tGENED\t-\t-\t-\n"
    "9606\t5\tGENEE\t-\t-\t-\n"
    "9606\t6\tGENEF\t-\t-\t-\n"
    "9606\t7\tGENEG\t-\tOLDG\t-\n"  # a gene without a graph node
)


def tiny_graph(prefix: str = "") -> KnowledgeGraph:
    edges = pd.DataFrame([(prefix + s, prefix + t, 0.5) for s, t in EDGES], columns=["source", "target", "importance"])
    return KnowledgeGraph.from_edges(edges)


@pytest.fixture
def graph():
    return tiny_graph()


@pytest.fixture
def gene_graph():
    return tiny_graph("GENE")


@pytest.fixture
def resolver(tmp_path, gene_graph):
    path = tmp_path / "gene_info"
    path.write_text(GENE_INFO)
    return SymbolResolver(read_gene_info(path), universe=gene_graph.genes)


# --------------------------------------------------------------------------------------------------
# read_gene_list
# --------------------------------------------------------------------------------------------------


def test_read_gene_list_skips_comments_blanks_and_extra_columns(tmp_path):
    path = tmp_path / "genes.txt"
    path.write_bytes(b"\xef\xbb\xbf# K562 essential\r\nAARS\r\n\r\n  C7orf26  \nZNRD1\tsome note\n#MARS\nAARS\n")
    assert read_gene_list(path) == ["AARS", "C7orf26", "ZNRD1", "AARS"]


def test_read_gene_list_gzipped(tmp_path):
    path = tmp_path / "genes.txt.gz"
    path.write_bytes(gzip.compress(b"GENEA\nGENEB\n"))
    assert read_gene_list(path) == ["GENEA", "GENEB"]


@pytest.mark.parametrize(
    "content, field, problem",
    [
        (b"", "genes", "no gene symbols"),
        (b"# only a comment\n\n   \n#GENEA\n", "genes", "no gene symbols"),
        (b"GENEA\n\xff\xfeGENEB\n", None, "not a UTF-8 text file (byte 0xff at offset 6)"),
        (b"GENEA\x00\x01\x02\n", None, "binary file"),
        (b"\x1f\x8b\x08\x00garbage", None, "corrupt gzip file"),
    ],
)
def test_read_gene_list_bad_content(tmp_path, content, field, problem):
    path = tmp_path / "genes.txt"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_gene_list(path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert problem in err.value.problem


def test_read_gene_list_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="gene list file not found") as err:
        read_gene_list(tmp_path / "nope.txt")
    assert err.value.source == str(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_gene_list(tmp_path)


# --------------------------------------------------------------------------------------------------
# resolve_candidates
# --------------------------------------------------------------------------------------------------


def test_resolution_report_names_every_query(resolver):
    queries = ["GENEA", "OLDA", "SHARED", "NOTAGENE", "OLDG", "GENEG", "geneb", "GENEF", "GENEA", "GENED"]
    candidates, report = resolve_candidates(queries, resolver)
    assert candidates == ["GENEA", "GENEB", "GENEF", "GENED"]
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert report["query"].tolist() == queries
    assert report["status"].tolist() == [
        "official",
        "duplicate",
        "ambiguous",
        "unknown",
        "not_in_graph",
        "not_in_graph",
        "alias",
        "official",
        "duplicate",
        "official",
    ]
    assert report["symbol"].tolist() == ["GENEA", "GENEA", "", "", "", "", "GENEB", "GENEF", "GENEA", "GENED"]
    reasons = dict(zip(range(len(queries)), report["reason"]))
    assert reasons[0] == ""
    assert reasons[1] == "OLDA resolves to GENEA, already listed as GENEA; used once"
    assert "GENEB, GENEC" in reasons[2] and "not guessed" in reasons[2]
    assert reasons[3] == "NOTAGENE is neither an official symbol nor a synonym in gene_info"
    assert "OLDG is a previous symbol or synonym of GENEG" in reasons[4] and "graph" in reasons[4]
    assert reasons[8] == "GENEA is listed more than once; the first occurrence is used"
    assert resolution_counts(report) == {
        "official": 3,
        "alias": 1,
        "ambiguous": 1,
        "unknown": 1,
        "not_in_graph": 2,
        "invalid": 0,
        "duplicate": 2,
        "screened": 0,
        "excluded": 0,
        "total": 10,
    }


def test_alias_listed_first_is_the_query_of_its_gene(resolver, gene_graph):
    result = run_design(gene_graph, ["OLDA", "GENEA", "GENEF"], resolver, 2, hops=1)
    assert result.report["status"].tolist() == ["alias", "duplicate", "official"]
    assert result.table[["gene", "query"]].values.tolist() == [["GENEA", "OLDA"], ["GENEF", "GENEF"]]
    assert result.unresolved["query"].tolist() == ["GENEA"]


# --------------------------------------------------------------------------------------------------
# design_screen: picks and coverage by hand
# --------------------------------------------------------------------------------------------------


def test_graphreach_picks_and_coverage_by_hand(graph):
    table = rank_perturbations(graph, list("ABCDEF"), 3, method="graphreach", hops=1)
    assert list(table.columns) == list(DESIGN_COLUMNS)
    # A reaches 4 nodes; then F adds E, F; then every gain is 0 and symbol order decides: B.
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["gene"].tolist() == ["A", "F", "B"]
    assert table["query"].tolist() == ["A", "F", "B"]
    assert table["gain"].tolist() == [4.0, 2.0, 0.0]
    assert table["covered_nodes"].tolist() == [4, 6, 6]
    assert table["coverage_fraction"].tolist() == [4 / 6, 1.0, 1.0]
    assert table["rank"].dtype == np.int64 and table["covered_nodes"].dtype == np.int64
    assert table["gain"].dtype == np.float64 and table["coverage_fraction"].dtype == np.float64


def test_graphreach_subset_ties_and_hops(graph):
    # B and D both reach 2 nodes: B first (symbol order), then D adds C, D.
    table = rank_perturbations(graph, ["E", "D", "B"], 2, hops=1, queries={"B": "oldB"})
    assert table[["gene", "query"]].values.tolist() == [["B", "oldB"], ["D", "D"]]
    assert table["covered_nodes"].tolist() == [2, 4]
    # K = 0: every field is the node itself.
    assert rank_perturbations(graph, list("FEDCBA"), 3, hops=0)["covered_nodes"].tolist() == [1, 2, 3]
    # K = 2: R2(A) = R2(B) = {A, B, C, D}, R2(F) = {E, F}.
    table = rank_perturbations(graph, list("ABCDEF"), 2, hops=2)
    assert table["gene"].tolist() == ["A", "F"] and table["covered_nodes"].tolist() == [4, 6]


def test_maxspec_coverage_matches_its_picks(graph):
    from perturb_select.selection.maxspec import maxspec

    table = rank_perturbations(graph, list("ABCDEF"), 4, method="maxspec", hops=1)
    selection = maxspec(graph, list("ABCDEF"), 4, hops=1)
    assert table["gene"].tolist() == selection.genes
    np.testing.assert_array_equal(table["gain"].to_numpy(), selection.gains)
    expected, covered = [], set()
    for gene in selection.genes:
        covered |= FIELDS[gene]
        expected.append(len(covered))
    assert table["covered_nodes"].tolist() == expected


def test_weighted_graphreach_and_facility_rankings(graph, gene_graph, resolver):
    from perturb_select.selection.facility import facility

    # weights counting the candidates A-F: A 2, B 2, C 3 (in R(A), R(C), R(D)), D 2, E 2, F 1
    # gains: A 9, D 5, B 4; after A only E and F are left: F 3, E 2; then zeros in symbol order
    table = rank_perturbations(graph, list("ABCDEF"), 3, hops=1, weights="candidates")
    assert table["gene"].tolist() == ["A", "F", "B"] and table["gain"].tolist() == [9.0, 3.0, 0.0]
    assert table["covered_nodes"].tolist() == [4, 6, 6]  # coverage stays the node count
    table = rank_perturbations(graph, list("ABCDEF"), 4, method="facility", hops=1)
    selection = facility(graph, list("ABCDEF"), 4, hops=1)
    assert table["gene"].tolist() == selection.genes
    np.testing.assert_array_equal(table["gain"].to_numpy(), selection.gains)
    expected, covered = [], set()
    for gene in selection.genes:
        covered |= FIELDS[gene]
        expected.append(len(covered))
    assert table["covered_nodes"].tolist() == expected
    for method in ("maxspec", "facility"):
        with pytest.raises(InputError) as err:
            rank_perturbations(graph, list("ABC"), 2, method=method, weights="candidates", source="--budget")
        assert err.value.field == "weights" and "only graphreach takes weights" in err.value.problem
    with pytest.raises(InputError) as err:
        run_design(
            gene_graph,
            ["GENEA", "GENEF"],
            resolver,
            1,
            method="facility",
            weights="candidates",
            names={"weights": "--weights"},
        )
    assert err.value.source == "--weights" and "only graphreach takes weights" in err.value.problem
    result = run_design(gene_graph, ["GENEA", "GENEF", "GENED"], resolver, 2, weights="candidates")
    assert result.summary()["weights"] == "candidates" and result.label == "graphreach (weights: candidates)"
    result = run_design(gene_graph, ["GENEA", "GENEF", "GENED"], resolver, 2, method="facility")
    assert result.summary()["weights"] is None and result.label == "facility"


def test_budget_errors_name_the_option_and_counts(graph, gene_graph, resolver):
    with pytest.raises(InputError) as err:
        rank_perturbations(graph, list("ABC"), 4, source="--budget")
    assert (err.value.source, err.value.field) == ("--budget", "budget")
    assert "budget is 4 but 3 candidate perturbations" in err.value.problem
    with pytest.raises(InputError, match="between 1 and 3"):
        rank_perturbations(graph, list("ABC"), 0)
    with pytest.raises(InputError, match="unknown method 'random'"):
        rank_perturbations(graph, list("ABC"), 1, method="random")
    # run_design: the message also says where the listed symbols went
    with pytest.raises(InputError) as err:
        run_design(gene_graph, ["GENEA", "SHARED", "NOTAGENE", "OLDA"], resolver, 2, source="config: design.x")
    assert err.value.source == "config: design.x"
    assert (
        "budget is 2 but only 1 of the 4 listed symbols can be picked (1 ambiguous, 1 unknown, 1 duplicate)"
        in err.value.problem
    )
    # nothing resolved: says so, instead of "choose a budget between 1 and 0"
    with pytest.raises(InputError) as err:
        run_design(gene_graph, ["SHARED", "NOTAGENE"], resolver, 1, source="--budget")
    assert "none of the 2 listed symbols can be picked" in err.value.problem and "between 1 and 0" not in str(err.value)
    with pytest.raises(InputError, match="no candidate gene resolved"):
        rank_perturbations(graph, [], 1)


def test_coverage_curves_by_hand(graph):
    assert coverage_curve(graph, ["D", "A", "F", "E"], 1).tolist() == [2, 4, 6, 6]
    assert reachable_nodes(graph, ["B", "E"], 1) == 3
    assert reachable_nodes(graph, list("ABCDEF"), 1) == 6
    runs = random_coverage(graph, list("ABCDEF"), 6, 1, seed=3, n_orders=5)
    assert runs.shape == (5, 6)
    assert (np.diff(runs, axis=1) >= 0).all() and (runs[:, -1] == 6).all()
    np.testing.assert_array_equal(runs, random_coverage(graph, list("ABCDEF"), 6, 1, seed=3, n_orders=5))
    assert not np.array_equal(runs, random_coverage(graph, list("ABCDEF"), 6, 1, seed=4, n_orders=5))


# --------------------------------------------------------------------------------------------------
# Plot and outputs
# --------------------------------------------------------------------------------------------------


def test_plot_svg_png_and_bad_suffix(graph, tmp_path):
    table = rank_perturbations(graph, list("ABCDEF"), 3)
    svg = tmp_path / "coverage.svg"
    plot_coverage(table, svg, graph=graph, candidates=list("ABCDEF"), hops=1, method="graphreach")
    text = svg.read_text()
    assert text.startswith("<?xml") and "coverage fraction (covered / 6 nodes)" in text
    assert "perturbations picked (budget)" in text and "random order" in text
    png = tmp_path / "coverage.png"
    plot_coverage(table, png, graph=graph, candidates=list("ABCDEF"), hops=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match=r"must end in \.svg, \.png, \.pdf"):
        plot_coverage(table, tmp_path / "coverage.jpg", graph=graph, candidates=list("ABCDEF"), hops=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coverage.png", "coverage.svg"]


def test_write_design_all_or_nothing(gene_graph, resolver, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = run_design(gene_graph, ["GENEA", "SHARED", "GENEF"], resolver, 2)
    blocker = out / "not_a_dir"
    blocker.write_text("")
    with pytest.raises(OSError):
        write_design(
            result,
            gene_graph,
            table_path=out / "picks.tsv",
            unresolved_path=out / "picks.unresolved.tsv",
            plot_path=blocker / "plot.svg",
        )
    assert sorted(p.name for p in out.iterdir()) == ["not_a_dir"]

    write_design(
        result,
        gene_graph,
        table_path=out / "picks.tsv",
        unresolved_path=out / "picks.unresolved.tsv",
        plot_path=out / "plot.svg",
    )
    picks = pd.read_csv(out / "picks.tsv", sep="\t")
    assert picks.to_dict("list") == {
        "rank": [1, 2],
        "gene": ["GENEA", "GENEF"],
        "query": ["GENEA", "GENEF"],
        "required": [False, False],
        "gain": [4, 2],
        "covered_nodes": [4, 6],
        "coverage_fraction": [0.666667, 1.0],
        "tie": [False, False],
    }
    unresolved = pd.read_csv(out / "picks.unresolved.tsv", sep="\t", keep_default_na=False)
    assert unresolved[["query", "status", "symbol"]].values.tolist() == [["SHARED", "ambiguous", ""]]
    assert result.summary() == {
        "queries": 3,
        "official": 2,
        "alias": 0,
        "ambiguous": 1,
        "unknown": 0,
        "not_in_graph": 0,
        "invalid": 0,
        "duplicate": 0,
        "screened": 0,
        "excluded": 0,
        "candidates": 2,
        "screened_perturbations": 0,
        "required_perturbations": 0,
        "excluded_perturbations": 0,
        "budget": 2,
        "cycles": None,
        "perturbations_per_cycle": None,
        "method": "graphreach",
        "weights": "uniform",
        "tie_break": "lookahead",
        "operator": None,
        "ties": 0,
        "hops": 1,
        "graph_nodes": 6,
        "start_covered_nodes": 0,
        "start_coverage_fraction": 0.0,
        "covered_nodes": 6,
        "coverage_fraction": 1.0,
        "all_candidates_covered_nodes": 6,
        "all_candidates_coverage_fraction": 1.0,
    }


def _design_stage(edges, gene_info, out, name, entry):
    from perturb_select.config import DesignConfig
    from perturb_select.stages.design import design_screen

    design_screen(
        str(edges),
        str(gene_info),
        out / f"{name}.tsv",
        out / f"{name}.unresolved.tsv",
        out / f"{name}.coverage.svg",
        out / f"{name}.summary.json",
        design=DesignConfig.from_config(name, entry, default_hops=1).to_params(),  # as the rule passes it
        taxid=9606,
    )


def test_pipeline_stages_design_and_summary(gene_graph, tmp_path):
    from perturb_select.stages.design import design

    edges, gene_info, genes = tmp_path / "graph.tsv", tmp_path / "gene_info", tmp_path / "genes.txt"
    gene_graph.write(edges)
    gene_info.write_text(GENE_INFO)
    genes.write_text("OLDA\nSHARED\nGENED\nGENEF\n")
    out = tmp_path / "results"
    _design_stage(edges, gene_info, out, "x", {"genes": str(genes), "budget": 2})
    assert pd.read_csv(out / "x.tsv", sep="\t")["gene"].tolist() == ["GENEA", "GENEF"]
    design([out / "x.summary.json"], ["x"], out / "summary.tsv")
    row = pd.read_csv(out / "summary.tsv", sep="\t").iloc[0]
    assert (row["design"], row["queries"], row["alias"], row["ambiguous"], row["candidates"]) == ("x", 4, 1, 1, 3)
    assert (row["covered_nodes"], row["coverage_fraction"], row["genes"]) == (6, 1.0, str(genes))
    with pytest.raises(InputError, match="config: design.y, field 'budget': budget is 4 but only 3"):
        _design_stage(edges, gene_info, out, "y", {"genes": str(genes), "budget": 4})
    assert not list(out.glob("y*"))


# --------------------------------------------------------------------------------------------------
# Real data: the Replogle 2022 K562 essential list (1,092 symbols, outdated ones included)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replogle(shared_data, human_graph):
    go = shared_data / "go"
    graph = human_graph  # conftest: the whole human graph, built once per session
    resolver = SymbolResolver.from_gene_info(go / "Homo_sapiens.gene_info.gz", universe=graph.genes)
    symbols = read_gene_list(shared_data / "genelists" / "replogle2022_k562_essential_1092_genes.txt")
    return graph, resolver, symbols


@pytest.mark.slow
def test_real_replogle_resolution(replogle):
    graph, resolver, symbols = replogle
    assert graph.n_nodes == 20709
    assert len(symbols) == 1092
    candidates, report = resolve_candidates(symbols, resolver)
    counts = resolution_counts(report)
    assert counts == {
        "official": 1066,
        "alias": 19,
        "ambiguous": 4,
        "unknown": 0,
        "not_in_graph": 3,
        "invalid": 0,
        "duplicate": 0,
        "screened": 0,
        "excluded": 0,
        "total": 1092,
    }
    # every query accounted for: used + reported
    assert len(candidates) + int((~report["status"].isin(["official", "alias"])).sum()) == 1092
    by_query = report.set_index("query")
    # checked by hand in Homo_sapiens.gene_info.gz: the synonyms of AARS1, INTS15, POLR1H
    for old, new in [("AARS", "AARS1"), ("C7orf26", "INTS15"), ("ZNRD1", "POLR1H"), ("WDR61", "SKIC8")]:
        assert (by_query.loc[old, "status"], by_query.loc[old, "symbol"]) == ("alias", new)
    # GARS is a synonym of both GARS1 and GART: reported, never guessed
    assert by_query.loc["GARS", "status"] == "ambiguous"
    assert "GARS1, GART" in by_query.loc["GARS", "reason"]
    assert sorted(report.loc[report["status"] == "ambiguous", "query"]) == ["GARS", "MARS", "QARS", "SARS"]
    # no GO annotation in the 2022 gene2go: not nodes
    assert sorted(report.loc[report["status"] == "not_in_graph", "query"]) == ["C14orf178", "RPS10-NUDT3", "SEM1"]


@pytest.mark.slow
def test_real_replogle_graphreach_budget_500(replogle, tmp_path):
    graph, resolver, symbols = replogle
    result = run_design(graph, symbols, resolver, 500, method="graphreach", hops=1)
    table = result.table
    assert table["rank"].tolist() == list(range(1, 501))
    assert table["gene"].is_unique and set(table["gene"]) <= set(result.candidates)
    covered = table["covered_nodes"].to_numpy()
    assert (np.diff(covered) >= 0).all()
    # GraphReach's gain is the coverage increase
    np.testing.assert_array_equal(covered, np.cumsum(table["gain"].to_numpy()).astype(np.int64))
    # the last value by an independent breadth-first count of the picks' receptive fields
    assert covered[-1] == in_neighbourhood(graph, graph.index_of(table["gene"]), 1).sum() == 5212
    assert table["coverage_fraction"].iat[-1] == pytest.approx(5212 / 20709)
    assert result.reachable_nodes == 5340
    # AARS is listed under its old symbol: resolved to AARS1, and picks keep the symbol as listed beside the gene
    assert result.report.set_index("query").loc["AARS", "symbol"] == "AARS1"
    renamed = table[table["query"] != table["gene"]]
    assert len(renamed) and all(
        result.report.set_index("query").loc[q, "symbol"] == g for q, g in zip(renamed["query"], renamed["gene"])
    )
    assert table["tie"].sum() == result.summary()["ties"] > 0
    write_design(result, graph, table_path=tmp_path / "r.tsv", unresolved_path=tmp_path / "u.tsv")
    assert pd.read_csv(tmp_path / "r.tsv", sep="\t").columns.tolist() == list(DESIGN_COLUMNS)
    assert len(pd.read_csv(tmp_path / "u.tsv", sep="\t")) == 7


@pytest.mark.slow
def test_real_replogle_maxspec_budget_50(replogle):
    graph, resolver, symbols = replogle
    result = run_design(graph, symbols, resolver, 50, method="maxspec", hops=1)
    table = result.table
    assert table["rank"].tolist() == list(range(1, 51))
    # MaxSpec's gain is the criterion increase (>= 0: the norm grows with the reached nodes)
    assert (table["gain"].to_numpy() >= -1e-12).all()
    covered = table["covered_nodes"].to_numpy()
    assert (np.diff(covered) > 0).all()  # every pick reaches new nodes while most of the graph is unreached
    assert covered[-1] == in_neighbourhood(graph, graph.index_of(table["gene"]), 1).sum()


# --------------------------------------------------------------------------------------------------
# Designing from what is known: screened, required, excluded, cycles, double perturbations
# --------------------------------------------------------------------------------------------------


def test_pairs_are_resolved_per_gene_and_reported(resolver):
    queries = [
        "GENEA+GENEF",
        "OLDA+GENED",
        "GENEF+GENEA",
        "GENEA+",
        "GENEA+OLDA",
        "GENEA+NOTAGENE",
        "GENEB+SHARED",
        "GENEA+GENEB+GENEC",
        "GENEG+GENEA",
        "GENEC",
    ]
    candidates, report = resolve_candidates(queries, resolver)
    assert candidates == ["GENEA+GENEF", "GENEA+GENED", "GENEC"]
    assert report["status"].tolist() == [
        "official",
        "alias",
        "duplicate",
        "invalid",
        "invalid",
        "unknown",
        "ambiguous",
        "invalid",
        "not_in_graph",
        "official",
    ]
    assert report["symbol"].tolist()[:3] == ["GENEA+GENEF", "GENEA+GENED", "GENEA+GENEF"]
    reasons = report["reason"].tolist()
    assert "OLDA" in reasons[1] and "GENEA" in reasons[1]
    assert reasons[2] == "GENEF+GENEA resolves to GENEA+GENEF, already listed as GENEA+GENEF; used once"
    assert reasons[3] == "GENEA+ has an empty gene name; a double perturbation is written A+B"
    assert reasons[4] == "pair GENEA+OLDA names the same gene twice (GENEA)"
    assert reasons[5].startswith("pair GENEA+NOTAGENE: NOTAGENE is neither")
    assert reasons[6].startswith("pair GENEB+SHARED: SHARED") and "not guessed" in reasons[6]
    assert "3 genes" in reasons[7]
    assert reasons[8].startswith("pair GENEG+GENEA: GENEG")


def test_control_words_are_never_genes_and_gene_plus_ctrl_is_the_single_perturbation(tmp_path, gene_graph):
    """`ctrl` once resolved to the gene CTRL (case-insensitive match), so `ctrl`, `BRCA1+ctrl` and `ctrl+TP53`
    were ranked as perturbations of CTRL."""
    path = tmp_path / "gene_info"
    path.write_text(GENE_INFO + "9606\t8\tCTRL\t-\t-\t-\n")  # chymotrypsin-like protease: a real gene
    resolver = SymbolResolver(read_gene_info(path), universe=[*gene_graph.genes, "CTRL"])
    queries = [
        "ctrl",
        "GENEA+ctrl",
        "ctrl+GENED",
        "ctrl+ctrl",
        "non-targeting",
        "Non-Targeting+GENEC",
        "CTRL",
        "ctrl+OLDA",
        "ctrl+NOTAGENE",
    ]
    candidates, report = resolve_candidates(queries, resolver)
    assert candidates == ["GENEA", "GENED", "GENEC", "CTRL"]
    assert report["status"].tolist() == [
        "invalid",
        "official",
        "official",
        "invalid",
        "invalid",
        "official",
        "official",
        "duplicate",
        "unknown",
    ]
    reasons = report["reason"].tolist()
    assert reasons[0] == "ctrl is the control condition, not a gene"
    assert reasons[1] == "GENEA+ctrl is GEARS's name of the single perturbation GENEA"
    assert reasons[3] == "ctrl+ctrl is the control condition, not a gene"
    assert reasons[4] == "non-targeting is the control condition, not a gene"
    assert reasons[7] == "ctrl+OLDA resolves to GENEA, already listed as GENEA+ctrl; used once"


def test_design_from_screened_required_excluded_and_cycles_by_hand(gene_graph, resolver):
    # R(A) = {A,B,C,D}  R(B) = {A,B}  R(C) = {C}  R(D) = {C,D}  R(E) = {E}  R(F) = {E,F}
    # screened B covers {A,B} (2); C is required (+C: 3); greedy from {A,B,C}: F (+E,F: 5), then A and D
    # both add D: A first by symbol (6), then D adds nothing. E is excluded, and so is the pair E+A.
    symbols = ["GENEA", "GENEB", "GENEC", "GENED", "GENEE", "GENEF", "GENEE+GENEA"]
    result = run_design(
        gene_graph,
        symbols,
        resolver,
        method="graphreach",
        hops=1,
        cycles=2,
        perturbations_per_cycle=2,
        screened=["GENEB"],
        require=["GENEC"],
        exclude=["GENEE"],
    )
    assert result.table.to_dict("list") == {
        "rank": [1, 2, 3, 4],
        "cycle": [1, 1, 2, 2],
        "gene": ["GENEC", "GENEF", "GENEA", "GENED"],
        "query": ["GENEC", "GENEF", "GENEA", "GENED"],
        "required": [True, False, False, False],
        "gain": [1.0, 2.0, 1.0, 0.0],
        "covered_nodes": [3, 5, 6, 6],
        "coverage_fraction": [0.5, 5 / 6, 1.0, 1.0],
        "tie": [False, False, True, False],
    }
    unresolved = result.unresolved.set_index("query")
    assert unresolved.loc["GENEB", "status"] == "screened" and "never picked again" in unresolved.loc["GENEB", "reason"]
    assert unresolved.loc["GENEE", "status"] == "excluded"
    assert unresolved.loc["GENEE+GENEA", "status"] == "excluded"
    summary = result.summary()
    assert {
        key: summary[key]
        for key in (
            "screened",
            "excluded",
            "candidates",
            "screened_perturbations",
            "required_perturbations",
            "excluded_perturbations",
            "budget",
            "cycles",
            "perturbations_per_cycle",
            "start_covered_nodes",
            "covered_nodes",
        )
    } == {
        "screened": 1,
        "excluded": 2,
        "candidates": 4,
        "screened_perturbations": 1,
        "required_perturbations": 1,
        "excluded_perturbations": 1,
        "budget": 4,
        "cycles": 2,
        "perturbations_per_cycle": 2,
        "start_covered_nodes": 2,
        "covered_nodes": 6,
    }
    # a required gene that is not in the candidate list is still picked first
    # (after R(D) = {C,D}, A and F both add 2 nodes: A by symbol)
    result = run_design(gene_graph, ["GENEA", "GENEF"], resolver, 2, require=["GENED"])
    assert result.table["gene"].tolist() == ["GENED", "GENEA"] and result.table["required"].tolist() == [True, False]
    # unresolved symbols of every list are reported with the list they came from
    result = run_design(gene_graph, ["GENEA"], resolver, 1, screened=["NOTAGENE", "GENEB"], exclude=["SHARED", "GENEF"])
    assert result.unresolved[["list", "query", "status"]].values.tolist() == [
        ["screened", "NOTAGENE", "unknown"],
        ["exclude", "SHARED", "ambiguous"],
    ]


def test_maxspec_design_starts_from_the_screened_set(gene_graph, resolver):
    from perturb_select.knowledge.graph import sgc_operator

    result = run_design(
        gene_graph, ["GENEC", "GENED", "GENEF"], resolver, 2, method="maxspec", hops=1, screened=["GENEA"]
    )
    operator = sgc_operator(gene_graph).toarray()
    reached = gene_graph.index_of(["GENEA", "GENEB", "GENEC", "GENED"])  # R(A)
    start = np.linalg.norm(operator[np.ix_(reached, reached)], 2)
    first = result.table["gene"].iat[0]
    assert first == "GENEF"  # C and D add no node to R(A); F adds E, F
    both = gene_graph.index_of(["GENEA", "GENEB", "GENEC", "GENED", "GENEE", "GENEF"])
    assert result.table["gain"].iat[0] == pytest.approx(
        np.linalg.norm(operator[np.ix_(both, both)], 2) - start, abs=1e-12
    )
    assert result.table["covered_nodes"].tolist() == [6, 6]


@pytest.mark.parametrize(
    "kwargs, source, message",
    [
        (
            {"budget": 2, "require": ["GENEA"], "exclude": ["OLDA"]},
            "require/exclude",
            "1 perturbations are both required and excluded: GENEA",
        ),
        (
            {"budget": 2, "require": ["GENEA+GENEF"], "exclude": ["GENEF"]},
            "require/exclude",
            "both required and excluded: GENEA\\+GENEF",
        ),
        ({"budget": 2, "require": ["GENEA"], "screened": ["GENEA"]}, "require/screened", "already screened"),
        (
            {"budget": 1, "require": ["GENEA", "GENEF"]},
            "require/budget",
            "2 required perturbations but the budget is 1",
        ),
        ({"budget": 2, "cycles": 1, "perturbations_per_cycle": 2}, "budget/cycles", "not both"),
        ({"cycles": 2}, "cycles", "needs both the number of cycles and the perturbations per cycle"),
        ({}, "budget", "give a budget, or cycles and perturbations per cycle"),
        (
            {"budget": 5, "screened": ["GENED"], "exclude": ["GENEF"]},
            "budget",
            "only 4 of the 6 listed symbols can be picked \\(1 screened, 1 excluded\\)",
        ),
        # a list of which nothing resolves applied nothing and exited 0: now refused, naming the list
        (
            {"budget": 2, "require": ["NOTAGENE", "ctrl"]},
            "require",
            "none of its 2 entries is a perturbation of graph genes \\(NOTAGENE: .*; ctrl: ctrl is the control",
        ),
        ({"budget": 2, "screened": ["SHARED"]}, "screened", "none of its 1 entries .*SHARED"),
        ({"budget": 2, "exclude": ["NOTAGENE+GENEA"]}, "exclude", "none of its 1 entries .*pair NOTAGENE\\+GENEA"),
    ],
)
def test_design_option_errors(gene_graph, resolver, kwargs, source, message):
    symbols = ["GENEA", "GENEC", "GENED", "GENEF", "GENEE", "GENEB"]
    with pytest.raises(InputError, match=message) as err:
        run_design(gene_graph, symbols, resolver, **kwargs)
    assert err.value.source == source  # the option names of OPTION_NAMES
    with pytest.raises(InputError) as err:
        run_design(gene_graph, symbols, resolver, **kwargs, source="config: design.x")
    assert err.value.source == "config: design.x" and err.value.field == source


def test_coverage_from_screened_and_random_orders_start_like_the_selection(graph):
    # start: R(B) = {A,B}; D adds C, D (4); F adds E, F (6)
    assert coverage_curve(graph, ["D", "F"], 1, screened=["B"]).tolist() == [4, 6]
    assert coverage_curve(graph, ["A+F"], 1).tolist() == [6]
    runs = random_coverage(graph, list("ACDEF"), 3, 1, seed=1, n_orders=6, screened=["B"], required=["C"])
    assert runs.shape == (6, 3) and (runs[:, 0] == 3).all()  # every order starts with required C: {A,B,C}
    assert reachable_nodes(graph, ["C"], 1, screened=["E"]) == 2


def test_pipeline_design_with_lists(gene_graph, tmp_path):
    from perturb_select.stages.design import design

    edges, gene_info = tmp_path / "graph.npz", tmp_path / "gene_info"
    gene_graph.save_npz(edges)
    gene_info.write_text(GENE_INFO)
    files = {}
    for name, text in (
        ("genes", "GENEA\nGENEB\nGENEC\nGENED\nGENEE\nGENEF\n"),
        ("screened", "GENEB\n"),
        ("require", "GENEC\n"),
        ("exclude", "GENEE\n"),
    ):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text(text)
    out = tmp_path / "results"
    _design_stage(
        edges,
        gene_info,
        out,
        "x",
        {
            "genes": str(files["genes"]),
            "cycles": 2,
            "perturbations_per_cycle": 2,
            "screened": str(files["screened"]),
            "require": str(files["require"]),
            "exclude": str(files["exclude"]),
        },
    )
    assert pd.read_csv(out / "x.tsv", sep="\t")["gene"].tolist() == ["GENEC", "GENEF", "GENEA", "GENED"]
    design([out / "x.summary.json"], ["x"], out / "summary.tsv")
    row = pd.read_csv(out / "summary.tsv", sep="\t").iloc[0]
    assert (
        row["cycles"],
        row["perturbations_per_cycle"],
        row["start_covered_nodes"],
        row["screened"],
        row["excluded"],
    ) == (
        2,
        2,
        2,
        1,
        1,
    )
    svg = (out / "x.coverage.svg").read_text()
    assert "1 screened before" in svg and "cycle boundaries (2 per cycle)" in svg
    with pytest.raises(InputError, match="config: design.y, field 'require/exclude'"):
        _design_stage(
            edges,
            gene_info,
            out,
            "y",
            {
                "genes": str(files["genes"]),
                "budget": 2,
                "require": str(files["exclude"]),
                "exclude": str(files["exclude"]),
            },
        )
    assert not list(out.glob("y*"))


def test_graph_cache_hits_on_same_content_and_misses_on_change(tmp_path):
    import shutil

    from perturb_select.config import GraphConfig
    from perturb_select.knowledge.build import GoFiles, cached_knowledge_graph

    go = Path(__file__).parent / "data" / "go"
    files = GoFiles(gene2go=go / "gene2go_tiny.gz", gene_info=go / "gene_info_tiny.gz", obo=go / "tiny.obo")
    cache = tmp_path / "cache"
    first, hit, entry = cached_knowledge_graph(files, cache_dir=cache)
    assert not hit and entry.is_file() and entry.parent == cache
    second, hit, same = cached_knowledge_graph(files, cache_dir=cache)
    assert hit and same == entry
    pd.testing.assert_frame_equal(first.to_edges(), second.to_edges())
    # a copy with the same content hits; other parameters miss
    copies = tmp_path / "copies"
    copies.mkdir()
    copied = GoFiles(*(Path(shutil.copy(f, copies / f.name)) for f in (files.gene2go, files.obo, files.gene_info)))
    assert cached_knowledge_graph(copied, cache_dir=cache)[1:] == (True, entry)
    _, hit, other = cached_knowledge_graph(files, GraphConfig(threshold=0.2), cache_dir=cache)
    assert not hit and other != entry
    # a changed file misses
    (copies / "tiny.obo").write_text((go / "tiny.obo").read_text() + "\n")
    assert not cached_knowledge_graph(copied, cache_dir=cache)[1]
    # a damaged entry is rebuilt and replaced
    entry.write_bytes(b"not an npz")
    rebuilt, hit, again = cached_knowledge_graph(files, cache_dir=cache)
    assert not hit and again == entry
    pd.testing.assert_frame_equal(rebuilt.to_edges(), first.to_edges())
    assert cached_knowledge_graph(files, cache_dir=cache)[1]


@pytest.fixture(scope="module")
def genelists(shared_data):
    return shared_data / "genelists"


@pytest.mark.slow
def test_real_norman_doubles_resolved_and_ranked(replogle, genelists):
    from perturb_select.selection.graphreach import graphreach

    graph, resolver, _ = replogle
    symbols = read_gene_list(genelists / "norman2019_double_combos.txt")
    assert len(symbols) == 131
    result = run_design(graph, symbols, resolver, 20, method="graphreach", hops=1)
    counts = resolution_counts(result.report)
    assert (counts["official"], counts["alias"], counts["unknown"], counts["not_in_graph"]) == (122, 6, 2, 1)
    unresolved = result.unresolved.set_index("query")
    assert "RHOXF2BB" in unresolved.loc["RHOXF2BB+SET", "reason"]
    assert "IER5L" in unresolved.loc["LYL1+IER5L", "reason"]
    assert all("+" in g for g in result.table["gene"])
    # lazy greedy over pairs = plain greedy; coverage = breadth-first count over the union of the genes
    plain = graphreach(graph, result.candidates, 20, hops=1, lazy=False)
    assert result.table["gene"].tolist() == plain.genes
    genes = [g for pair in result.table["gene"] for g in pair.split("+")]
    assert result.table["covered_nodes"].iat[-1] == in_neighbourhood(graph, graph.index_of(genes), 1).sum()


@pytest.mark.slow
def test_real_replogle_after_adamson(replogle, genelists):
    from perturb_select.selection.graphreach import graphreach

    graph, resolver, symbols = replogle
    adamson = read_gene_list(genelists / "adamson2016_genes.txt")
    result = run_design(
        graph, symbols, resolver, method="graphreach", hops=1, cycles=5, perturbations_per_cycle=20, screened=adamson
    )
    screened = result.screened
    start = in_neighbourhood(graph, graph.index_of(screened), 1)
    assert result.start_nodes == start.sum() > 0
    assert not set(result.table["gene"]) & set(screened)
    skipped = result.report[result.report["status"] == "screened"]
    assert len(skipped) == 39 and set(skipped["symbol"]) <= set(screened)  # Adamson genes in the K562 list
    assert result.table["cycle"].tolist() == [c for c in range(1, 6) for _ in range(20)]
    plain = graphreach(graph, result.candidates, 100, hops=1, lazy=False, screened=screened)
    assert result.table["gene"].tolist() == plain.genes
    picks = graph.index_of(result.table["gene"])
    assert result.table["covered_nodes"].iat[-1] == (start | in_neighbourhood(graph, picks, 1)).sum()
