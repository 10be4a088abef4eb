"""Gene Ontology inputs: fetching, parsing with goatools, gene-symbol resolution, the Jaccard graph.

* :func:`fetch_source` copies an input from a local mirror or downloads it (sha256-checked, atomic).
* :func:`read_gene2go_symbols` reads NCBI ``gene2go`` with goatools and keys the GO-term sets by the
  official symbols of NCBI ``gene_info`` (:func:`read_gene_info`); :func:`read_go_dag` reads the OBO.
* :class:`SymbolResolver` maps a study's gene symbols onto official symbols (:class:`Resolution`).
* :func:`jaccard_topk_edges` builds GEARS's GO graph (``gears/utils.py::make_GO``) sparsely;
  :func:`graph_stats` summarises it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io as io_module
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .io import InputError, atomic_path

logger = logging.getLogger("perturb_select")


@dataclass(frozen=True)
class Resolution:
    """How one gene symbol from a screen or gene list maps onto the current official symbols.

    Attributes
    ----------
    query : str
        The symbol as given.
    symbol : str or None
        The current official symbol (a node of the universe when one was given), or None.
    status : str
        ``'official'`` (query is the official symbol), ``'alias'`` (query is a synonym or previous
        symbol of exactly one gene), ``'ambiguous'`` (a synonym of several genes: never guessed),
        ``'unknown'`` (not in gene_info), ``'not_in_graph'`` (resolves, but not a node of the universe).
    reason : str
        One human-readable sentence; empty for ``'official'``.
    """

    query: str
    symbol: str | None
    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("official", "alias")


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------

_CHUNK_BYTES = 1 << 20


def _copy_hashing(source: IO[bytes], target: Path) -> str:
    """Copy a binary stream into ``target`` and return the hex sha256 of what was copied."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        while True:
            block = source.read(_CHUNK_BYTES)
            if not block:
                break
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InputError("sha256", "sha256", f"not a 64-digit hexadecimal sha256: {sha256!r}")
    return value


def fetch_source(
    url: str,
    destination: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None = None,
    mirror_name: str | None = None,
    sha256: str | None = None,
    timeout: float = 60,
) -> Path:
    """Copy an input file from a local mirror, or download it, into ``destination``.

    The mirror file ``mirror / mirror_name`` is used when it exists; otherwise ``url`` is downloaded
    with :func:`urllib.request.urlopen` (``http``, ``https`` and ``file`` URLs). The bytes are
    hashed while they are copied and checked against ``sha256`` when one is given. The destination is
    published atomically (:func:`perturb_select.io.atomic_path`): on any error neither the
    destination nor a temporary file is left behind. Which source was used is logged on the
    ``perturb_select`` logger.

    Parameters
    ----------
    url : str
        Canonical source, e.g. ``https://ftp.ncbi.nih.gov/gene/DATA/gene2go.gz``.
    destination : path-like
        File to write; parent directories are created.
    mirror : path-like, optional
        Directory holding pre-downloaded copies (offline machines).
    mirror_name : str, optional
        File name inside ``mirror``; default: the last path component of ``url``.
    sha256 : str, optional
        Expected hex digest of the file (case-insensitive). A mirror file that does not match is
        an error, not a reason to fall back to the URL: a wrong mirror should be fixed, not hidden.
    timeout : float
        Seconds to wait for the server to connect and for each read.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    InputError
        Field ``'sha256'``: the checksum is malformed or does not match (source: the mirror file or
        the URL). Field ``'url'``: the mirror file is missing (or no mirror was given) and the
        download failed (HTTP error, refused connection, timeout, unknown URL scheme); the message
        names the URL and the mirror path that was tried.
    """
    destination = Path(destination)
    expected = _normalise_sha256(sha256)
    tried = None
    if mirror is not None:
        name = mirror_name or PurePosixPath(urllib.parse.urlparse(url).path).name
        candidate = Path(mirror) / name
        if candidate.is_file():
            with atomic_path(destination) as tmp:
                with open(candidate, "rb") as handle:
                    digest = _copy_hashing(handle, tmp)
                _check_digest(digest, expected, candidate)
            logger.info("fetched %s from mirror %s", destination, candidate)
            return destination
        tried = candidate
        logger.info("mirror file %s not found; downloading %s", candidate, url)
    with atomic_path(destination) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                digest = _copy_hashing(response, tmp)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError/HTTPError and socket timeouts are OSErrors; ValueError: unknown URL type.
            where = f"; mirror file {tried} not found" if tried is not None else ""
            raise InputError(url, "url", f"download failed: {exc}{where}") from exc
        _check_digest(digest, expected, url)
    logger.info("fetched %s from %s", destination, url)
    return destination


