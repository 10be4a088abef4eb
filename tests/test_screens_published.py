"""GEARS-layout datasets (format: gears): safe archive extraction, validation, candidates, the stage.

The GEARS-layout file is the Papalexi screen processed by the raw path (``preprocess_dataset``), which
writes GEARS's layout; reading it back as ``format: gears`` must give the same candidates and arrays.
"""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA, dataset_block
from perturb_select.io import InputError
from perturb_select.knowledge.fetch import extract_member
from perturb_select.knowledge.symbols import SymbolResolver
from perturb_select.screens.arrays import ScreenArrays
from perturb_select.screens.layout import condition_gene, condition_genes, condition_of
from perturb_select.screens.published import prepare_gears_screen, read_gears_dataset, validate_gears_adata
from perturb_select.stages.data import fetch_dataset, preprocess_dataset

GO = SHARED_DATA / "go"
PAPALEXI = SHARED_DATA / "perturbseq" / "papalexi2021_thp1.h5ad"
RAW_DATASET = {
    "perturbation_key": "perturbation",
    "control_label": "non-targeting",
    "cell_type": "THP-1",
    "max_cells_per_condition": 40,
    "min_cells_per_condition": 20,
    "seed": 0,
}


# --------------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            bundle.addfile(info)
    return path


def test_condition_genes_forms():
    assert condition_genes("ctrl") == ()
    assert condition_genes("CD86+ctrl") == ("CD86",) == condition_genes("ctrl+CD86")
    assert condition_genes("CBL+CNN1") == ("CBL", "CNN1")
    # spaces around a part are what user-made files carry (GEARS issue 71), never part of a symbol
    assert (
        condition_genes("IRF7+ctrl ") == ("IRF7",) == condition_genes(" ctrl + IRF7") and condition_genes("ctrl ") == ()
    )
    for bad in ("CD86", "CD86_ctrl", "A+B+C", "+ctrl", "ctrl+ctrl", "A+", " +ctrl", "", " "):
        assert condition_genes(bad) is None, bad


def test_condition_gene_is_the_inverse_of_condition_of():
    assert condition_gene(condition_of("CD86")) == "CD86" == condition_gene("ctrl+CD86") == condition_gene("CD86+ctrl ")
    for bad in ("ctrl", "CBL+CNN1", "CD86", "A+B+C", ""):
        with pytest.raises(ValueError, match="not the condition of a single perturbation"):
            condition_gene(bad)


def test_extract_member_from_zip_and_tar(tmp_path):
    payload = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 10
    members = {"adamson/perturb_processed.h5ad": payload, "adamson/go.csv": b"x", "adamson/": b""}
    zipped = _zip(tmp_path / "adamson.zip", {k: v for k, v in members.items() if not k.endswith("/")})
    assert extract_member(zipped, tmp_path / "a.h5ad").read_bytes() == payload
    tarred = _tar(tmp_path / "adamson.tar.gz", {k: v for k, v in members.items() if not k.endswith("/")})
    assert extract_member(tarred, tmp_path / "b.h5ad", "adamson/perturb_processed.h5ad").read_bytes() == payload
    # an h5ad file is copied as it is
    (tmp_path / "plain.h5ad").write_bytes(payload)
    assert extract_member(tmp_path / "plain.h5ad", tmp_path / "c.h5ad").read_bytes() == payload


@pytest.mark.parametrize(
    "make, field, message",
    [
        (
            lambda p: _tar(p / "x.tar.gz", {"../evil.h5ad": b"x", "d/perturb_processed.h5ad": b"y"}),
            "../evil.h5ad",
            "outside the target folder",
        ),
        (
            lambda p: _zip(p / "x.zip", {"/etc/perturb_processed.h5ad": b"y"}),
            "/etc/perturb_processed.h5ad",
            "outside the target folder",
        ),
        (
            lambda p: _tar(p / "x.tar.gz", {"d/a.txt": b"x"}, links={"d/perturb_processed.h5ad": "/etc/passwd"}),
            "d/perturb_processed.h5ad",
            "a link or device",
        ),
        (lambda p: _zip(p / "x.zip", {"d/other.h5ad": b"y"}), "member", "no perturb_processed.h5ad in the archive"),
        (
            lambda p: _zip(p / "x.zip", {"a/perturb_processed.h5ad": b"y", "b/perturb_processed.h5ad": b"z"}),
            "member",
            "matches several files",
        ),
        (lambda p: (p / "x.bin").write_bytes(b"not an archive") and p / "x.bin", None, "neither a zip nor a tar"),
    ],
)
def test_unsafe_or_unusable_archives_are_refused_without_output(tmp_path, make, field, message):
    archive = make(tmp_path)
    out = tmp_path / "out" / "screen.h5ad"
    with pytest.raises(InputError, match=message) as err:
        extract_member(archive, out)
    assert err.value.field == field and err.value.source == str(archive)
    assert not out.exists() and not (out.parent.exists() and list(out.parent.iterdir()))
    assert not (tmp_path / "evil.h5ad").exists()


