"""perturb_select.data: raw screen -> GEARS layout, DE genes, candidates / dropped."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import SHARED_DATA as DATA  # noqa: E402  (../shared/data beside the repository)
from perturb_select.io import InputError
from perturb_select.knowledge.symbols import Resolution
from perturb_select.screens.layout import CANDIDATE_COLUMNS, DROPPED_COLUMNS
from perturb_select.screens.layout import write_screen_outputs as write_outputs
from perturb_select.screens.raw import preprocess_screen, read_screen

SCREEN = DATA / "perturbseq" / "papalexi2021_thp1.h5ad"
GO_DIR = DATA / "go"

CELL_TYPE = "T"
GRAPH = {"AAA", "BBB", "CCC", "DDD"}
GENES = [f"g{i}" for i in range(12)]


class FakeResolver:
    """Official symbols are themselves; OLDC, ALTC are aliases of CCC; AMB is ambiguous; rest unknown."""

    def __init__(self, graph=GRAPH):
        self.graph = set(graph)

    def resolve(self, symbol):
        if symbol in ("OLDC", "ALTC"):
            return Resolution(symbol, "CCC", "alias", f"{symbol} is a previous symbol of CCC")
        if symbol == "AMB":
            return Resolution(symbol, None, "ambiguous", "AMB is a synonym of 2 genes")
        if symbol in {"AAA", "BBB", "CCC", "DDD", "EEE"}:
            if symbol not in self.graph:
                return Resolution(symbol, symbol, "not_in_graph", f"{symbol} has no GO annotation")
            return Resolution(symbol, symbol, "official")
        return Resolution(symbol, None, "unknown", f"{symbol} is not in gene_info")


def make_screen(groups=(("AAA", 30), ("BBB", 30), ("OLDC", 12), ("non-targeting", 40)), seed=7):
    """Integer Poisson counts, 12 genes; AAA raises g3 ~12x; g11 is zero in control, AAA and BBB,
    g10 is zero in OLDC (but expressed in control). Cells are interleaved, not grouped."""
    rng = np.random.default_rng(seed)
    labels, rows = [], []
    for label, n in groups:
        lam = np.full(len(GENES), 6.0)
        if label == "AAA":
            lam[3] = 80.0
        if label in ("non-targeting", "BBB", "AAA"):
            lam[11] = 0.0
        if label == "OLDC":
            lam[10] = 0.0
        rows.append(rng.poisson(lam, size=(n, len(GENES))))
        labels += [label] * n
    counts = np.vstack(rows).astype(np.float32)
    order = rng.permutation(len(labels))
    obs = pd.DataFrame(
        {"perturbation": pd.Categorical(np.array(labels)[order])},
        index=[f"cell{i}" for i in range(len(labels))],
    )
    return ad.AnnData(X=sp.csr_matrix(counts[order]), obs=obs, var=pd.DataFrame(index=GENES))


def run(adata, **kw):
    kw.setdefault("graph_genes", GRAPH)
    kw.setdefault("resolver", FakeResolver())
    kw.setdefault("cell_type", CELL_TYPE)
    kw.setdefault("source", "screen.h5ad")
    return preprocess_screen(adata, **kw)


@pytest.fixture(scope="module")
def screen():
    return run(make_screen())


# -------------------------------------------------------------------------------------- layout


def test_conditions_and_obs_columns(screen):
    raw = make_screen()
    a = screen.adata
    assert a.n_obs == raw.n_obs == 112 and list(a.obs_names) == list(raw.obs_names)
    expected = raw.obs["perturbation"].map(
        {"AAA": "AAA+ctrl", "BBB": "BBB+ctrl", "OLDC": "CCC+ctrl", "non-targeting": "ctrl"}
    )
    assert list(a.obs["condition"].astype(str)) == list(expected.astype(str))
    assert isinstance(a.obs["condition"].dtype, pd.CategoricalDtype)
    assert isinstance(a.obs["cell_type"].dtype, pd.CategoricalDtype)
    assert set(a.obs["cell_type"]) == {CELL_TYPE}
    assert list(a.obs["perturbation"].astype(str)) == list(raw.obs["perturbation"].astype(str))
    # get_DE_genes: one '+'-part -> dose '1', control 1; two parts ('X+ctrl') -> '1+1', 0.
    names = dict(zip(a.obs["condition"].astype(str), a.obs["condition_name"].astype(str)))
    assert names == {
        "ctrl": "T_ctrl_1",
        "AAA+ctrl": "T_AAA+ctrl_1+1",
        "BBB+ctrl": "T_BBB+ctrl_1+1",
        "CCC+ctrl": "T_CCC+ctrl_1+1",
    }
    is_ctrl = (a.obs["condition"] == "ctrl").to_numpy()
    assert (a.obs["control"].to_numpy() == is_ctrl.astype(int)).all()
    assert set(a.obs["dose_val"][is_ctrl]) == {"1"} and set(a.obs["dose_val"][~is_ctrl]) == {"1+1"}
    assert list(a.var_names) == GENES and list(a.var["gene_name"]) == GENES


def test_normalisation_is_log1p_of_counts_per_10k(screen):
    raw = make_screen().X.toarray().astype(np.float64)
    X = screen.adata.X
    assert sp.isspmatrix_csr(X) or isinstance(X, sp.csr_array)
    assert X.dtype == np.float32
    dense = X.toarray().astype(np.float64)
    np.testing.assert_allclose(np.expm1(dense).sum(axis=1), 1e4, rtol=1e-5)
    expected = np.log1p(raw / raw.sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_allclose(dense, expected, rtol=1e-5, atol=1e-6)


def test_candidates_and_dropped_tables(screen):
    c = screen.candidates
    assert list(c.columns) == list(CANDIDATE_COLUMNS)
    assert c.to_dict("records") == [
        dict(gene="AAA", perturbation="AAA", condition="AAA+ctrl", n_cells=30, resolution="official"),
        dict(gene="BBB", perturbation="BBB", condition="BBB+ctrl", n_cells=30, resolution="official"),
        dict(gene="CCC", perturbation="OLDC", condition="CCC+ctrl", n_cells=12, resolution="alias"),
    ]
    assert list(screen.dropped.columns) == list(DROPPED_COLUMNS) and len(screen.dropped) == 0


# ------------------------------------------------------------------------------------------ DE


def test_planted_effect_ranks_first(screen):
    ranked = screen.adata.uns["rank_genes_groups_cov_all"]
    assert set(ranked) == {"T_AAA+ctrl_1+1", "T_BBB+ctrl_1+1", "T_CCC+ctrl_1+1"}  # no control entry
    assert ranked["T_AAA+ctrl_1+1"][0] == "g3"
    for genes in ranked.values():
        assert sorted(genes) == sorted(GENES)  # every measured gene, ranked
    assert screen.adata.uns["top_non_dropout_de_20"]["T_AAA+ctrl_1+1"][0] == "g3"
    # g3 is not among the top genes of the conditions without an effect on it.
    assert ranked["T_BBB+ctrl_1+1"][0] != "g3"


def test_dropout_and_non_zero_sets_hand_checked(screen):
    uns = screen.adata.uns
    g10, g11 = GENES.index("g10"), GENES.index("g11")
    # g11: zero in BBB and in control -> a true zero: not non-zero, but non-dropout.
    assert g11 not in uns["non_zeros_gene_idx"]["T_BBB+ctrl_1+1"]
    assert g11 in uns["non_dropout_gene_idx"]["T_BBB+ctrl_1+1"]
    # g10: zero in CCC (OLDC) but expressed in control -> a dropout.
    assert g10 not in uns["non_zeros_gene_idx"]["T_CCC+ctrl_1+1"]
    assert g10 not in uns["non_dropout_gene_idx"]["T_CCC+ctrl_1+1"]
    assert "g10" not in uns["top_non_dropout_de_20"]["T_CCC+ctrl_1+1"]
    # AAA expresses everything but g11 (zero in control too).
    assert list(uns["non_zeros_gene_idx"]["T_AAA+ctrl_1+1"]) == [i for i in range(12) if i != g11]
    assert list(uns["non_dropout_gene_idx"]["T_AAA+ctrl_1+1"]) == list(range(12))
    for key in ("non_zeros_gene_idx", "non_dropout_gene_idx"):
        for idx in uns[key].values():
            assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    for key in ("top_non_dropout_de_20", "top_non_zero_de_20"):
        for name, top in uns[key].items():
            ranked = uns["rank_genes_groups_cov_all"][name]
            # the top list is the ranking restricted to the allowed genes, in rank order
            allowed = uns["non_dropout_gene_idx" if "dropout" in key else "non_zeros_gene_idx"][name]
            assert list(top) == [g for g in ranked if GENES.index(g) in set(allowed)][:20]


def _gears_reference(processed: ad.AnnData) -> ad.AnnData:
    """GEARS's own DE computation on the same normalised matrix (gears/data_utils.py)."""
    data_utils = pytest.importorskip("gears.data_utils")
    ref = ad.AnnData(
        X=processed.X.copy(),
        obs=processed.obs[["condition", "cell_type"]].copy(),
        var=processed.var[["gene_name"]].copy(),
    )
    with warnings.catch_warnings():  # GEARS writes into a view; scanpy fragments a DataFrame
        warnings.simplefilter("ignore")
        ref = data_utils.get_DE_genes(ref, skip_calc_de=False)
        return data_utils.get_dropout_non_zero_genes(ref)