def _check_digest(digest: str, expected: str | None, source) -> None:
    if expected is not None and digest != expected:
        raise InputError(source, "sha256", f"checksum mismatch: expected {expected}, got {digest}")


# --------------------------------------------------------------------------------------------------
# Parsing: gene_info (pandas), gene2go and OBO (goatools)
# --------------------------------------------------------------------------------------------------

GENE2GO_HEADER = ("#tax_id", "GeneID", "GO_ID", "Evidence", "Qualifier", "GO_term", "PubMed", "Category")
_GENE2GO_CATEGORIES = {"Process": "BP", "Function": "MF", "Component": "CC"}
_NAMESPACE_ALIASES = {
    "bp": "BP", "process": "BP", "biological_process": "BP",
    "mf": "MF", "function": "MF", "molecular_function": "MF",
    "cc": "CC", "component": "CC", "cellular_component": "CC",
}
_OBO_NAMESPACES = {"biological_process", "molecular_function", "cellular_component"}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _open_text(path: str | os.PathLike, source_label=None) -> IO[str]:
    """Open a plain or gzipped (detected by its magic bytes) text file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(source_label or path, None, "file not found")
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def _gzip_intact(path: Path) -> bool:
    """True when the whole gzip stream decompresses and its CRC checks (a bit flip can pass the header)."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(_CHUNK_BYTES):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


def read_gene_info(path: str | os.PathLike, taxid: int = 9606) -> pd.DataFrame:
    """Read an NCBI ``gene_info`` file (plain or gzipped) for one species.

    Parameters
    ----------
    path : path-like
        Tab-separated, header ``#tax_id GeneID Symbol LocusTag Synonyms dbXrefs ...`` (the NCBI
        layout; extra columns are ignored). ``Synonyms`` is ``|``-separated, ``-`` for none.
    taxid : int
        NCBI taxonomy id of the species kept (9606: human).

    Returns
    -------
    pandas.DataFrame
        One row per gene, in file order, columns ``GeneID`` (int64), ``Symbol`` (str) and
        ``Synonyms`` (list of str, empty for ``-``).

    Raises
    ------
    InputError
        Missing file, missing columns (field ``'header'``), non-numeric ``#tax_id`` or ``GeneID``,
        empty ``Symbol``, or no gene of ``taxid`` (field ``'#tax_id'``).
    """
    needed = ["#tax_id", "GeneID", "Symbol", "Synonyms"]
    try:
        with _open_text(path) as handle:
            frame = pd.read_csv(
                handle, sep="\t", dtype=str, keep_default_na=False, na_filter=False,
                usecols=lambda c: c in needed, quoting=3,
            )
    except InputError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        if _is_gzip(Path(path)) and not _gzip_intact(Path(path)):
            raise InputError(path, None, f"corrupt gzip file ({type(exc).__name__}: {exc})") from exc
        raise InputError(path, None, f"not a readable tab-separated gene_info file: {exc}") from exc
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(path, "header", f"missing columns {missing}; expected the NCBI gene_info header "
                         f"'#tax_id GeneID Symbol LocusTag Synonyms dbXrefs'")
    for column in ("#tax_id", "GeneID"):
        bad = ~frame[column].str.fullmatch(r"\d+")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(path, column, f"non-numeric value {frame[column].iat[row]!r} on line {row + 2}")
    frame = frame[frame["#tax_id"].astype(np.int64) == int(taxid)]
    if frame.empty:
        raise InputError(path, "#tax_id", f"no gene of taxid {taxid}")
    empty = frame["Symbol"].str.strip() == ""
    if empty.any():
        raise InputError(path, "Symbol", f"empty symbol for GeneID {frame['GeneID'][empty].iat[0]}")
    return pd.DataFrame({
        "GeneID": frame["GeneID"].astype(np.int64).to_numpy(),
        "Symbol": frame["Symbol"].to_numpy(dtype=object),
        "Synonyms": [[] if s in ("-", "") else s.split("|") for s in frame["Synonyms"]],
    })