def test_fetch_stage_extracts_the_member_and_checks_the_archive_checksum(tmp_path):
    import hashlib

    payload = b"\x89HDF\r\n\x1a\n" + b"data"
    (tmp_path / "mirror").mkdir()
    archive = _zip(tmp_path / "mirror" / "adamson.zip", {"adamson/perturb_processed.h5ad": payload})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "resources" / "adamson.h5ad"
    fetch_dataset(
        str(out),
        dataset_block(
            "adamson",
            {
                "format": "gears",
                "url": "https://dataverse.harvard.edu/api/access/datafile/6154417",
                "mirror": str(tmp_path / "mirror"),
                "mirror_name": "adamson.zip",
                "sha256": digest,
            },
        ),
    )
    assert out.read_bytes() == payload
    assert sorted(p.name for p in out.parent.iterdir()) == ["adamson.h5ad"]  # no archive or scratch left
    with pytest.raises(InputError, match="sha256"):
        fetch_dataset(
            str(tmp_path / "resources" / "b.h5ad"),
            dataset_block(
                "b",
                {
                    "format": "gears",
                    "url": "https://example.org/x.zip",
                    "mirror": str(tmp_path / "mirror"),
                    "mirror_name": "adamson.zip",
                    "sha256": "0" * 64,
                },
            ),
        )
    assert sorted(p.name for p in out.parent.iterdir()) == ["adamson.h5ad"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: _zip(p / "adamson.zip", {"adamson/other.h5ad": b"y"}), "no perturb_processed.h5ad in the archive"),
        (lambda p: _tar(p / "adamson.zip", {"../evil.h5ad": b"x"}), "outside the target folder"),
        (lambda p: (p / "adamson.zip").write_bytes(b"not an archive"), "neither a zip nor a tar"),
    ],
)
def test_archive_errors_name_the_mirror_file_not_a_scratch_copy(tmp_path, make, message):
    (tmp_path / "mirror").mkdir()
    make(tmp_path / "mirror")
    out = tmp_path / "resources" / "adamson.h5ad"
    with pytest.raises(InputError, match=message) as err:
        fetch_dataset(
            str(out),
            dataset_block(
                "adamson",
                {
                    "format": "gears",
                    "url": "https://dataverse.harvard.edu/api/access/datafile/6154417",
                    "mirror": str(tmp_path / "mirror"),
                    "mirror_name": "adamson.zip",
                },
            ),
        )
    assert err.value.source == str(tmp_path / "mirror" / "adamson.zip") and str(out) in str(err.value)
    assert ".fetch-" not in str(err.value)
    assert not out.parent.exists() or not list(out.parent.iterdir())  # nothing left behind


# --------------------------------------------------------------------------------------------------
# The Papalexi screen in GEARS's layout
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def processed(tmp_path_factory, human_graph):
    """(GEARS-layout h5ad, graph npz, raw-path outputs folder): the Papalexi screen processed once."""
    if not PAPALEXI.exists():
        pytest.skip(f"{PAPALEXI} not found")
    folder = tmp_path_factory.mktemp("papalexi")
    edges = folder / "graph.npz"
    human_graph.save_npz(edges)
    preprocess_dataset(
        str(PAPALEXI),
        str(edges),
        str(GO / "Homo_sapiens.gene_info.gz"),
        adata_out=str(folder / "raw.h5ad"),
        arrays_out=str(folder / "raw_screen.npz"),
        candidates_out=str(folder / "raw_candidates.tsv"),
        dropped_out=str(folder / "raw_dropped.tsv"),
        dataset=dataset_block("papalexi", RAW_DATASET),
        taxid=9606,
    )
    return folder / "raw.h5ad", edges, folder


