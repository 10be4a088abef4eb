"""go.py: goatools parsing, gene_info, symbol resolution and GEARS's Jaccard top-k GO graph.

Tiny hand-written fixtures live in tests/data/go (see the README there); real-data tests read
../shared/data/go and are skipped when it is absent.
"""

from __future__ import annotations

import gzip
import itertools
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perturb_select.io import InputError
from perturb_select.knowledge.annotations import read_gene2go_symbols, read_go_dag
from perturb_select.knowledge.jaccard import graph_stats, jaccard_topk_edges
from perturb_select.knowledge.symbols import Resolution, SymbolResolver, read_gene_info

FIXTURES = Path(__file__).resolve().parent / "data" / "go"
GENE2GO = FIXTURES / "gene2go_tiny.gz"
GENE_INFO = FIXTURES / "gene_info_tiny.gz"
OBO = FIXTURES / "tiny.obo"
HEADER = "#tax_id\tGeneID\tGO_ID\tEvidence\tQualifier\tGO_term\tPubMed\tCategory\n"

PAPALEXI_TARGETS = (
    "ATF2 BRD4 CAV1 CD86 CMTM6 CUL3 ETV7 IFNGR1 IFNGR2 IRF1 IRF7 JAK2 MARCH8 MYC NFKBIA PDCD1LG2 "
    "POU2F2 SMAD4 SPI1 STAT1 STAT2 STAT3 STAT5A TNFRSF14 UBE2L6"
).split()


# --------------------------------------------------------------------------------------------------
# Reference: GEARS's scoring (gears/utils.py::get_GO_edge_list) and top-k per target
# --------------------------------------------------------------------------------------------------


def gears_reference_edges(gene_terms, k, threshold):
    """Brute force with Python sets, as GEARS: score = len(a & b) / len(a | b), kept if > threshold;
    per target its k best other genes, ties by source symbol."""
    sets = {g: set(t) for g, t in gene_terms.items() if len(set(t))}
    rows = []
    for target in sorted(sets):
        cands = []
        for source in sets:
            if source == target:
                continue
            score = len(sets[source].intersection(sets[target])) / len(sets[source].union(sets[target]))
            if score > threshold:
                cands.append((-score, source))
        cands.sort()
        rows.extend((source, target, -neg) for neg, source in cands[:k])
    return pd.DataFrame(rows, columns=["source", "target", "importance"])


def assert_same_edges(got: pd.DataFrame, expected: pd.DataFrame):
    assert list(got.columns) == ["source", "target", "importance"]
    assert got["importance"].dtype == np.float64
    assert len(got) == len(expected)
    assert got["source"].tolist() == expected["source"].tolist()
    assert got["target"].tolist() == expected["target"].tolist()
    # bit-identical, not approximately equal
    assert got["importance"].to_numpy().tobytes() == expected["importance"].to_numpy(dtype=np.float64).tobytes()


# --------------------------------------------------------------------------------------------------
# gene_info
# --------------------------------------------------------------------------------------------------


def test_read_gene_info_fixture():
    info = read_gene_info(GENE_INFO)
    assert list(info.columns) == ["GeneID", "Symbol", "Synonyms"]
    assert info["GeneID"].dtype == np.int64
    assert info["GeneID"].tolist() == [1, 2, 3, 4]  # the mouse gene (10090) is dropped
    assert info["Symbol"].tolist() == ["GENEA", "GENEB", "GENEC", "GENED"]
    assert info["Synonyms"].tolist() == [["OLDA", "SHARED"], ["SHARED", "p53x"], [], ["GENEC", "OLDD"]]
    mouse = read_gene_info(GENE_INFO, taxid=10090)
    assert mouse["Symbol"].tolist() == ["Genea"]