def _assert_same_as_gears(processed: ad.AnnData, ref: ad.AnnData) -> None:
    for col in ("condition_name", "dose_val"):
        assert list(processed.obs[col].astype(str)) == list(ref.obs[col].astype(str)), col
    assert list(processed.obs["control"].astype(int)) == list(ref.obs["control"].astype(int))
    ours, theirs = processed.uns, ref.uns
    assert ours["rank_genes_groups_cov_all"] == theirs["rank_genes_groups_cov_all"]
    for key in ("top_non_dropout_de_20", "top_non_zero_de_20", "non_zeros_gene_idx", "non_dropout_gene_idx"):
        assert set(ours[key]) == set(theirs[key]), key
        for name in theirs[key]:
            assert np.array_equal(ours[key][name], theirs[key][name]), (key, name)
            assert np.asarray(ours[key][name]).dtype.kind == np.asarray(theirs[key][name]).dtype.kind


@pytest.mark.gears  # importing gears (torch, torch-geometric) takes ~15-20 s the first time
def test_de_equals_gears_own_functions(screen):
    _assert_same_as_gears(screen.adata, _gears_reference(screen.adata))


# ------------------------------------------------------------------------------------ cap, seed


def test_cap_is_seeded_and_bounded():
    raw = make_screen()
    a = run(raw, max_cells_per_condition=10, seed=3).adata
    b = run(raw, max_cells_per_condition=10, seed=3).adata
    c = run(raw, max_cells_per_condition=10, seed=4).adata
    assert list(a.obs_names) == list(b.obs_names)
    assert np.array_equal(a.X.toarray(), b.X.toarray())
    assert a.uns["rank_genes_groups_cov_all"] == b.uns["rank_genes_groups_cov_all"]
    assert set(a.obs_names) != set(c.obs_names)
    assert a.obs["condition"].value_counts().to_dict() == {
        "ctrl": 10,
        "AAA+ctrl": 10,
        "BBB+ctrl": 10,
        "CCC+ctrl": 10,
    }
    # cells are a subset of the input, kept in input order
    pos = raw.obs_names.get_indexer(a.obs_names)
    assert (pos >= 0).all() and np.all(np.diff(pos) > 0)


