"""GO annotations: the OBO ontology and NCBI gene2go read with goatools, and GEARS's gene2go pickle.

* :func:`read_go_dag` parses ``go-basic.obo`` (goatools ``GODag``);
* :func:`read_gene2go_symbols` reads NCBI ``gene2go`` with goatools and keys the GO-term sets by the
  official symbols of NCBI ``gene_info`` (:func:`perturb_select.knowledge.symbols.read_gene_info`);
* :func:`write_gears_gene2go` / :func:`read_gears_gene2go`: GEARS's ``gene2go_all.pkl`` (what cell-gears's
  ``PertData`` reads instead of downloading it), byte-identical on every run.
"""

from __future__ import annotations

import contextlib
import gzip
import io as io_module
import logging
import os
import pickle
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from ..config import HUMAN_TAXID
from ..io import CHUNK_BYTES, InputError, atomic_open, gzip_intact, is_gzip, open_text
from .symbols import read_gene_info

logger = logging.getLogger("perturb_select")


GENE2GO_HEADER = ("#tax_id", "GeneID", "GO_ID", "Evidence", "Qualifier", "GO_term", "PubMed", "Category")
_GENE2GO_CATEGORIES = {"Process": "BP", "Function": "MF", "Component": "CC"}
_NAMESPACE_ALIASES = {
    "bp": "BP",
    "process": "BP",
    "biological_process": "BP",
    "mf": "MF",
    "function": "MF",
    "molecular_function": "MF",
    "cc": "CC",
    "component": "CC",
    "cellular_component": "CC",
}
_OBO_NAMESPACES = {"biological_process", "molecular_function", "cellular_component"}


def _normalise_namespaces(namespaces: Iterable[str] | None) -> set[str] | None:
    if namespaces is None:
        return None
    if isinstance(namespaces, str):
        namespaces = [namespaces]
    out = set()
    for name in namespaces:
        key = str(name).strip().lower()
        if key not in _NAMESPACE_ALIASES:
            raise InputError(
                "namespaces",
                None,
                f"unknown GO namespace {name!r}; use BP, MF, CC "
                "(or Process/Function/Component, biological_process/...)",
            )
        out.add(_NAMESPACE_ALIASES[key])
    if not out:
        raise InputError("namespaces", None, "empty list of GO namespaces")
    return out