@pytest.mark.parametrize(
    "text, field",
    [
        ("#tax_id\tGeneID\tLocusTag\tSynonyms\n9606\t1\t-\t-\n", "header"),
        ("#tax_id\tGeneID\tSymbol\tSynonyms\n9606\tone\tA1BG\t-\n", "GeneID"),
        ("#tax_id\tGeneID\tSymbol\tSynonyms\nhuman\t1\tA1BG\t-\n", "#tax_id"),
        ("#tax_id\tGeneID\tSymbol\tSynonyms\n10090\t1\tA1bg\t-\n", "#tax_id"),
        ("#tax_id\tGeneID\tSymbol\tSynonyms\n9606\t1\t\t-\n", "Symbol"),
    ],
)
def test_read_gene_info_malformed(tmp_path, text, field):
    path = tmp_path / "gene_info"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_gene_info(path)
    assert err.value.field == field
    assert err.value.source == str(path)


def test_read_gene_info_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_gene_info(tmp_path / "nope.gz")


# --------------------------------------------------------------------------------------------------
# gene2go / OBO through goatools (fixtures)
# --------------------------------------------------------------------------------------------------


def test_gene2go_defaults_keep_all_evidence_and_namespaces(capsys):
    got = read_gene2go_symbols(GENE2GO, GENE_INFO)
    # Hand-checked from tests/data/go/gene2go_tiny.gz: ND is kept (GEARS keeps every code), the NOT
    # line of GENEC is dropped, GeneID 99 is not in gene_info, the mouse line is another taxid.
    assert got == {
        "GENEA": frozenset({"GO:0005515", "GO:0006955"}),
        "GENEB": frozenset({"GO:0005575", "GO:9999001"}),
        "GENEC": frozenset({"GO:0000005"}),
    }
    assert list(got) == sorted(got)
    assert capsys.readouterr().out == ""  # goatools' progress prints are captured, not printed