def test_cap_depends_on_data_not_cell_order():
    raw = make_screen()
    shuffled = raw[np.random.default_rng(0).permutation(raw.n_obs)].copy()
    a = run(raw, max_cells_per_condition=8, seed=11)
    b = run(shuffled, max_cells_per_condition=8, seed=11)
    assert set(a.adata.obs_names) == set(b.adata.obs_names)
    assert a.candidates.equals(b.candidates)


def test_cap_larger_than_conditions_keeps_every_cell_and_counts_after_cap():
    raw = make_screen()
    s = run(raw, max_cells_per_condition=20, seed=0)
    assert s.adata.n_obs == 20 + 20 + 12 + 20
    assert dict(zip(s.candidates["gene"], s.candidates["n_cells"])) == {"AAA": 20, "BBB": 20, "CCC": 12}
    assert run(raw, max_cells_per_condition=1000).adata.n_obs == raw.n_obs


# ----------------------------------------------------------------------------- drops and errors


def test_target_not_in_graph_unknown_ambiguous_are_dropped_with_reasons():
    raw = make_screen(
        groups=(("AAA", 20), ("EEE", 5), ("ZZZ", 4), ("AMB", 3), ("non-targeting", 20)),
    )
    s = run(raw)
    assert list(s.candidates["gene"]) == ["AAA"]
    d = s.dropped.set_index("perturbation")
    assert list(d.index) == ["AMB", "EEE", "ZZZ"]  # sorted
    assert d.loc["EEE", "status"] == "not_in_graph" and "GO annotation" in d.loc["EEE", "reason"]
    assert d.loc["ZZZ", "status"] == "unknown" and d.loc["ZZZ", "n_cells"] == 4
    assert d.loc["AMB", "status"] == "ambiguous"
    assert set(s.adata.obs["condition"]) == {"ctrl", "AAA+ctrl"}
    assert s.adata.n_obs == 40