def _validated_gene2go_copy(path: Path, taxid: int, target: Path) -> int:
    """Check a gene2go file line by line and write its ``taxid`` lines, uncompressed, to ``target``.

    goatools' reader (``goatools/anno/init/reader_genetogo.py::InitAssc``) opens the file with
    ``open`` (no gzip) and answers any malformed line with ``sys.exit(1)``, so the checks that name
    the field happen here. Returns the number of annotation lines of ``taxid``.
    """
    prefix = f"{taxid}\t"
    n_kept = 0
    with open_text(path) as handle, open(target, "w", encoding="utf-8") as out:
        try:
            header = handle.readline()
            if not header:
                raise InputError(path, "header", "empty file")
            found = tuple(header.rstrip("\r\n").split("\t"))
            if found != GENE2GO_HEADER:
                raise InputError(
                    path,
                    "header",
                    f"expected the NCBI gene2go header {'|'.join(GENE2GO_HEADER)!r}, found {header.rstrip()[:200]!r}",
                )
            out.write("\t".join(GENE2GO_HEADER) + "\n")
            for lnum, line in enumerate(handle, 2):
                line = line.rstrip("\r\n")
                if not line or line.startswith("#"):
                    continue
                if not line.startswith(prefix):
                    tax = line[: line.find("\t")] if "\t" in line else line
                    if not tax.isdigit():
                        raise InputError(path, "#tax_id", f"non-numeric tax_id {tax[:50]!r} on line {lnum}")
                    continue
                vals = line.split("\t")
                if len(vals) != len(GENE2GO_HEADER):
                    raise InputError(
                        path,
                        "columns",
                        f"line {lnum} has {len(vals)} tab-separated fields, expected {len(GENE2GO_HEADER)}",
                    )
                if not vals[1].isdigit():
                    raise InputError(path, "GeneID", f"non-numeric GeneID {vals[1][:50]!r} on line {lnum}")
                if not vals[2].startswith("GO:"):
                    raise InputError(path, "GO_ID", f"not a GO identifier: {vals[2][:50]!r} on line {lnum}")
                if vals[7] not in _GENE2GO_CATEGORIES:
                    raise InputError(
                        path,
                        "Category",
                        f"unknown category {vals[7][:50]!r} on line {lnum}; expected Process, Function or Component",
                    )
                out.write(line + "\n")
                n_kept += 1
        except (InputError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            # A bit flip inside a gzip stream can decompress to garbage lines before the CRC check fails:
            # name the real cause.
            if is_gzip(Path(path)) and not gzip_intact(Path(path)):
                raise InputError(path, None, f"corrupt gzip file ({type(exc).__name__}: {exc})") from exc
            if isinstance(exc, InputError):
                raise
            raise InputError(path, None, f"unreadable gene2go file: {exc}") from exc
    return n_kept


@contextlib.contextmanager
def _plain_copy(path: Path, scratch_dir: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield ``path`` itself, or an uncompressed temporary copy (in ``scratch_dir``) when it is gzipped."""
    if not is_gzip(path):
        yield path
        return
    with _scratch(scratch_dir) as tmpdir:
        plain = Path(tmpdir) / path.name.removesuffix(".gz")
        try:
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(path, None, f"corrupt gzip file: {exc}") from exc
        yield plain


def _scratch(scratch_dir: str | os.PathLike | None):
    """A temporary directory inside ``scratch_dir`` (created if missing), else in the system temp folder.

    Pipeline jobs pass their own output folder, so a killed job leaves its scratch (e.g. the 23 MB
    uncompressed gene2go) where the next run of the job finds and replaces it, not in /tmp.
    """
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".perturb_select_scratch_", dir=scratch_dir)


def read_go_dag(obo_path: str | os.PathLike, scratch_dir: str | os.PathLike | None = None):
    """Parse a GO OBO file with goatools.

    Parameters
    ----------
    obo_path : path-like
        ``go-basic.obo`` (plain or gzipped).

    Returns
    -------
    goatools.obo_parser.GODag
        Non-obsolete terms keyed by GO ID; alternative ids (``alt_id``) map to their primary term
        (``goatools/obo_parser.py::GODag``).

    Raises
    ------
    InputError
        Missing file; no ``[Term]`` stanza (not an OBO file, field ``'[Term]'``); a term without a
        ``GO:`` id (``'id'``) or a GO namespace (``'namespace'``); an ``is_a`` parent that is not
        a term (``'is_a'``); anything else goatools cannot parse.
    """
    from goatools.obo_parser import GODag

    path = Path(obo_path)
    if not path.is_file():
        raise InputError(path, None, "file not found")
    sink = io_module.StringIO()
    with _plain_copy(path, scratch_dir) as plain:
        try:
            with contextlib.redirect_stdout(sink):
                dag = GODag(str(plain), optional_attrs=None, load_obsolete=False, prt=None)
        except KeyError as exc:
            raise InputError(path, "is_a", f"parent term {exc.args[0]!r} is not defined in the file") from exc
        except (AssertionError, ValueError, UnicodeDecodeError, OSError) as exc:
            raise InputError(path, None, f"goatools cannot parse the OBO file: {exc!r}") from exc
    if not dag:
        raise InputError(path, "[Term]", "no [Term] stanza found: not an OBO file (or only obsolete terms)")
    for go_id, term in dag.items():
        if not go_id.startswith("GO:"):
            raise InputError(path, "id", f"term id {go_id!r} is not a GO identifier")
        if term.namespace not in _OBO_NAMESPACES:
            raise InputError(
                path,
                "namespace",
                f"{go_id} has namespace {term.namespace!r}, expected one of {sorted(_OBO_NAMESPACES)}",
            )
    return dag


def read_gene2go_symbols(
    gene2go_path: str | os.PathLike,
    gene_info_path: str | os.PathLike,
    obo_path: str | os.PathLike | None = None,
    *,
    taxid: int = HUMAN_TAXID,
    evidence_codes: Iterable[str] | None = None,
    namespaces: Iterable[str] | None = None,
    keep_not: bool = False,
    scratch_dir: str | os.PathLike | None = None,
) -> dict[str, frozenset[str]]:
    """GO terms of every gene of a species, keyed by official gene symbol.

    The annotations are read with goatools' NCBI reader
    (``goatools.anno.genetogo_reader.Gene2GoReader``); it only reads plain text, so a gzipped file
    is checked and uncompressed into a temporary file first (only the lines of ``taxid``).
    GeneIDs become symbols through ``gene_info`` (:func:`read_gene_info`); GeneIDs missing from it
    are dropped, and the (rare) GeneIDs sharing one symbol have their terms merged.

    GEARS's ``gene2go_all.pkl`` (read by ``gears/utils.py::make_GO``) keeps every evidence code
    and every namespace: that is the default here (``None`` keeps all). Unlike goatools' default,
    ``ND`` (no biological data) annotations are kept.

    Parameters
    ----------
    gene2go_path : path-like
        NCBI ``gene2go`` (plain or gzipped), header
        ``#tax_id GeneID GO_ID Evidence Qualifier GO_term PubMed Category``.
    gene_info_path : path-like
        NCBI ``gene_info`` for the same species (``Symbol`` column).
    obo_path : path-like, optional
        ``go-basic.obo``. When given, annotations to terms that are not live terms of this release
        are dropped and alternative ids are replaced by their primary GO ID.
    taxid : int
        NCBI taxonomy id (9606: human).
    evidence_codes : iterable of str, optional
        Keep only these values of the ``Evidence`` column (e.g. ``{'EXP', 'IDA', 'IMP'}``).
    namespaces : iterable of str, optional
        Keep only these namespaces, by the ``Category`` column. Accepted names (case-insensitive):
        ``'BP'``/``'Process'``/``'biological_process'``, ``'MF'``/``'Function'``/
        ``'molecular_function'``, ``'CC'``/``'Component'``/``'cellular_component'``.
    keep_not : bool
        Keep annotations whose ``Qualifier`` contains ``NOT`` (a statement that the gene does *not*
        have the function). Default False, as goatools.
    scratch_dir : path-like, optional
        Where the uncompressed temporary copies go (default: the system temp folder); pipeline jobs
        pass their output folder.

    Returns
    -------
    dict of str to frozenset of str
        Official symbol -> set of GO IDs, keys sorted; genes left without a term are absent.

    Raises
    ------
    InputError
        Malformed gene2go (``'header'``, ``'columns'``, ``'#tax_id'``, ``'GeneID'``, ``'GO_ID'``,
        ``'Category'``), no annotation of ``taxid`` or none left after the filters (``'#tax_id'``,
        ``'Evidence'``), malformed gene_info (see :func:`read_gene_info`) or OBO (see
        :func:`read_go_dag`), unknown namespace names (source ``'namespaces'``).
    """
    from goatools.anno.genetogo_reader import Gene2GoReader

    gene2go_path = Path(gene2go_path)
    nss = _normalise_namespaces(namespaces)
    codes = None if evidence_codes is None else {str(c).strip() for c in evidence_codes}
    gene_info = read_gene_info(gene_info_path, taxid=taxid)
    dag = read_go_dag(obo_path, scratch_dir) if obo_path is not None else None

    sink = io_module.StringIO()
    with _scratch(scratch_dir) as tmpdir:
        plain = Path(tmpdir) / "gene2go"
        n_lines = _validated_gene2go_copy(gene2go_path, taxid, plain)
        if n_lines == 0:
            raise InputError(gene2go_path, "#tax_id", f"no annotation of taxid {taxid}")
        try:
            # goatools prints progress to stdout and calls sys.exit on errors it meets.
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                reader = Gene2GoReader(str(plain), taxids=[int(taxid)], namespaces=nss)
        except (SystemExit, Exception) as exc:  # noqa: BLE001 - report any goatools failure as bad input
            raise InputError(
                gene2go_path, None, f"goatools cannot read the file: {exc!r}; {sink.getvalue()[-500:]}"
            ) from exc
        associations = reader.get_associations(int(taxid))
    logger.debug("goatools: %s", sink.getvalue().strip())

    id2symbol = dict(zip(gene_info["GeneID"].tolist(), gene_info["Symbol"].tolist()))
    terms: dict[str, set[str]] = {}
    dropped = {"evidence": 0, "NOT": 0, "obo": 0, "gene_info": 0}
    for nt in associations:
        if codes is not None and nt.Evidence_Code not in codes:
            dropped["evidence"] += 1
            continue
        if not keep_not and "NOT" in nt.Qualifier:
            dropped["NOT"] += 1
            continue
        go_id = nt.GO_ID
        if dag is not None:
            term = dag.get(go_id)
            if term is None:
                dropped["obo"] += 1
                continue
            go_id = term.item_id
        symbol = id2symbol.get(nt.DB_ID)
        if symbol is None:
            dropped["gene_info"] += 1
            continue
        terms.setdefault(symbol, set()).add(go_id)
    logger.info(
        "gene2go %s: %d annotation lines of taxid %d -> %d genes; dropped %s",
        gene2go_path,
        n_lines,
        taxid,
        len(terms),
        dropped,
    )
    if not terms:
        raise InputError(
            gene2go_path,
            "Evidence" if codes is not None else "#tax_id",
            f"no annotation of taxid {taxid} left after the filters (dropped: {dropped})",
        )
    return {symbol: frozenset(terms[symbol]) for symbol in sorted(terms)}


# --------------------------------------------------------------------------------------------------
# GEARS's gene2go pickle
# --------------------------------------------------------------------------------------------------


class _SortedSetPickler(pickle._Pickler):
    """Pickles sets as ``set(sorted list)``, so the bytes do not depend on the str hash seed.

    The C pickler writes a set in iteration order (hash order, which changes between processes) and
    never consults ``reducer_override`` for sets, hence the pure-Python pickler with one dispatch entry
    replaced. The file loads with plain ``pickle.load`` into ordinary sets.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_sorted_set(self, obj):
        self.save_reduce(set, (sorted(obj),), obj=obj)

    dispatch[set] = _save_sorted_set


def write_gears_gene2go(gene_terms: Mapping[str, Iterable[str]], path: str | os.PathLike) -> None:
    """Write GEARS's ``gene2go_all.pkl``: a pickled ``dict`` gene symbol -> ``set`` of GO IDs.

    Parameters
    ----------
    gene_terms : mapping of str -> iterable of str
        GO term IDs (e.g. ``'GO:0006955'``) annotated to each gene symbol.
    path : path-like
        Destination; written atomically.

    Notes
    -----
    Format of ``PertData.__init__`` (``gears/pertdata.py``), which reads it instead of downloading
    Harvard Dataverse file 6153417 when it exists, and of ``gears/utils.py::make_GO``. Keys are written
    in sorted order and sets pickled from sorted lists: the file's bytes are the same on every run
    (loading gives ordinary ``set`` objects).

    Raises
    ------
    InputError
        If a symbol is not a non-empty string or a GO ID is not a string.
    """
    out: dict[str, set[str]] = {}
    for gene in sorted(gene_terms):
        if not isinstance(gene, str) or not gene:
            raise InputError("gene2go", "symbol", f"gene symbols must be non-empty strings, got {gene!r}")
        terms = set(gene_terms[gene])
        bad = [t for t in terms if not isinstance(t, str)]
        if bad:
            raise InputError("gene2go", gene, f"GO IDs must be strings, got {bad[:3]!r}")
        out[gene] = terms
    with atomic_open(path, "wb") as handle:
        _SortedSetPickler(handle, protocol=4).dump(out)


class _Gene2goUnpickler(pickle.Unpickler):
    """Loads only what a gene2go pickle holds: dicts, lists, strings (pickle opcodes) and the ``set`` and
    ``frozenset`` classes. Any other global, the way a crafted pickle runs code (``os.system``,
    ``builtins.eval``, ...), is refused before it is called."""

    ALLOWED = {("builtins", "set"), ("builtins", "frozenset")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a gene2go pickle (only dict, list, str, set, frozenset)"
            )
        return super().find_class(module, name)


def read_gears_gene2go(path: str | os.PathLike) -> dict[str, set[str]]:
    """Read a ``gene2go_all.pkl`` (see ``write_gears_gene2go``) with a restricted unpickler: the file is an
    input like any other (``results/graph/gene2go.pkl``, a cache), and plain ``pickle.load`` runs whatever
    code a crafted file names.

    Returns
    -------
    dict of str -> set of str

    Raises
    ------
    InputError
        The file names any class but ``set``/``frozenset`` (nothing of it is run), is not a pickle, or does
        not hold a dict of gene symbol -> set of GO ID strings.
    """
    try:
        with open(path, "rb") as handle:
            data = _Gene2goUnpickler(handle).load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
    ) as err:
        raise InputError(path, None, f"unreadable gene2go pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or not all(
        isinstance(gene, str) and isinstance(terms, (set, frozenset)) and all(isinstance(t, str) for t in terms)
        for gene, terms in data.items()
    ):
        raise InputError(path, None, "expected a pickled dict of gene symbol -> set of GO IDs")
    return {gene: set(terms) for gene, terms in data.items()}