@pytest.fixture(scope="module")
def resolver(human_graph):
    return SymbolResolver.from_gene_info(GO / "Homo_sapiens.gene_info.gz", universe=human_graph.genes)


@pytest.mark.slow
def test_gears_layout_file_gives_the_raw_paths_candidates_and_arrays(processed, tmp_path):
    h5ad, edges, folder = processed
    archive = _zip(tmp_path / "papalexi_gears.zip", {"papalexi/perturb_processed.h5ad": h5ad.read_bytes()})
    screen = extract_member(archive, tmp_path / "screen.h5ad")
    out = tmp_path / "gears"
    preprocess_dataset(
        str(screen),
        str(edges),
        str(GO / "Homo_sapiens.gene_info.gz"),
        adata_out=str(out / "p.h5ad"),
        arrays_out=str(out / "screen.npz"),
        candidates_out=str(out / "candidates.tsv"),
        dropped_out=str(out / "dropped.tsv"),
        dataset=dataset_block("papalexi", {"format": "gears"}),
        taxid=9606,
    )
    raw = pd.read_csv(folder / "raw_candidates.tsv", sep="\t")
    got = pd.read_csv(out / "candidates.tsv", sep="\t")
    assert len(got) == 25
    # the raw path's labels are the screen's (MARCH8); here they are the file's conditions (MARCHF8)
    pd.testing.assert_frame_equal(got[["gene", "condition", "n_cells"]], raw[["gene", "condition", "n_cells"]])
    assert (got["resolution"] == "official").all()
    assert len(pd.read_csv(out / "dropped.tsv", sep="\t")) == 0
    a, b = ScreenArrays.load(folder / "raw_screen.npz"), ScreenArrays.load(out / "screen.npz")
    for name in ("genes", "conditions", "cell_condition", "de_idx", "de_idx_non_dropout", "nz_offsets", "nz_indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.X != b.X).nnz == 0


def _variant(h5ad: Path, tmp_path: Path, change) -> Path:
    adata = ad.read_h5ad(h5ad)
    change(adata)
    path = tmp_path / "variant.h5ad"
    adata.write_h5ad(path)
    return path


def _rename(adata, old: str, new: str) -> None:
    old_name = adata.obs.loc[adata.obs["condition"] == old, "condition_name"].iat[0]
    new_name = old_name.replace(old, new)
    adata.obs["condition"] = adata.obs["condition"].astype(str).replace({old: new})
    adata.obs["condition_name"] = adata.obs["condition_name"].astype(str).replace({old_name: new_name})
    for key in (
        "rank_genes_groups_cov_all",
        "top_non_dropout_de_20",
        "top_non_zero_de_20",
        "non_zeros_gene_idx",
        "non_dropout_gene_idx",
    ):
        adata.uns[key] = {new_name if k == old_name else k: v for k, v in adata.uns[key].items()}


@pytest.mark.slow
def test_outdated_symbols_renamed_and_doubles_and_unknown_genes_dropped(processed, resolver, human_graph, tmp_path):
    h5ad, _, _ = processed

    def change(adata):
        _rename(adata, "MARCHF8+ctrl", "MARCH8+ctrl")  # the screen's outdated symbol
        _rename(adata, "CD86+ctrl", "CD86+IRF7")  # a double perturbation
        _rename(adata, "IRF7+ctrl", "ctrl+NOTAGENE1")  # an unknown gene, written ctrl+GENE

    adata = read_gears_dataset(_variant(h5ad, tmp_path, change))
    result = prepare_gears_screen(adata, graph_genes=set(human_graph.genes), resolver=resolver, source="variant")
    cands = result.candidates.set_index("gene")
    assert len(cands) == 23 and "CD86" not in cands.index and "IRF7" not in cands.index
    assert tuple(cands.loc["MARCHF8", ["perturbation", "condition", "resolution"]]) == (
        "MARCH8",
        "MARCHF8+ctrl",
        "alias",
    )
    dropped = result.dropped.set_index("perturbation")
    assert dropped.loc["CD86+IRF7", "status"] == "combination"
    assert dropped.loc["ctrl+NOTAGENE1", "status"] == "unknown"
    out = result.adata
    assert set(out.obs["condition"]) == set(cands["condition"]) | {"ctrl"}
    name = out.obs.loc[out.obs["condition"] == "MARCHF8+ctrl", "condition_name"].iat[0]
    assert name == "THP-1_MARCHF8+ctrl_1+1" and name in out.uns["top_non_dropout_de_20"]
    assert not [k for k in out.uns["rank_genes_groups_cov_all"] if "MARCH8" in k]
    ScreenArrays.from_anndata(out)  # the arrays the trainer reads build from it


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda a: a.uns.pop("top_non_dropout_de_20"), "uns['top_non_dropout_de_20']", "missing: DE genes"),
        (
            lambda a: a.uns["non_zeros_gene_idx"].pop(sorted(a.uns["non_zeros_gene_idx"])[0]),
            "uns['non_zeros_gene_idx']",
            "no entry for 1 conditions",
        ),
        (lambda a: _rename(a, "CD86+ctrl", "CD86_ctrl"), "obs['condition']", "neither ctrl, GENE\\+ctrl nor A\\+B"),
        (lambda a: _rename(a, "CD86+ctrl", "CD86+IRF7+ctrl"), "obs['condition']", "\\['CD86\\+IRF7\\+ctrl'\\]"),
        (
            lambda a: setattr(a, "X", np.where(np.arange(a.n_vars) == 3, np.nan, a.X.toarray())),
            "X",
            "values are NaN or infinite",
        ),
        (lambda a: a.var.drop(columns="gene_name", inplace=True), "var['gene_name']", "column missing"),
        (lambda a: a.obs.drop(columns="cell_type", inplace=True), "obs['cell_type']", "column missing"),
    ],
)
def test_malformed_gears_files_fail_the_stage_with_the_field_and_no_output(processed, tmp_path, change, field, message):
    h5ad, edges, _ = processed
    variant = _variant(h5ad, tmp_path, change)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message) as err:
        preprocess_dataset(
            str(variant),
            str(edges),
            str(GO / "Homo_sapiens.gene_info.gz"),
            adata_out=str(out / "p.h5ad"),
            arrays_out=str(out / "screen.npz"),
            candidates_out=str(out / "candidates.tsv"),
            dropped_out=str(out / "dropped.tsv"),
            dataset=dataset_block("variant", {"format": "gears"}),
            taxid=9606,
        )
    assert err.value.field == field and err.value.source == str(variant)
    assert not out.exists() or not list(out.iterdir())