def test_resolved_symbol_outside_graph_genes_is_dropped():
    # The resolver says official, but the symbol is not among graph_genes.
    s = run(make_screen(), graph_genes={"AAA", "CCC"})
    d = s.dropped.set_index("perturbation")
    assert d.loc["BBB", "status"] == "not_in_graph"
    assert list(s.candidates["gene"]) == ["AAA", "CCC"]


def test_too_few_cells_and_duplicate_symbols():
    groups = (("AAA", 20), ("CCC", 6), ("OLDC", 9), ("ALTC", 7), ("BBB", 3), ("non-targeting", 20))
    s = run(make_screen(groups=groups), min_cells_per_condition=5)
    d = s.dropped.set_index("perturbation")
    # BBB: 3 < 5. ALTC, CCC and OLDC all resolve to CCC: the official label wins although ALTC
    # sorts first; the aliases are dropped as duplicates.
    assert list(d.index) == ["ALTC", "BBB", "OLDC"]
    assert d.loc["BBB", "status"] == "too_few_cells" and d.loc["BBB", "n_cells"] == 3
    for alias in ("ALTC", "OLDC"):
        assert d.loc[alias, "status"] == "duplicate" and "'CCC'" in d.loc[alias, "reason"]
    row = s.candidates.set_index("gene").loc["CCC"]
    assert row["perturbation"] == "CCC" and row["resolution"] == "official" and row["n_cells"] == 6
    assert set(s.adata.obs["perturbation"].astype(str)) == {"AAA", "CCC", "non-targeting"}


def test_duplicate_aliases_keep_the_first_label():
    groups = (("AAA", 10), ("OLDC", 9), ("ALTC", 7), ("non-targeting", 10))
    s = run(make_screen(groups=groups))
    assert s.candidates.set_index("gene").loc["CCC", "perturbation"] == "ALTC"
    assert s.dropped[["perturbation", "status"]].values.tolist() == [["OLDC", "duplicate"]]


def test_single_cell_target_is_dropped_not_a_scanpy_crash():
    s = run(make_screen(groups=(("AAA", 20), ("BBB", 1), ("non-targeting", 20))))
    assert s.dropped["perturbation"].tolist() == ["BBB"] and s.dropped["status"].tolist() == ["too_few_cells"]


def test_zero_count_cells_are_removed():
    raw = make_screen()
    X = raw.X.toarray()
    X[0] = 0
    raw.X = sp.csr_matrix(X)
    s = run(raw)
    assert raw.obs_names[0] not in s.adata.obs_names and s.adata.n_obs == raw.n_obs - 1
    assert s.adata.uns["perturb_select"]["n_cells_zero_counts"] == 1
    np.testing.assert_allclose(np.expm1(s.adata.X.toarray().astype(float)).sum(1), 1e4, rtol=1e-5)


def test_highly_variable_genes_subset():
    s = run(make_screen(), n_top_genes=5)
    assert s.adata.n_vars == 5 and set(s.adata.var_names) <= set(GENES)
    assert "g3" in set(s.adata.var_names)  # the planted effect makes g3 the most variable gene
    for genes in s.adata.uns["rank_genes_groups_cov_all"].values():
        assert sorted(genes) == sorted(s.adata.var_names)


def _expect_error_and_no_files(tmp_path, adata, field, fragment, **kw):
    with pytest.raises(InputError) as err:
        write_outputs(run(adata, **kw), tmp_path / "p.h5ad", tmp_path / "c.tsv", tmp_path / "d.tsv")
    assert err.value.source == "screen.h5ad" and err.value.field == field
    assert "screen.h5ad" in str(err.value) and fragment in str(err.value)
    assert list(tmp_path.iterdir()) == []
    return err.value


def test_missing_perturbation_column(tmp_path):
    _expect_error_and_no_files(tmp_path, make_screen(), "guide", "obs column missing", perturbation_key="guide")


def test_no_control_cells(tmp_path):
    _expect_error_and_no_files(
        tmp_path, make_screen(), "perturbation", "no control cells labelled 'NT'", control_label="NT"
    )


def test_control_label_that_is_a_gene_symbol_is_an_error(tmp_path):
    # AAA is a perturbation target of the screen: using it as control would train on knockouts as controls
    e = _expect_error_and_no_files(
        tmp_path, make_screen(), "control_label", "official symbol of a gene of the graph", control_label="AAA"
    )
    assert "'AAA'" in str(e)