def test_gene2go_plain_text_equals_gzipped(tmp_path):
    plain = tmp_path / "gene2go"
    with gzip.open(GENE2GO, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert read_gene2go_symbols(plain, GENE_INFO) == read_gene2go_symbols(GENE2GO, GENE_INFO)


def test_gene2go_with_obo_maps_alt_ids_and_drops_obsolete():
    got = read_gene2go_symbols(GENE2GO, GENE_INFO, OBO)
    assert got == {
        "GENEA": frozenset({"GO:0005515", "GO:0006955"}),
        "GENEB": frozenset({"GO:0005575", "GO:0006955"}),  # GO:9999001 is an alt_id of GO:0006955
    }  # GENEC's only live annotation was to the obsolete GO:0000005


@pytest.mark.parametrize("names", [["BP"], ["Process"], ["biological_process"], "bp"])
def test_gene2go_namespace_names(names):
    got = read_gene2go_symbols(GENE2GO, GENE_INFO, namespaces=names)
    assert got == {"GENEA": frozenset({"GO:0006955"}), "GENEB": frozenset({"GO:9999001"})}


def test_gene2go_two_namespaces():
    got = read_gene2go_symbols(GENE2GO, GENE_INFO, namespaces=["MF", "cellular_component"])
    assert got == {
        "GENEA": frozenset({"GO:0005515"}),
        "GENEB": frozenset({"GO:0005575"}),
        "GENEC": frozenset({"GO:0000005"}),
    }


def test_gene2go_evidence_codes_and_not_qualifier():
    assert read_gene2go_symbols(GENE2GO, GENE_INFO, evidence_codes=["IDA"]) == {"GENEB": frozenset({"GO:9999001"})}
    assert read_gene2go_symbols(GENE2GO, GENE_INFO, evidence_codes=["IDA"], keep_not=True) == {
        "GENEB": frozenset({"GO:9999001"}),
        "GENEC": frozenset({"GO:0005515"}),
    }
    with pytest.raises(InputError) as err:
        read_gene2go_symbols(GENE2GO, GENE_INFO, evidence_codes=["EXP"])
    assert err.value.field == "Evidence"


def test_gene2go_other_taxid():
    assert read_gene2go_symbols(GENE2GO, GENE_INFO, taxid=10090) == {"Genea": frozenset({"GO:0005515"})}


def test_gene2go_unknown_namespace():
    with pytest.raises(InputError) as err:
        read_gene2go_symbols(GENE2GO, GENE_INFO, namespaces=["XX"])
    assert err.value.source == "namespaces"


def _write_gene2go(tmp_path, body: str, header: str = HEADER, gz: bool = True):
    path = tmp_path / ("gene2go.gz" if gz else "gene2go")
    data = (header + body).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize(
    "header, body, field",
    [
        ("", "9606\t1\tGO:0005515\tIPI\t-\tprotein binding\t-\tFunction\n", "header"),
        ("#tax_id\tGeneID\tGO_ID\tEvidence\n", "9606\t1\tGO:0005515\tIPI\n", "header"),
        (HEADER, "9606\t1\tGO:0005515\tIPI\t-\tprotein binding\tFunction\n", "columns"),
        (HEADER, "9606\tA1BG\tGO:0005515\tIPI\t-\tprotein binding\t-\tFunction\n", "GeneID"),
        (HEADER, "9606\t1\tprotein binding\tIPI\t-\tGO:0005515\t-\tFunction\n", "GO_ID"),
        (HEADER, "9606\t1\tGO:0005515\tIPI\t-\tprotein binding\t-\tPathway\n", "Category"),
        (HEADER, "human\t1\tGO:0005515\tIPI\t-\tprotein binding\t-\tFunction\n", "#tax_id"),
        (HEADER, "10090\t11\tGO:0005515\tIPI\t-\tprotein binding\t-\tFunction\n", "#tax_id"),
        (HEADER, "", "#tax_id"),
    ],
)
def test_gene2go_malformed(tmp_path, header, body, field):
    path = _write_gene2go(tmp_path, body, header=header)
    with pytest.raises(InputError) as err:
        read_gene2go_symbols(path, GENE_INFO)
    assert err.value.field == field
    assert err.value.source == str(path)


def test_gene2go_empty_file(tmp_path):
    path = tmp_path / "gene2go"
    path.write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_gene2go_symbols(path, GENE_INFO)
    assert err.value.field == "header"


def test_go_dag_fixture():
    dag = read_go_dag(OBO)
    assert sorted({t.item_id for t in dag.values()}) == [
        "GO:0003674",
        "GO:0005515",
        "GO:0005575",
        "GO:0006955",
        "GO:0008150",
    ]
    assert dag["GO:9999001"].item_id == "GO:0006955"
    assert dag["GO:0006955"].namespace == "biological_process"
    assert {p.item_id for p in dag["GO:0005515"].parents} == {"GO:0003674"}


@pytest.mark.parametrize(
    "text, field",
    [
        ("#tax_id\tGeneID\tGO_ID\n9606\t1\tGO:0005515\n", "[Term]"),
        (
            "format-version: 1.2\n\n[Term]\nid: GO:0000001\nname: x\nnamespace: biological_process\n"
            "is_a: GO:0000002 ! undefined parent\n",
            "is_a",
        ),
        ("format-version: 1.2\n\n[Term]\nid: GO:0000001\nname: x\n", "namespace"),
        ("format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: x\nnamespace: biological_process\n", "id"),
    ],
)
def test_go_dag_malformed(tmp_path, text, field):
    path = tmp_path / "bad.obo"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_go_dag(path)
    assert err.value.field == field
    assert err.value.source == str(path)
    # the same error surfaces through read_gene2go_symbols
    with pytest.raises(InputError):
        read_gene2go_symbols(GENE2GO, GENE_INFO, path)


def test_go_dag_duplicate_id_is_input_error(tmp_path):
    path = tmp_path / "dup.obo"
    path.write_text("[Term]\nid: GO:0000001\nid: GO:0000002\nnamespace: biological_process\n")
    with pytest.raises(InputError) as err:
        read_go_dag(path)
    assert err.value.source == str(path)


def test_go_dag_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_go_dag(tmp_path / "go-basic.obo")


# --------------------------------------------------------------------------------------------------
# Symbol resolution (fixture)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_resolver():
    return SymbolResolver.from_gene_info(GENE_INFO)


def test_resolver_rules_on_fixture(tiny_resolver):
    r = tiny_resolver
    assert r.resolve("GENEA") == Resolution("GENEA", "GENEA", "official", "")
    alias = r.resolve("OLDA")
    assert (alias.symbol, alias.status, alias.ok) == ("GENEA", "alias", True)
    assert "OLDA" in alias.reason and "GENEA" in alias.reason
    # an official symbol wins over another gene's synonym (GENED lists GENEC as a synonym)
    assert r.resolve("GENEC") == Resolution("GENEC", "GENEC", "official", "")
    amb = r.resolve("SHARED")
    assert (amb.symbol, amb.status, amb.ok) == (None, "ambiguous", False)
    assert "GENEA" in amb.reason and "GENEB" in amb.reason
    assert r.resolve("NOTAGENE1").status == "unknown"
    assert r.resolve("NOTAGENE1").symbol is None


def test_resolver_case_insensitive_after_exact(tiny_resolver):
    r = tiny_resolver
    assert (r.resolve("genea").symbol, r.resolve("genea").status) == ("GENEA", "alias")
    assert (r.resolve("olda").symbol, r.resolve("olda").status) == ("GENEA", "alias")
    # exact synonym 'p53x' and its case variant both map to GENEB
    assert r.resolve("p53x").symbol == "GENEB"
    assert r.resolve("P53X").symbol == "GENEB"
    assert r.resolve("shared").status == "ambiguous"
    # the query is reported as given; surrounding whitespace is ignored for matching
    assert r.resolve(" GENEB ") == Resolution(" GENEB ", "GENEB", "official", "")


def test_resolver_universe():
    r = SymbolResolver(read_gene_info(GENE_INFO), universe=["GENEA", "GENEC"])
    missing = r.resolve("GENEB")
    assert (missing.symbol, missing.status) == (None, "not_in_graph")
    assert missing.reason == "GENEB has no GO annotation kept in the graph"
    assert r.resolve("OLDD").status == "not_in_graph"
    # alias of two genes, only one of which is in the universe: still never guessed
    amb = r.resolve("SHARED")
    assert amb.status == "ambiguous" and amb.symbol is None
    assert [x.status for x in r.resolve_many(["GENEA", "OLDA", "GENEB", "XYZ"])] == [
        "official",
        "alias",
        "not_in_graph",
        "unknown",
    ]


def test_resolver_rejects_non_strings(tiny_resolver):
    with pytest.raises(TypeError):
        tiny_resolver.resolve(None)


# --------------------------------------------------------------------------------------------------
# Jaccard top-k: hand-checked cases and properties
# --------------------------------------------------------------------------------------------------


def test_jaccard_four_genes_by_hand():
    terms = {"A": {"t1", "t2", "t3"}, "B": {"t1", "t2"}, "C": {"t3", "t4"}, "D": {"t5"}}
    # J(A,B) = 2/3, J(A,C) = 1/4, J(B,C) = 0, D shares nothing.
    edges = jaccard_topk_edges(terms, k=20, threshold=0.1)
    assert edges.to_dict("list") == {
        "source": ["B", "C", "A", "A"],
        "target": ["A", "A", "B", "C"],
        "importance": [2 / 3, 1 / 4, 2 / 3, 1 / 4],
    }
    top1 = jaccard_topk_edges(terms, k=1, threshold=0.1)
    assert list(zip(top1.source, top1.target)) == [("B", "A"), ("A", "B"), ("A", "C")]
    # a higher threshold drops J(A,C) = 0.25 and C becomes isolated
    strict = jaccard_topk_edges(terms, k=20, threshold=0.3)
    assert list(zip(strict.source, strict.target)) == [("B", "A"), ("A", "B")]
    assert Fraction(strict["importance"].iloc[0]) == Fraction(2 / 3)


def test_jaccard_ties_broken_by_source_symbol():
    # J = 1/3 for every pair; with k=1 each target takes the alphabetically first other gene.
    terms = {"C": ["t1", "t4"], "B": ["t1", "t3"], "A": ["t1", "t2"]}
    edges = jaccard_topk_edges(terms, k=1)
    assert list(zip(edges.source, edges.target)) == [("B", "A"), ("A", "B"), ("A", "C")]
    assert edges["importance"].tolist() == [1 / 3] * 3


def test_jaccard_threshold_is_strict():
    terms = {"A": ["t0"], "B": [f"t{i}" for i in range(10)]}  # J = 1/10 exactly
    assert jaccard_topk_edges(terms, threshold=0.1).empty
    assert len(jaccard_topk_edges(terms, threshold=0.09)) == 2


def test_jaccard_identical_sets_weight_one_and_no_self_edges():
    terms = {"A": ["x", "y"], "B": ["y", "x"], "C": ["x"]}
    edges = jaccard_topk_edges(terms)
    assert not (edges.source == edges.target).any()
    ab = edges[(edges.source == "B") & (edges.target == "A")]
    assert ab["importance"].tolist() == [1.0]


def test_jaccard_genes_restrict_universe_and_empty_inputs():
    terms = {"A": {"t1", "t2"}, "B": {"t1", "t2"}, "C": {"t1"}, "E": set()}
    sub = jaccard_topk_edges(terms, genes=["A", "C", "E", "ZZZ"])
    assert list(zip(sub.source, sub.target)) == [("C", "A"), ("A", "C")]
    assert sub["importance"].tolist() == [0.5, 0.5]
    empty = jaccard_topk_edges({})
    assert list(empty.columns) == ["source", "target", "importance"] and empty.empty
    assert empty["importance"].dtype == np.float64


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"threshold": 1.0}, {"threshold": -0.1}, {"chunk_size": 0}])
def test_jaccard_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        jaccard_topk_edges({"A": ["t"]}, **kwargs)


