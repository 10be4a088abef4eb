"""Queried perturbations onto graph nodes: single symbols and pairs ``A+B``, with the reason for every
query that is not used."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from ..config import DatasetConfig
from ..knowledge.graph import PAIR_SEPARATOR
from ..knowledge.symbols import SymbolResolver
from ..screens.layout import CTRL

#: Resolution statuses of a query, in report order. ``official`` and ``alias`` queries are candidates;
#: ``invalid`` is a malformed combination (``A+``, ``A+A``, three genes); ``screened`` and ``excluded``
#: candidates resolved but are skipped (already perturbed; listed in the exclusions).
STATUSES = ("official", "alias", "ambiguous", "unknown", "not_in_graph", "invalid", "duplicate", "screened", "excluded")
USED_STATUSES = ("official", "alias")
STATUS_WORDS = {"not_in_graph": "not in the graph"}  # statuses as words in messages
REPORT_COLUMNS = ("list", "query", "status", "symbol", "reason")
#: Words for the control condition, never genes: GEARS's ``ctrl`` exactly as GEARS writes it (``CTRL``, upper
#: case, is the official symbol of chymotrypsin-like protease, a gene), and the default control label of
#: a raw screen (``non-targeting``, any case).
CONTROL_WORDS = (CTRL, DatasetConfig.control_label)


def is_control_word(word: str) -> bool:
    """True for a control-condition word of :data:`CONTROL_WORDS` (``ctrl`` case-sensitive, the rest not)."""
    return word == CTRL or word.lower() in {w.lower() for w in CONTROL_WORDS if w != CTRL}


def resolve_candidates(
    symbols: Iterable[str], resolver: SymbolResolver, *, list_name: str = "genes"
) -> tuple[list[str], pd.DataFrame]:
    """Map queried perturbations onto graph nodes; report what happened to every query.

    A single symbol is resolved by ``resolver`` (official symbol, else a synonym or previous symbol of
    exactly one gene, then the same ignoring case; see :class:`perturb_select.knowledge.symbols.SymbolResolver`). Give
    the resolver the graph's genes as ``universe`` so that genes without a node are ``'not_in_graph'``.
    An alias of several genes is ``'ambiguous'`` and never guessed. A double perturbation ``A+B`` (as in
    GEARS's conditions and Norman et al. 2019) has each gene resolved the same way; it is a candidate
    named by its two official symbols in sorted order (so ``B+A`` repeats ``A+B``), status ``'alias'``
    if either gene was alias-mapped; a pair with an unresolved gene takes that gene's status and names
    it in the reason; an empty gene (``A+``), the same gene twice (``A+A``, also through an alias) or
    more than two genes is ``'invalid'``. A control word (:data:`CONTROL_WORDS`: GEARS's ``ctrl``, the
    ``non-targeting`` label) is never a gene: alone (or ``ctrl+ctrl``) it is ``'invalid'``; with one gene
    (``A+ctrl``, ``ctrl+A``, GEARS's names of a single perturbation) the query is that gene's single
    perturbation. A query that repeats an earlier query, or resolves to a
    perturbation an earlier query already gave, is ``'duplicate'``: the first one is used.

    Parameters
    ----------
    symbols : iterable of str, length q
        Queried perturbations in list order (e.g. from :func:`read_gene_list`).
    resolver : SymbolResolver
    list_name : str
        The report's ``list`` column: ``'genes'``, ``'screened'``, ``'require'`` or ``'exclude'``.

    Returns
    -------
    candidates : list of str
        Unique perturbations (graph genes, or pairs ``'A+B'`` of them) in order of first appearance.
    report : pandas.DataFrame
        One row per query, in order (q rows): ``list`` (``list_name``), ``query`` (str, as written),
        ``status`` (one of :data:`STATUSES`), ``symbol`` (the perturbation used, or for a duplicate the
        one it repeats; empty otherwise), ``reason`` (one sentence; empty for ``'official'``).
    """
    candidates: list[str] = []
    first_query_of: dict[str, str] = {}
    seen_queries: set[str] = set()
    rows = []
    for query in symbols:
        key = query.strip()
        symbol, status, reason = _resolve_perturbation(key, resolver)
        if key in seen_queries:
            status, reason = "duplicate", f"{key} is listed more than once; the first occurrence is used"
        elif status in USED_STATUSES and symbol in first_query_of:
            earlier = first_query_of[symbol]
            status, reason = "duplicate", f"{key} resolves to {symbol}, already listed as {earlier}; used once"
        elif status in USED_STATUSES:
            first_query_of[symbol] = key
            candidates.append(symbol)
        seen_queries.add(key)
        rows.append((list_name, query, status, symbol, reason))
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    return candidates, report


def _resolve_perturbation(query: str, resolver: SymbolResolver) -> tuple[str, str, str]:
    """``(perturbation, status, reason)`` of one query, a single symbol or a pair ``A+B``."""
    if PAIR_SEPARATOR not in query:
        if is_control_word(query):
            return "", "invalid", f"{query} is the control condition, not a gene"
        resolution = resolver.resolve(query)
        return resolution.symbol or "", resolution.status, resolution.reason
    parts = [part.strip() for part in query.split(PAIR_SEPARATOR)]
    if any(not part for part in parts):
        return "", "invalid", f"{query} has an empty gene name; a double perturbation is written A+B"
    if len(parts) > 2:
        return "", "invalid", f"{query} combines {len(parts)} genes; only single genes and pairs A+B are supported"
    genes_only = [part for part in parts if not is_control_word(part)]
    if not genes_only:
        return "", "invalid", f"{query} is the control condition, not a gene"
    if len(genes_only) == 1:  # GEARS's name of a single perturbation: GENE+ctrl or ctrl+GENE
        symbol, status, reason = _resolve_perturbation(genes_only[0], resolver)
        if status in USED_STATUSES:
            reason = f"{query} is GEARS's name of the single perturbation {symbol}" + (f"; {reason}" if reason else "")
        return symbol, status, reason
    resolutions = [resolver.resolve(part) for part in parts]
    for part, resolution in zip(parts, resolutions):
        if not resolution.ok:
            return "", resolution.status, f"pair {query}: {resolution.reason or part + ' ' + resolution.status}"
    genes = [resolution.symbol for resolution in resolutions]
    if genes[0] == genes[1]:
        return "", "invalid", f"pair {query} names the same gene twice ({genes[0]})"
    status = "alias" if any(r.status == "alias" for r in resolutions) else "official"
    aliases = [f"{r.query} -> {r.symbol}" for r in resolutions if r.status == "alias"]
    reason = f"pair {query}: " + "; ".join(aliases) if aliases else ""
    return PAIR_SEPARATOR.join(sorted(genes)), status, reason


def resolution_counts(report: pd.DataFrame) -> dict[str, int]:
    """Number of queries per status (every status of :data:`STATUSES`, zeros included) and ``'total'``."""
    counts = report["status"].value_counts()
    out = {status: int(counts.get(status, 0)) for status in STATUSES}
    out["total"] = int(len(report))
    return out