def test_no_candidate_left(tmp_path):
    raw = make_screen(groups=(("ZZZ", 10), ("EEE", 10), ("non-targeting", 10)))
    e = _expect_error_and_no_files(tmp_path, raw, "perturbation", "no perturbation left")
    assert "not_in_graph: 1" in str(e) and "unknown: 1" in str(e)


@pytest.mark.parametrize(
    "transform, fragment",
    [(lambda x: np.log1p(x), "non-integer"), (lambda x: x - 1.0, "negative"), (lambda x: x * np.nan, "NaN")],
)
def test_x_must_be_raw_counts(tmp_path, transform, fragment):
    raw = make_screen()
    raw.X = transform(raw.X.toarray())
    _expect_error_and_no_files(tmp_path, raw, "X", fragment)


def test_bad_parameters(tmp_path):
    _expect_error_and_no_files(tmp_path, make_screen(), "max_cells_per_condition", ">= 2", max_cells_per_condition=1)
    _expect_error_and_no_files(tmp_path, make_screen(), "cell_type", "non-empty", cell_type="")


def test_input_is_not_modified():
    raw = make_screen()
    before = raw.X.toarray().copy(), list(raw.obs.columns)
    run(raw, max_cells_per_condition=10)
    assert np.array_equal(raw.X.toarray(), before[0]) and list(raw.obs.columns) == before[1]


# ------------------------------------------------------------------------------------------- I/O


def test_write_outputs_round_trip(tmp_path, screen):
    paths = tmp_path / "out" / "perturb_processed.h5ad", tmp_path / "out" / "c.tsv", tmp_path / "out" / "d.tsv"
    write_outputs(screen, *paths)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.tsv", "d.tsv", "perturb_processed.h5ad"]
    back = ad.read_h5ad(paths[0])
    assert back.X.dtype == np.float32 and sp.issparse(back.X) and back.X.format == "csr"
    assert np.array_equal(back.X.toarray(), screen.adata.X.toarray())
    assert list(back.obs["condition"]) == list(screen.adata.obs["condition"])
    for key in (
        "rank_genes_groups_cov_all",
        "top_non_dropout_de_20",
        "top_non_zero_de_20",
        "non_zeros_gene_idx",
        "non_dropout_gene_idx",
    ):
        assert set(back.uns[key]) == set(screen.adata.uns[key])
        for name, value in screen.adata.uns[key].items():
            assert list(back.uns[key][name]) == list(value), (key, name)
    cand = pd.read_csv(paths[1], sep="\t")
    assert cand.equals(screen.candidates)
    assert list(pd.read_csv(paths[2], sep="\t").columns) == list(DROPPED_COLUMNS)


def test_read_screen_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_screen(tmp_path / "absent.h5ad")
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5\n")
    with pytest.raises(InputError, match="not a readable h5ad"):
        read_screen(bad)
    good = tmp_path / "good.h5ad"
    make_screen().write_h5ad(good)
    with pytest.raises(InputError) as err:
        read_screen(good, perturbation_key="guide")
    assert err.value.field == "guide" and str(good) in str(err.value)
    assert read_screen(good).n_obs == 112


# ------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def papalexi():
    if not SCREEN.exists() or not (GO_DIR / "gene2go_human.gz").exists():
        pytest.skip(f"real data not found under {DATA}")
    from perturb_select.knowledge.annotations import read_gene2go_symbols
    from perturb_select.knowledge.symbols import SymbolResolver

    # genes with at least one GO annotation: the nodes GEARS's GO graph can have
    gene_info = GO_DIR / "Homo_sapiens.gene_info.gz"
    graph_genes = set(read_gene2go_symbols(GO_DIR / "gene2go_human.gz", gene_info))
    resolver = SymbolResolver.from_gene_info(gene_info, universe=graph_genes)
    raw = read_screen(SCREEN)
    return raw, graph_genes, resolver