gene_terms_strategy = st.dictionaries(
    keys=st.sampled_from([f"G{i:02d}" for i in range(30)]),
    values=st.frozensets(st.integers(0, 12).map(lambda i: f"GO:{i:07d}"), max_size=8),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(gene_terms_strategy, st.integers(1, 6), st.sampled_from([0.0, 0.1, 0.25, 0.5]), st.integers(1, 9))
def test_jaccard_matches_brute_force(gene_terms, k, threshold, chunk_size):
    got = jaccard_topk_edges(gene_terms, k=k, threshold=threshold, chunk_size=chunk_size)
    assert_same_edges(got, gears_reference_edges(gene_terms, k, threshold))


def test_graph_stats_by_hand():
    edges = pd.DataFrame(
        {
            "source": ["B", "C", "A", "A"],
            "target": ["A", "A", "B", "C"],
            "importance": [2 / 3, 1 / 4, 2 / 3, 1 / 4],
        }
    )
    stats = graph_stats(edges, n_genes_input=4)
    assert stats["nodes"] == 3 and stats["edges"] == 4 and stats["isolated_genes_dropped"] == 1
    assert stats["in_degree"] == {"min": 1.0, "median": 1.0, "mean": 4 / 3, "max": 2.0}
    assert stats["out_degree"] == {"min": 1.0, "median": 1.0, "mean": 4 / 3, "max": 2.0}
    assert stats["importance"] == {"min": 0.25, "median": (0.25 + 2 / 3) / 2, "max": 2 / 3}
    empty = graph_stats(edges.iloc[:0], n_genes_input=5)
    assert empty["nodes"] == 0 and empty["isolated_genes_dropped"] == 5
    assert empty["importance"]["max"] is None
    with pytest.raises(ValueError):
        graph_stats(edges, n_genes_input=2)


# --------------------------------------------------------------------------------------------------
# Real data (../shared/data/go)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_go(shared_data):
    go_dir = shared_data / "go"
    return go_dir / "gene2go_human.gz", go_dir / "Homo_sapiens.gene_info.gz", go_dir / "go-basic.obo"


@pytest.fixture(scope="module")
def human_gene_terms(real_go):
    gene2go, gene_info, _ = real_go
    return read_gene2go_symbols(gene2go, gene_info)


@pytest.fixture(scope="module")
def real_resolver(real_go):
    return SymbolResolver.from_gene_info(real_go[1])


def test_real_gene2go_counts(human_gene_terms):
    # data README: 348,116 annotations of 20,728 human genes to 18,933 GO terms
    assert len(human_gene_terms) == 20728
    assert len(set().union(*human_gene_terms.values())) == 18933
    # MARCHF8 is annotated under its current symbol (gene_info) and e.g. STAT1 has many terms
    assert "MARCHF8" in human_gene_terms and "MARCH8" not in human_gene_terms
    assert len(human_gene_terms["STAT1"]) > 50


@pytest.mark.slow
def test_real_gene2go_with_obo_and_filters(real_go, human_gene_terms):
    gene2go, gene_info, obo = real_go
    # every annotated term is a live term of the same GO release (both from GO.db 3.16.0)
    assert read_gene2go_symbols(gene2go, gene_info, obo) == human_gene_terms
    bp = read_gene2go_symbols(gene2go, gene_info, namespaces=["BP"])
    dag = read_go_dag(obo)
    assert all(dag[t].namespace == "biological_process" for terms in bp.values() for t in terms)
    assert all(bp[g] <= human_gene_terms[g] for g in bp)


def test_real_resolver_papalexi_targets(real_resolver):
    got = {q: real_resolver.resolve(q) for q in PAPALEXI_TARGETS}
    assert all(r.status == "official" and r.symbol == q for q, r in got.items() if q != "MARCH8")
    march8 = got["MARCH8"]
    assert (march8.symbol, march8.status) == ("MARCHF8", "alias")
    assert "MARCH8" in march8.reason and "MARCHF8" in march8.reason


def test_real_resolver_aliases_and_ambiguity(real_go, real_resolver):
    assert (real_resolver.resolve("AARS").symbol, real_resolver.resolve("AARS").status) == ("AARS1", "alias")
    assert real_resolver.resolve("NOTAGENE1").status == "unknown"
    # QARS is listed as a synonym of both EPRS1 and QARS1 in gene_info: never guessed.
    info = read_gene_info(real_go[1])
    owners = sorted(info.loc[info["Synonyms"].map(lambda s: "QARS" in s), "Symbol"])
    assert owners == ["EPRS1", "QARS1"]
    qars = real_resolver.resolve("QARS")
    assert (qars.symbol, qars.status) == (None, "ambiguous")
    assert "EPRS1" in qars.reason and "QARS1" in qars.reason


def test_real_resolver_universe(real_go, human_gene_terms):
    resolver = SymbolResolver.from_gene_info(real_go[1], universe=human_gene_terms)
    assert resolver.resolve("MARCH8").symbol == "MARCHF8"
    # A2MP1 is a pseudogene in gene_info with no GO annotation
    assert "A2MP1" not in human_gene_terms
    assert resolver.resolve("A2MP1").status == "not_in_graph"


def test_real_subset_matches_gears_brute_force(human_gene_terms):
    """~300 real genes (GO neighbours of the Papalexi targets plus a seeded random draw): the sparse
    computation gives GEARS's edges edge for edge with bit-identical importances."""
    rng = np.random.default_rng(0)
    symbols = sorted(human_gene_terms)
    seeds = [g for g in PAPALEXI_TARGETS if g in human_gene_terms] + ["MARCHF8"]
    # genes sharing a rare-ish term with a target make dense neighbourhoods with real ties
    by_term = {}
    for g in symbols:
        for t in human_gene_terms[g]:
            by_term.setdefault(t, []).append(g)
    near = sorted({g for s in seeds for t in human_gene_terms[s] if len(by_term[t]) < 40 for g in by_term[t]})
    subset = set(seeds) | set(rng.choice(near, size=min(200, len(near)), replace=False))
    subset |= set(rng.choice(symbols, size=300 - len(subset), replace=False))
    sub_terms = {g: human_gene_terms[g] for g in subset}
    assert len(sub_terms) == 300
    for k in (20, 3):
        expected = gears_reference_edges(sub_terms, k, 0.1)
        got = jaccard_topk_edges(human_gene_terms, k=k, threshold=0.1, genes=subset, chunk_size=64)
        assert_same_edges(got, expected)
        assert_same_edges(jaccard_topk_edges(sub_terms, k=k), expected)
    # the subset exercises truncation at k=3 and ties at the cut
    full = gears_reference_edges(sub_terms, 10**6, 0.1)
    per_target = full.groupby("target")["importance"].apply(list)
    assert (per_target.map(len) > 3).sum() > 10
    assert sum(1 for w in per_target if len(w) > 3 and w[2] == w[3]) > 0


@pytest.fixture(scope="module")
def human_graph(human_gene_terms):
    return jaccard_topk_edges(human_gene_terms, k=20, threshold=0.1)


@pytest.mark.slow
def test_real_whole_human_graph(human_gene_terms, human_graph):
    edges = human_graph
    stats = graph_stats(edges, len(human_gene_terms))
    assert 20700 <= stats["nodes"] <= 20728
    assert stats["edges"] == len(edges)
    assert edges.groupby("target").size().max() <= 20
    assert stats["in_degree"]["max"] == 20
    assert ((edges["importance"] > 0.1) & (edges["importance"] <= 1.0)).all()
    assert not (edges["source"] == edges["target"]).any()
    assert "MARCHF8" in set(edges["target"])
    assert not edges.duplicated(["source", "target"]).any()
    # sorted by target, importance descending, source
    resorted = edges.sort_values(["target", "importance", "source"], ascending=[True, False, True])
    assert resorted.index.equals(edges.index)
    # genes left out have no partner above the threshold at all (checked with Python sets)
    nodes = set(edges["source"]) | set(edges["target"])
    isolated = sorted(set(human_gene_terms) - nodes)
    assert len(isolated) == stats["isolated_genes_dropped"]
    for gene in isolated:
        mine = human_gene_terms[gene]
        assert all(len(mine & other) / len(mine | other) <= 0.1 for g, other in human_gene_terms.items() if g != gene)


@pytest.mark.slow
def test_real_whole_graph_targets_match_brute_force(human_gene_terms, human_graph):
    """Sampled targets of the whole human graph against GEARS's scoring over all 20,728 genes."""
    rng = np.random.default_rng(1)
    targets = sorted(set(rng.choice(sorted(human_gene_terms), size=15, replace=False)) | {"MARCHF8", "STAT1"})
    items = list(human_gene_terms.items())
    for target in targets:
        mine = human_gene_terms[target]
        cands = sorted((-(len(mine & other) / len(mine | other)), g) for g, other in items if g != target)
        expected = [(g, -neg) for neg, g in itertools.takewhile(lambda c: -c[0] > 0.1, cands)][:20]
        got = human_graph[human_graph["target"] == target]
        assert list(zip(got["source"], got["importance"])) == expected


def test_bit_flipped_gzip_is_reported_as_corrupt_gzip(tmp_path):
    import gzip

    from perturb_select.knowledge.symbols import read_gene_info

    header = "#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\n"
    rows = "".join(f"9606\t{i}\tGENE{i}\t-\tALIAS{i}|OLD{i}\t-\n" for i in range(1, 4000))
    good = tmp_path / "gene_info.gz"
    good.write_bytes(gzip.compress((header + rows).encode()))
    assert len(read_gene_info(good)) == 3999
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2] ^= 0x10  # one bit inside the deflate stream
    bad = tmp_path / "flipped.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="flipped.gz.*corrupt gzip"):
        read_gene_info(bad)