def _normalise_namespaces(namespaces: Iterable[str] | None) -> set[str] | None:
    if namespaces is None:
        return None
    if isinstance(namespaces, str):
        namespaces = [namespaces]
    out = set()
    for name in namespaces:
        key = str(name).strip().lower()
        if key not in _NAMESPACE_ALIASES:
            raise InputError("namespaces", None, f"unknown GO namespace {name!r}; use BP, MF, CC "
                             "(or Process/Function/Component, biological_process/...)")
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
    with _open_text(path) as handle, open(target, "w", encoding="utf-8") as out:
        try:
            header = handle.readline()
            if not header:
                raise InputError(path, "header", "empty file")
            found = tuple(header.rstrip("\r\n").split("\t"))
            if found != GENE2GO_HEADER:
                raise InputError(path, "header", f"expected the NCBI gene2go header {'|'.join(GENE2GO_HEADER)!r}, "
                                 f"found {header.rstrip()[:200]!r}")
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
                    raise InputError(path, "columns", f"line {lnum} has {len(vals)} tab-separated fields, "
                                     f"expected {len(GENE2GO_HEADER)}")
                if not vals[1].isdigit():
                    raise InputError(path, "GeneID", f"non-numeric GeneID {vals[1][:50]!r} on line {lnum}")
                if not vals[2].startswith("GO:"):
                    raise InputError(path, "GO_ID", f"not a GO identifier: {vals[2][:50]!r} on line {lnum}")
                if vals[7] not in _GENE2GO_CATEGORIES:
                    raise InputError(path, "Category", f"unknown category {vals[7][:50]!r} on line {lnum}; "
                                     "expected Process, Function or Component")
                out.write(line + "\n")
                n_kept += 1
        except (InputError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            # A bit flip inside a gzip stream can decompress to garbage lines before the CRC check fails:
            # name the real cause.
            if _is_gzip(Path(path)) and not _gzip_intact(Path(path)):
                raise InputError(path, None, f"corrupt gzip file ({type(exc).__name__}: {exc})") from exc
            if isinstance(exc, InputError):
                raise
            raise InputError(path, None, f"unreadable gene2go file: {exc}") from exc
    return n_kept


@contextlib.contextmanager
def _plain_copy(path: Path, scratch_dir: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield ``path`` itself, or an uncompressed temporary copy (in ``scratch_dir``) when it is gzipped."""
    if not _is_gzip(path):
        yield path
        return
    with _scratch(scratch_dir) as tmpdir:
        plain = Path(tmpdir) / path.name.removesuffix(".gz")
        try:
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK_BYTES)
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
            raise InputError(path, "namespace", f"{go_id} has namespace {term.namespace!r}, "
                             f"expected one of {sorted(_OBO_NAMESPACES)}")
    return dag


def read_gene2go_symbols(
    gene2go_path: str | os.PathLike,
    gene_info_path: str | os.PathLike,
    obo_path: str | os.PathLike | None = None,
    *,
    taxid: int = 9606,
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
            raise InputError(gene2go_path, None, f"goatools cannot read the file: {exc!r}; "
                             f"{sink.getvalue()[-500:]}") from exc
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
    logger.info("gene2go %s: %d annotation lines of taxid %d -> %d genes; dropped %s",
                gene2go_path, n_lines, taxid, len(terms), dropped)
    if not terms:
        raise InputError(gene2go_path, "Evidence" if codes is not None else "#tax_id",
                         f"no annotation of taxid {taxid} left after the filters (dropped: {dropped})")
    return {symbol: frozenset(terms[symbol]) for symbol in sorted(terms)}


# --------------------------------------------------------------------------------------------------
# Symbol resolution
# --------------------------------------------------------------------------------------------------

class SymbolResolver:
    """Map gene symbols as a study wrote them onto current official symbols, never guessing.

    Rules, in order: the exact official symbol (``'official'``); a synonym of exactly one gene
    (``'alias'``) or of several (``'ambiguous'``: candidates listed, none chosen); then the same two
    steps ignoring case; else ``'unknown'``. With a ``universe`` (the graph's node symbols) a symbol
    that resolves outside it is ``'not_in_graph'``. An alias of several genes stays ``'ambiguous'``
    even when only one of them is in the universe. gene_info's ``Synonyms`` column does not tell
    previous symbols from other aliases, so both count as synonyms.

    Parameters
    ----------
    gene_info : pandas.DataFrame
        Columns ``Symbol`` (str) and ``Synonyms`` (list of str), as from :func:`read_gene_info`.
    universe : iterable of str, optional
        Symbols that may be returned (e.g. ``KnowledgeGraph.genes``).
    """

    def __init__(self, gene_info: pd.DataFrame, universe: Iterable[str] | None = None):
        missing = [c for c in ("Symbol", "Synonyms") if c not in gene_info.columns]
        if missing:
            raise InputError("gene_info", "header", f"missing columns {missing}")
        self._official: set[str] = set()
        official_ci: dict[str, set[str]] = {}
        synonyms: dict[str, set[str]] = {}
        synonyms_ci: dict[str, set[str]] = {}
        for symbol, syns in zip(gene_info["Symbol"], gene_info["Synonyms"]):
            self._official.add(symbol)
            official_ci.setdefault(symbol.casefold(), set()).add(symbol)
            for alias in syns:
                if alias and alias != symbol:
                    synonyms.setdefault(alias, set()).add(symbol)
                    synonyms_ci.setdefault(alias.casefold(), set()).add(symbol)
        self._official_ci = {k: tuple(sorted(v)) for k, v in official_ci.items()}
        self._synonyms = {k: tuple(sorted(v)) for k, v in synonyms.items()}
        self._synonyms_ci = {k: tuple(sorted(v)) for k, v in synonyms_ci.items()}
        self.universe = None if universe is None else frozenset(universe)

    @classmethod
    def from_gene_info(cls, path: str | os.PathLike, universe: Iterable[str] | None = None,
                       taxid: int = 9606) -> "SymbolResolver":
        """Build from an NCBI ``gene_info`` file (see :func:`read_gene_info` for the errors)."""
        return cls(read_gene_info(path, taxid=taxid), universe=universe)

    def resolve(self, symbol: str) -> Resolution:
        """Resolve one symbol (surrounding whitespace ignored).

        Returns
        -------
        Resolution
            ``symbol`` is set only for ``'official'`` and ``'alias'``.
        """
        if not isinstance(symbol, str):
            raise TypeError(f"gene symbol must be str, not {type(symbol).__name__}")
        query = symbol.strip()
        if query in self._official:
            return self._in_universe(symbol, query, "official", "")
        found = self._synonyms.get(query)
        if found:
            return self._from_synonym(symbol, query, found, "")
        folded = query.casefold()
        found = self._official_ci.get(folded)
        if found:
            if len(found) == 1:
                return self._in_universe(symbol, found[0], "alias",
                                         f"{query} matches the official symbol {found[0]} ignoring case")
            return self._ambiguous(symbol, query, found, "official symbols (ignoring case)")
        found = self._synonyms_ci.get(folded)
        if found:
            return self._from_synonym(symbol, query, found, " (ignoring case)")
        return Resolution(symbol, None, "unknown", f"{query} is neither an official symbol nor a synonym in gene_info")

    def resolve_many(self, symbols: Iterable[str]) -> list[Resolution]:
        """:meth:`resolve` every symbol, in order."""
        return [self.resolve(s) for s in symbols]

    def _from_synonym(self, query, stripped, found, how) -> Resolution:
        if len(found) == 1:
            return self._in_universe(query, found[0], "alias",
                                     f"{stripped} is a previous symbol or synonym of {found[0]}{how}")
        return self._ambiguous(query, stripped, found, f"genes as a synonym{how}")

    def _ambiguous(self, query, stripped, found, what) -> Resolution:
        reason = f"{stripped} matches {len(found)} {what}: {', '.join(found)}; not guessed"
        if self.universe is not None:
            inside = [s for s in found if s in self.universe]
            reason += f" (in the graph: {', '.join(inside) if inside else 'none'})"
        return Resolution(query, None, "ambiguous", reason)

    def _in_universe(self, query, symbol, status, reason) -> Resolution:
        if self.universe is not None and symbol not in self.universe:
            why = f"{symbol} has no GO annotation kept in the graph"
            if status == "alias":
                why = f"{reason}; {why}"
            return Resolution(query, None, "not_in_graph", why)
        return Resolution(query, symbol, status, reason)


# --------------------------------------------------------------------------------------------------
# Jaccard top-k graph
# --------------------------------------------------------------------------------------------------

def _term_matrix(gene_terms: Mapping[str, Iterable[str]], genes: Iterable[str] | None):
    """Sorted gene symbols and their gene x term binary csr matrix (int32)."""
    if genes is None:
        wanted = gene_terms.keys()
    else:
        wanted = {g for g in genes if g in gene_terms}
    sets = {}
    for gene in wanted:
        terms = gene_terms[gene]
        terms = {terms} if isinstance(terms, str) else set(terms)
        if terms:  # a gene without terms has no Jaccard similarity (0/0): never a node
            sets[gene] = terms
    symbols = sorted(sets)
    vocabulary: dict[str, int] = {}
    indptr = np.zeros(len(symbols) + 1, dtype=np.int64)
    indices = []
    for i, gene in enumerate(symbols):
        indices.extend(vocabulary.setdefault(t, len(vocabulary)) for t in sets[gene])
        indptr[i + 1] = len(indices)
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.int32), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(symbols), len(vocabulary)),
    )
    return np.asarray(symbols, dtype=object), matrix


def jaccard_topk_edges(
    gene_terms: Mapping[str, Iterable[str]],
    *,
    k: int = 20,
    threshold: float = 0.1,
    genes: Iterable[str] | None = None,
    chunk_size: int = 512,
) -> pd.DataFrame:
    """GEARS's GO graph: each gene's top-k most similar other genes by Jaccard similarity of GO terms.

    Follows ``gears/utils.py::make_GO`` (``get_GO_edge_list``: Jaccard ``|a & b| / |a | b|`` of the
    GO-term sets, kept when ``> 0.1``) and ``get_similarity_network`` (per target, the
    ``nlargest(k + 1)`` edges, which there include the self-loop of weight 1). Here the gene itself is
    excluded and its k best *other* genes are kept; ties at the k-th place go to the source symbol
    that sorts first, so the table does not depend on input order.

    Computed sparsely, ``chunk_size`` target genes at a time: with ``M`` the gene x term binary
    matrix, ``M[chunk] @ M.T`` gives the integer intersections, unions are ``|a| + |b| - inter``, and
    Jaccard is their float64 quotient, bit-identical to Python's ``len(a & b) / len(a | b)``.

    Parameters
    ----------
    gene_terms : mapping of str to iterable of str
        Gene symbol -> GO IDs (e.g. from :func:`read_gene2go_symbols`). Genes without terms are
        ignored.
    k : int
        Sources kept per target (GEARS: ``num_similar_genes_go_graph=20``).
    threshold : float
        Keep similarities strictly above this (GEARS: 0.1), in [0, 1).
    genes : iterable of str, optional
        Restrict the universe to these genes (those without terms are ignored).
    chunk_size : int
        Target genes per sparse product; bounds memory (about ``chunk_size * n_genes * 20`` bytes
        at worst). The result does not depend on it. 256-512 was fastest on the human graph
        (20,728 genes: ~9 s CPU, ~250 MiB over the input; 2048: ~13 s, ~700 MiB).

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` (str), ``target`` (str), ``importance`` (float64, in ``(threshold, 1]``);
        one row per edge ``source -> target``; sorted by target, importance descending, source.
        At most ``k`` rows per target; no self edges; genes without any edge do not appear.

    Raises
    ------
    ValueError
        ``k < 1``, ``threshold`` outside [0, 1) or ``chunk_size < 1``.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    k, threshold, chunk_size = int(k), float(threshold), int(chunk_size)
    symbols, matrix = _term_matrix(gene_terms, genes)
    matrix.sort_indices()
    n = len(symbols)
    sizes = np.diff(matrix.indptr).astype(np.int32)
    # J > t needs |a & b| > t * max(|a|, |b|) (the union is at least either set), i.e.
    # |a & b| >= alpha[a] and >= alpha[b]. The 1e-9 margin keeps the bound below the true one
    # despite rounding, so the exact float test further down decides every borderline pair.
    alpha = (np.floor(threshold * sizes * (1.0 - 1e-9)) + 1).astype(np.int32)
    transposed = matrix.T.tocsr()
    parts = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        parts.append(_topk_chunk(matrix[start:stop] @ transposed, start, sizes, alpha, k, threshold))
    if parts:
        tgt = np.concatenate([p[0] for p in parts])
        src = np.concatenate([p[1] for p in parts])
        weight = np.concatenate([p[2] for p in parts])
    else:
        tgt = src = np.zeros(0, dtype=np.int64)
        weight = np.zeros(0, dtype=np.float64)
    return pd.DataFrame({
        "source": pd.Series(symbols[src], dtype=object),
        "target": pd.Series(symbols[tgt], dtype=object),
        "importance": weight.astype(np.float64, copy=False),
    })


_HIST_BINS = 1024


def _topk_chunk(product: sp.csr_matrix, start: int, sizes: np.ndarray, alpha: np.ndarray,
                k: int, threshold: float):
    """Top-k sources of the targets ``start .. start + product.shape[0] - 1``.

    ``product[r, c]`` is ``|terms(start + r) & terms(c)|``. Returns (targets, sources,
    similarities), sorted by target, similarity descending, source.
    """
    m = product.shape[0]
    counts = np.diff(product.indptr)
    inter = product.data
    cols = product.indices
    # Cheap integer filters first: most entries are pairs sharing one or two very common terms.
    keep = np.flatnonzero(inter >= np.repeat(alpha[start:start + m], counts))
    local = np.repeat(np.arange(m, dtype=np.int32), counts)[keep]
    inter, cols = inter[keep], cols[keep]
    del product, counts, keep
    keep = np.flatnonzero(inter >= alpha[cols])
    local, cols, inter = local[keep], cols[keep], inter[keep]
    del keep
    rows = local + np.int32(start)
    union = sizes[rows] + sizes[cols] - inter
    # Exact: integers converted to float64 and divided once, as Python's int / int.
    jaccard = inter.astype(np.float64) / union.astype(np.float64)
    ok = (jaccard > threshold) & (cols != rows)
    local, cols, jaccard = local[ok], cols[ok], jaccard[ok]
    del rows, union, inter, ok
    if len(local) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    # Pre-select without sorting: a per-target histogram of similarities (bins are monotone in
    # the similarity) gives the bin of each target's k-th best; everything from that bin up is
    # a superset of the top k including ties, and only that superset is sorted exactly.
    bins = np.minimum((jaccard * _HIST_BINS).astype(np.int64), _HIST_BINS - 1)
    hist = np.bincount(local.astype(np.int64) * _HIST_BINS + bins, minlength=m * _HIST_BINS)
    at_least = np.cumsum(hist.reshape(m, _HIST_BINS)[:, ::-1], axis=1)
    enough = at_least[:, -1] >= k
    lowest_bin = np.where(enough, _HIST_BINS - 1 - np.argmax(at_least >= k, axis=1), 0)
    sel = np.flatnonzero(bins >= lowest_bin[local])
    local, cols, jaccard = local[sel], cols[sel], jaccard[sel]
    # Target, then similarity descending, then source index (= source symbol, genes are sorted).
    order = np.lexsort((cols, -jaccard, local))
    local, cols, jaccard = local[order], cols[order], jaccard[order]
    first = np.r_[0, np.flatnonzero(np.diff(local)) + 1]
    rank = np.arange(len(local)) - np.repeat(first, np.diff(np.r_[first, len(local)]))
    top = rank < k
    return local[top].astype(np.int64) + start, cols[top].astype(np.int64), jaccard[top]


def _summary(values: np.ndarray, with_mean: bool = True) -> dict:
    if len(values) == 0:
        out = {"min": None, "median": None, "max": None}
        if with_mean:
            out["mean"] = None
        return out
    out = {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}
    if with_mean:
        out["mean"] = float(np.mean(values))
    return out


def graph_stats(edges: pd.DataFrame, n_genes_input: int) -> dict:
    """Summary of a ``source, target, importance`` table, for ``go_jaccard.stats.json``.

    Parameters
    ----------
    edges : pandas.DataFrame
        As returned by :func:`jaccard_topk_edges`.
    n_genes_input : int
        Genes given to the graph construction (e.g. ``len(gene_terms)``).

    Returns
    -------
    dict
        ``n_genes_input``, ``nodes`` (genes with at least one edge), ``edges``,
        ``isolated_genes_dropped`` (``n_genes_input - nodes``), ``in_degree`` and ``out_degree``
        (``min``, ``median``, ``mean``, ``max`` over the nodes, counting zeros), ``importance``
        (``min``, ``median``, ``max``); plain Python numbers, None for an empty table.

    Raises
    ------
    ValueError
        Missing columns, or fewer input genes than nodes.
    """
    missing = [c for c in ("source", "target", "importance") if c not in edges.columns]
    if missing:
        raise ValueError(f"edge table lacks columns {missing}")
    nodes = pd.Index(pd.unique(pd.concat([edges["source"], edges["target"]], ignore_index=True)))
    if n_genes_input < len(nodes):
        raise ValueError(f"n_genes_input={n_genes_input} is smaller than the {len(nodes)} nodes")
    in_degree = edges["target"].value_counts().reindex(nodes, fill_value=0).to_numpy()
    out_degree = edges["source"].value_counts().reindex(nodes, fill_value=0).to_numpy()
    return {
        "n_genes_input": int(n_genes_input),
        "nodes": int(len(nodes)),
        "edges": int(len(edges)),
        "isolated_genes_dropped": int(n_genes_input - len(nodes)),
        "in_degree": _summary(in_degree),
        "out_degree": _summary(out_degree),
        "importance": _summary(edges["importance"].to_numpy(dtype=np.float64), with_mean=False),
    }