@pytest.mark.slow  # ~45 s on 2 cores: reading gene2go (~12 s) and GEARS's own per-condition DE loop
def test_papalexi_capped(papalexi):
    raw, graph_genes, resolver = papalexi
    s = preprocess_screen(
        raw,
        graph_genes=graph_genes,
        resolver=resolver,
        cell_type="THP-1",
        max_cells_per_condition=100,
        seed=0,
        source=str(SCREEN),
    )
    a = s.adata
    targets = sorted(set(raw.obs["perturbation"].astype(str)) - {"non-targeting"})
    assert len(targets) == 25
    assert len(s.candidates) == 25 and len(s.dropped) == 0
    row = s.candidates.set_index("gene").loc["MARCHF8"]
    assert row["perturbation"] == "MARCH8" and row["resolution"] == "alias" and row["condition"] == "MARCHF8+ctrl"
    others = s.candidates[s.candidates["gene"] != "MARCHF8"]
    assert (others["resolution"] == "official").all() and (others["gene"] == others["perturbation"]).all()
    assert "MARCHF8+ctrl" in set(a.obs["condition"]) and "MARCH8+ctrl" not in set(a.obs["condition"])
    # cap: SPI1 has 48 cells, every other condition (control included) has more than 100
    counts = a.obs["condition"].value_counts()
    assert counts["SPI1+ctrl"] == 48 and counts["ctrl"] == 100
    assert (counts.drop("SPI1+ctrl") == 100).all() and a.n_obs == 25 * 100 + 48
    assert sp.issparse(a.X) and a.X.format == "csr" and a.X.dtype == np.float32
    np.testing.assert_allclose(np.expm1(a.X.toarray().astype(np.float64)).sum(1), 1e4, rtol=1e-4)
    for key in (
        "rank_genes_groups_cov_all",
        "top_non_dropout_de_20",
        "top_non_zero_de_20",
        "non_zeros_gene_idx",
        "non_dropout_gene_idx",
    ):
        assert len(a.uns[key]) == 25
    assert all(len(v) == 20 for v in a.uns["top_non_dropout_de_20"].values())
    # GEARS's PertData keeps a condition only if all its genes are in its (GO) gene list.
    for cond in a.obs["condition"].unique():
        assert all(g == "ctrl" or g in graph_genes for g in cond.split("+"))
    # and GEARS's own DE code gives the same dictionaries on the same matrix
    _assert_same_as_gears(a, _gears_reference(a))


@pytest.mark.slow  # shares the ~15 s fixture with test_papalexi_capped
def test_papalexi_uncapped_keeps_every_cell(papalexi):
    raw, graph_genes, resolver = papalexi
    s = preprocess_screen(raw, graph_genes=graph_genes, resolver=resolver, cell_type="THP-1", source=str(SCREEN))
    assert s.adata.n_obs == raw.n_obs == 20729 and s.adata.n_vars == 299
    expected = raw.obs["perturbation"].astype(str).value_counts()
    n = dict(zip(s.candidates["perturbation"], s.candidates["n_cells"]))
    assert n == {k: v for k, v in expected.items() if k != "non-targeting"}
    assert n["SPI1"] == 48 and n["IFNGR1"] == 1341
    assert (s.adata.obs["condition"] == "ctrl").sum() == 2386
    assert len(s.adata.uns["rank_genes_groups_cov_all"]) == 25
    # Biology as an independent check of the DE ranking: a knocked-out gene that is also measured
    # is its own condition's most differentially expressed gene (IFNGR2 less strongly).
    ranked = s.adata.uns["rank_genes_groups_cov_all"]
    for gene in ("CMTM6", "JAK2", "NFKBIA", "STAT1", "STAT2", "STAT3", "TNFRSF14", "UBE2L6"):
        assert ranked[f"THP-1_{gene}+ctrl_1+1"][0] == gene
    assert "IFNGR2" in ranked["THP-1_IFNGR2+ctrl_1+1"][:20]
    assert "IFNGR2" in s.adata.uns["top_non_dropout_de_20"]["THP-1_IFNGR2+ctrl_1+1"]


# Issue 27.4: bad screens.


def test_a_cell_type_with_a_slash_is_refused(tmp_path):
    # '/' in a condition name splits its h5ad uns key: the written file would lose every DE entry
    _expect_error_and_no_files(tmp_path, make_screen(), "cell_type", "must not contain '/'", cell_type="K562/CRISPRi")


def test_float16_counts_are_read(screen):
    raw = make_screen()
    raw.X = raw.X.toarray().astype(np.float16)  # exact for these counts
    half = run(raw)
    np.testing.assert_array_equal(half.adata.X.toarray(), screen.adata.X.toarray())


def test_identical_cells_are_refused_not_ranked_on_undefined_scores(tmp_path):
    raw = make_screen()
    raw.X = sp.csr_matrix(np.full(raw.shape, 3.0, dtype=np.float32))
    _expect_error_and_no_files(tmp_path, raw, "X", "same normalised expression")
