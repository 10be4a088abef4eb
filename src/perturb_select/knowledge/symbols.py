"""Gene symbols as studies write them: NCBI gene_info, resolution onto official symbols, gene lists.

* :func:`read_gene_info` reads NCBI ``gene_info`` (official symbols and their synonyms);
* :class:`SymbolResolver` maps a study's symbols onto official symbols (:class:`Resolution`), never guessing
  between several genes;
* :func:`read_gene_list` reads a list of symbols, one per line: the one reader of every gene list (design
  candidates, screened / required / excluded lists, the graph's universe).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..config import HUMAN_TAXID
from ..io import InputError, gzip_intact, is_gzip, open_text

if TYPE_CHECKING:
    import pandas as pd


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


def read_gene_info(path: str | os.PathLike, taxid: int = HUMAN_TAXID) -> "pd.DataFrame":
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
    import numpy as np
    import pandas as pd

    needed = ["#tax_id", "GeneID", "Symbol", "Synonyms"]
    try:
        with open_text(path) as handle:
            frame = pd.read_csv(
                handle,
                sep="\t",
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                usecols=lambda c: c in needed,
                quoting=3,
            )
    except InputError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        if is_gzip(Path(path)) and not gzip_intact(Path(path)):
            raise InputError(path, None, f"corrupt gzip file ({type(exc).__name__}: {exc})") from exc
        raise InputError(path, None, f"not a readable tab-separated gene_info file: {exc}") from exc
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            path,
            "header",
            f"missing columns {missing}; expected the NCBI gene_info header "
            f"'#tax_id GeneID Symbol LocusTag Synonyms dbXrefs'",
        )
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
    return pd.DataFrame(
        {
            "GeneID": frame["GeneID"].astype(np.int64).to_numpy(),
            "Symbol": frame["Symbol"].to_numpy(dtype=object),
            "Synonyms": [[] if s in ("-", "") else s.split("|") for s in frame["Synonyms"]],
        }
    )


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

    def __init__(self, gene_info, universe: Iterable[str] | None = None):
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
    def from_gene_info(
        cls, path: str | os.PathLike, universe: Iterable[str] | None = None, taxid: int = HUMAN_TAXID
    ) -> "SymbolResolver":
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
        if not query.isascii():
            # Gene symbols are ASCII; casefold maps look-alikes onto them (the Kelvin sign K -> k, the long
            # s -> s), so "NF\u212aBIA" would resolve to NFKBIA. Only an exact match takes such a label.
            return Resolution(
                symbol,
                None,
                "unknown",
                f"{query!r} holds non-ASCII characters and matches no symbol exactly (look-alike "
                "letters are not folded onto gene symbols)",
            )
        folded = query.casefold()
        found = self._official_ci.get(folded)
        if found:
            if len(found) == 1:
                return self._in_universe(
                    symbol, found[0], "alias", f"{query} matches the official symbol {found[0]} ignoring case"
                )
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
            return self._in_universe(
                query, found[0], "alias", f"{stripped} is a previous symbol or synonym of {found[0]}{how}"
            )
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


#: Most bytes a gene list may hold (also decompressed): a genome's symbols take about 2 MB.
MAX_GENE_LIST_BYTES = 64 * 2**20


def read_gene_list(path: str | os.PathLike) -> list[str]:
    """Read candidate gene symbols, one per line, in file order.

    Blank lines and lines starting with ``#`` are ignored; a tab-separated line contributes its first
    column; surrounding whitespace is removed. UTF-8 (a byte-order mark is allowed), plain or gzipped
    (detected by its magic bytes). Repeated symbols are kept here and reported by
    :func:`resolve_candidates` (status ``'duplicate'``, the first occurrence is used).

    Parameters
    ----------
    path : path-like
        The gene list, e.g. ``replogle2022_k562_essential_1092_genes.txt``.

    Returns
    -------
    list of str
        The symbols as written (no header handling: a header line would be reported as an unknown
        symbol).

    Raises
    ------
    InputError
        Field None: the file is missing, a directory, unreadable, a corrupt gzip file, not UTF-8 text
        or binary (NUL bytes), larger than :data:`MAX_GENE_LIST_BYTES` (read with that bound, also
        decompressed: ``/dev/zero`` ends). Field ``'genes'``: no symbol at all (empty, or only blank and comment
        lines).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a directory, not a gene list file")
    if not path.exists():
        raise InputError(path, None, "gene list file not found")
    limit = MAX_GENE_LIST_BYTES
    too_big = f"larger than {limit / 2**20:g} MiB (a gene list is one symbol per line); is it the right file?"
    try:
        with open(path, "rb") as handle:  # streamed with a bound: /dev/zero or a huge file is never read whole
            data = handle.read(limit + 1)
    except OSError as err:
        raise InputError(path, None, f"cannot read the gene list: {err.strerror or err}") from None
    if len(data) > limit:
        raise InputError(path, None, too_big)
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
                data = unpacked.read(limit + 1)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(path, None, f"corrupt gzip file: {err}") from None
        if len(data) > limit:
            raise InputError(path, None, f"decompressed {too_big}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            path,
            None,
            f"not a UTF-8 text file (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "expected one gene symbol per line",
        ) from None
    if "\x00" in text:
        raise InputError(path, None, "binary file (NUL bytes); expected one gene symbol per line")
    symbols = []
    for line in text.splitlines():
        symbol = line.split("\t", 1)[0].strip()
        if symbol and not symbol.startswith("#"):
            symbols.append(symbol)
    if not symbols:
        raise InputError(path, "genes", "no gene symbols: the list is empty or holds only comments and blank lines")
    return symbols