def test_validate_accepts_dense_finite_x_and_makes_it_sparse():
    import scipy.sparse as sp

    obs = pd.DataFrame(
        {"condition": ["ctrl", "A+ctrl"], "condition_name": ["T_ctrl_1", "T_A+ctrl_1+1"], "cell_type": ["T", "T"]},
        index=["c1", "c2"],
    )
    var = pd.DataFrame({"gene_name": ["g1", "g2"]}, index=["ENSG1", "ENSG2"])
    adata = ad.AnnData(X=np.array([[0.0, 1.0], [2.0, 0.0]], dtype=np.float32), obs=obs, var=var)
    adata.uns = {key: {"T_A+ctrl_1+1": ["ENSG1"]} for key in ("rank_genes_groups_cov_all", "top_non_dropout_de_20")}
    adata.uns["non_zeros_gene_idx"] = {"T_A+ctrl_1+1": np.array([0])}  # gene indices, as GEARS writes them
    validate_gears_adata(adata, "tiny")
    assert sp.issparse(adata.X)
    adata.X = -adata.X
    with pytest.raises(InputError, match="negative values"):
        validate_gears_adata(adata, "tiny")


def _flip_zip_flag(path: Path, bit: int) -> Path:
    """Set a general-purpose flag bit in every local and central header of a zip (bit 0: encrypted)."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + offset] |= bit
            start += 4
    path.write_bytes(bytes(data))
    return path


def _corrupt_zip_data(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    at = data.find(b"PAYLOAD")
    data[at] ^= 0xFF  # stored, not compressed: the CRC no longer matches
    path.write_bytes(bytes(data))
    return path


def _stored_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as bundle:
        bundle.writestr("d/perturb_processed.h5ad", b"PAYLOAD" * 100)
    return path


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _twice_in_zip(path: Path) -> Path:
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("d/perturb_processed.h5ad", b"first")
        bundle.writestr("d/perturb_processed.h5ad", b"second")
    return path


def _twice_in_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for data in (b"first", b"second"):
            info = tarfile.TarInfo("d/perturb_processed.h5ad")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "make, field, message",
    [
        # an exact member listed twice once took the last copy silently
        (lambda p: _twice_in_zip(p / "x.zip"), "member", "is in the archive 2 times: refusing to guess"),
        (lambda p: _twice_in_tar(p / "x.tar.gz"), "member", "is in the archive 2 times: refusing to guess"),
        # these were tracebacks
        (
            lambda p: _flip_zip_flag(_stored_zip(p / "x.zip"), 1),
            "d/perturb_processed.h5ad",
            "cannot be read from the zip",
        ),
        (lambda p: _corrupt_zip_data(_stored_zip(p / "x.zip")), "d/perturb_processed.h5ad", "Bad CRC-32"),
        (
            lambda p: _truncated(_tar(p / "x.tar.gz", {"d/perturb_processed.h5ad": bytes(range(256)) * 4000})),
            None,
            "the tar archive cannot be read",
        ),
    ],
)
def test_ambiguous_or_damaged_archives_are_one_clear_error(tmp_path, make, field, message):
    archive = make(tmp_path)
    out = tmp_path / "out" / "screen.h5ad"
    for member in ("d/perturb_processed.h5ad", "perturb_processed.h5ad"):  # exact path, and by file name
        with pytest.raises(InputError, match=message) as err:
            extract_member(archive, out, member)
        assert err.value.source == str(archive)
        if field != "member":
            assert err.value.field in (field, "d/perturb_processed.h5ad")
        assert not out.exists() and not (out.parent.exists() and list(out.parent.iterdir()))


# --------------------------------------------------------------------------------------------------
# The published layout, written by cell-gears's own functions
# --------------------------------------------------------------------------------------------------

PUBLISHED_CELL_TYPE = "K562(?)"  # Adamson's dummy label: characters that break regular expressions


def _gears_processed(raw: ad.AnnData, conditions: np.ndarray, gene_names: list[str]) -> ad.AnnData:
    """Cells of ``raw`` in the layout of GEARS's Dataverse files, made as ``PertData.new_data_process``
    makes them: Ensembl-style ``var_names`` with symbols in ``var['gene_name']``, a dummy cell type, and
    ``gears.data_utils.get_DE_genes`` + ``get_dropout_non_zero_genes`` (DE lists of var ids keyed by
    ``condition_name``)."""
    from gears.data_utils import get_DE_genes, get_dropout_non_zero_genes

    obs = pd.DataFrame({"condition": conditions, "cell_type": PUBLISHED_CELL_TYPE}, index=raw.obs_names.copy())
    var = pd.DataFrame({"gene_name": gene_names}, index=[f"ENSG{i:011d}" for i in range(raw.n_vars)])
    adata = ad.AnnData(X=raw.X.copy(), obs=obs, var=var)
    with warnings.catch_warnings():  # scanpy's, on cell-gears's AnnData views and per-group frame inserts
        warnings.simplefilter("ignore")
        adata = get_DE_genes(adata, skip_calc_de=False)
        return get_dropout_non_zero_genes(adata)


@pytest.fixture(scope="module")
def published(processed, tmp_path_factory):
    """(published-style file, its clean twin): the Papalexi cells written by cell-gears as the published
    files are, with what they hold (two spellings of one gene, an old symbol, a trailing space, a repeated
    gene_name, perturbed genes that are not measured), and the same cells with none of it."""
    h5ad, _, _ = processed
    raw = ad.read_h5ad(h5ad)
    folder = tmp_path_factory.mktemp("published")
    clean = raw.obs["condition"].astype(str).to_numpy().astype(object)
    names = raw.var_names.astype(str).tolist()
    _gears_processed(raw, clean, names).write_h5ad(folder / "clean.h5ad")
    odd = clean.copy()
    cd86 = np.flatnonzero(odd == "CD86+ctrl")
    odd[cd86[::2]] = "ctrl+CD86"  # Norman: X+ctrl and ctrl+X, one perturbation (GEARS issue 6)
    odd[odd == "MARCHF8+ctrl"] = "MARCH8+ctrl"  # an outdated symbol (Norman's RHOXF2BB, KIAA1804)
    odd[odd == "IRF7+ctrl"] = "IRF7+ctrl "  # a trailing space (GEARS issue 71)
    odd[odd == "SPI1+ctrl"] = "SPI1+NOTAGENE1"  # a double perturbation
    repeated = names.copy()
    repeated[1] = repeated[0]  # Replogle K562: a repeated gene_name (GEARS issue 68)
    _gears_processed(raw, odd, repeated).write_h5ad(folder / "published.h5ad")
    return folder / "published.h5ad", folder / "clean.h5ad"


def _preprocess_gears(screen: Path, edges: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, ScreenArrays]:
    preprocess_dataset(
        str(screen),
        str(edges),
        str(GO / "Homo_sapiens.gene_info.gz"),
        adata_out=str(out / "p.h5ad"),
        arrays_out=str(out / "screen.npz"),
        candidates_out=str(out / "candidates.tsv"),
        dropped_out=str(out / "dropped.tsv"),
        dataset=dataset_block("published", {"format": "gears"}),
        taxid=9606,
    )
    return (
        pd.read_csv(out / "candidates.tsv", sep="\t"),
        pd.read_csv(out / "dropped.tsv", sep="\t"),
        ScreenArrays.load(out / "screen.npz"),
    )


@pytest.mark.slow
def test_published_layout_reads_as_its_clean_twin(processed, published, tmp_path):
    _, edges, _ = processed
    odd_file, clean_file = published
    odd = ad.read_h5ad(odd_file)
    assert {"ctrl+CD86", "CD86+ctrl", "IRF7+ctrl "} <= set(odd.obs["condition"])
    assert "K562(?)_IRF7+ctrl _1+1" in odd.uns["top_non_dropout_de_20"]  # as GEARS keys it
    assert str(odd.uns["rank_genes_groups_cov_all"]["K562(?)_ATF2+ctrl_1+1"][0]).startswith("ENSG")
    assert not odd.var["gene_name"].is_unique and "ATF2" not in set(odd.var["gene_name"])  # ATF2 is not measured

    cands, dropped, arrays = _preprocess_gears(odd_file, edges, tmp_path / "odd")
    clean_cands, clean_dropped, clean_arrays = _preprocess_gears(clean_file, edges, tmp_path / "clean")
    # one candidate per gene; CD86's two spellings pooled (40 cells), IRF7 without its space, MARCH8 renamed
    assert len(clean_cands) == 25 and len(clean_dropped) == 0
    assert len(cands) == 24 and "SPI1" not in set(cands["gene"]) and "ATF2" in set(cands["gene"])
    by_gene = cands.set_index("gene")
    assert tuple(by_gene.loc["CD86", ["perturbation", "condition", "n_cells"]]) == ("CD86", "CD86+ctrl", 40)
    assert tuple(by_gene.loc["IRF7", ["perturbation", "condition", "n_cells"]]) == ("IRF7", "IRF7+ctrl", 40)
    assert tuple(by_gene.loc["MARCHF8", ["perturbation", "condition", "resolution"]]) == (
        "MARCH8",
        "MARCHF8+ctrl",
        "alias",
    )
    assert dropped.to_dict("records") == [
        {
            "perturbation": "SPI1+NOTAGENE1",
            "n_cells": 40,
            "status": "combination",
            "reason": "double perturbation: the experiment picks single-gene perturbations",
        }
    ]
    # every array equals the clean twin's but SPI1's: the pooled CD86 DE genes are GEARS's on the pooled cells,
    # the others the file's, mapped through the var index (Ensembl-style ids, not the repeated gene_name)
    assert arrays.genes.tolist() == clean_arrays.genes.tolist() == [f"ENSG{i:011d}" for i in range(299)]
    keep = clean_arrays.conditions != "SPI1+ctrl"
    assert arrays.conditions.tolist() == clean_arrays.conditions[keep].tolist()
    np.testing.assert_array_equal(arrays.de_idx, clean_arrays.de_idx[keep])
    np.testing.assert_array_equal(arrays.de_idx_non_dropout, clean_arrays.de_idx_non_dropout[keep])
    for condition in arrays.conditions.tolist():
        np.testing.assert_array_equal(arrays.nonzero_genes(condition), clean_arrays.nonzero_genes(condition))
        np.testing.assert_array_equal(arrays.mean_expression(condition), clean_arrays.mean_expression(condition))
    out = ad.read_h5ad(tmp_path / "odd" / "p.h5ad")
    names = dict(zip(out.obs["condition"].astype(str), out.obs["condition_name"].astype(str)))
    assert names["IRF7+ctrl"] == "K562(?)_IRF7+ctrl_1+1" and names["ctrl"] == "K562(?)_ctrl_1"
    assert names["CD86+ctrl"] == "K562(?)_CD86+ctrl_1+1" and names["MARCHF8+ctrl"] == "K562(?)_MARCHF8+ctrl_1+1"
    for key in (
        "rank_genes_groups_cov_all",
        "top_non_dropout_de_20",
        "top_non_zero_de_20",
        "non_zeros_gene_idx",
        "non_dropout_gene_idx",
    ):
        assert sorted(out.uns[key]) == sorted(n for c, n in names.items() if c != "ctrl"), key
    assert out.var["gene_name"].tolist() == odd.var["gene_name"].tolist()  # kept as the file has it


# Issue 27.4: what GEARS keys by condition, checked once (screens.layout.check_condition_keys) for the
# published reader and for the arrays every format is trained from.


def _tiny_gears(names=("T_A+ctrl_1+1", "T_B+ctrl_1+1")):
    obs = pd.DataFrame(
        {"condition": ["ctrl", "A+ctrl", "B+ctrl"], "condition_name": ["T_ctrl_1", *names], "cell_type": ["T"] * 3},
        index=["c1", "c2", "c3"],
    )
    var = pd.DataFrame({"gene_name": ["g1", "g2", "g3"]}, index=["ENSG1", "ENSG2", "ENSG3"])
    adata = ad.AnnData(
        X=np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [1.0, 1.0, 0.0]], dtype=np.float32), obs=obs, var=var
    )
    adata.uns = {
        "rank_genes_groups_cov_all": {n: ["ENSG1", "ENSG2", "ENSG3"] for n in set(names)},
        "top_non_dropout_de_20": {n: ["ENSG1"] for n in set(names)},
        "top_non_zero_de_20": {n: ["ENSG1"] for n in set(names)},
        "non_zeros_gene_idx": {n: np.array([0, 2]) for n in set(names)},
        "non_dropout_gene_idx": {n: np.array([0, 2]) for n in set(names)},
    }
    return adata


def _shared_name(a):
    a.obs["condition_name"] = ["T_ctrl_1", "T_A+ctrl_1+1", "T_A+ctrl_1+1"]


def _slashed_name(a):
    a.obs["condition_name"] = ["T_ctrl_1", "T/x_A+ctrl_1+1", "T_B+ctrl_1+1"]


def _set(key, name, value):
    def change(a):
        a.uns[key][name] = value

    return change


@pytest.mark.parametrize(
    "change, field, message",
    [
        (_shared_name, "obs['condition_name']", "condition_names have several conditions"),
        (_slashed_name, "obs['condition_name']", "contain '/'"),
        (_set("non_zeros_gene_idx", "T_A+ctrl_1+1", np.array([-1, 2])), "uns['non_zeros_gene_idx']", "in \\[0, 3\\)"),
        (_set("non_zeros_gene_idx", "T_A+ctrl_1+1", np.array([0, 3])), "uns['non_zeros_gene_idx']", "got \\[3\\]"),
        (_set("non_dropout_gene_idx", "T_A+ctrl_1+1", np.array([0.5])), "uns['non_dropout_gene_idx']", "integers"),
        (
            _set("rank_genes_groups_cov_all", "T_B+ctrl_1+1", []),
            "uns['rank_genes_groups_cov_all']",
            "empty DE gene list",
        ),
        (
            lambda a: a.uns["top_non_zero_de_20"].pop("T_B+ctrl_1+1"),
            "uns['top_non_zero_de_20']",
            "no entry for 1 conditions",
        ),
    ],
)
def test_condition_keyed_entries_are_checked_for_every_reader(change, field, message):
    adata = _tiny_gears()
    validate_gears_adata(adata.copy(), "tiny.h5ad")  # the clean twin passes
    ScreenArrays.from_anndata(adata, source="tiny.h5ad")
    change(adata)
    for check in (
        lambda: validate_gears_adata(adata.copy(), "tiny.h5ad"),
        lambda: ScreenArrays.from_anndata(adata, source="tiny.h5ad"),
    ):
        with pytest.raises(InputError, match=message) as err:
            check()
        assert err.value.source == "tiny.h5ad" and err.value.field == field