def test_gzip_scratch_stays_in_the_given_folder(tmp_path):
    import gzip

    from perturb_select.knowledge.annotations import _plain_copy

    src = tmp_path / "go-basic.obo.gz"
    src.write_bytes(gzip.compress(b"format-version: 1.2\n"))
    scratch = tmp_path / "job"
    with _plain_copy(src, scratch) as plain:
        assert plain.parent.parent == scratch and plain.read_bytes() == b"format-version: 1.2\n"
    assert list(scratch.iterdir()) == []  # removed when done


def test_unicode_look_alikes_are_not_folded_onto_real_genes(tiny_resolver, shared_data):
    """Issue 27.3: casefold maps the Kelvin sign (U+212A) to k and the long s (U+017F) to s, so "NF\\u212aBIA"
    and "\\u017fTAT1" resolved to NFKBIA and STAT1 as aliases. Only an exact match takes a non-ASCII label."""
    human = SymbolResolver.from_gene_info(shared_data / "go" / "Homo_sapiens.gene_info.gz")
    assert human.resolve("nfkbia").symbol == "NFKBIA"  # ASCII case variants still resolve
    for label in ("NF\u212aBIA", "\u017fTAT1", "\u017ftat1"):
        resolution = human.resolve(label)
        assert (resolution.symbol, resolution.status) == (None, "unknown"), label
        assert "non-ASCII" in resolution.reason
    assert tiny_resolver.resolve("\u017fhared").status == "unknown"  # not 'ambiguous' through 'shared'
