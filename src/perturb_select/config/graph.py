"""``graph:`` and ``go.taxid``: how GEARS's Jaccard GO graph is built, and where its GO files are found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .checks import JobBlock, _bad, _field_names, _integer, _number, _unknown_keys

#: NCBI taxonomy id of human, the default species of the GO files.
HUMAN_TAXID = 9606
#: GEARS's GO graph: similar genes kept per gene and the Jaccard similarity they must exceed (``graph.k``,
#: ``graph.threshold``; GEARS's ``num_similar_genes_go_graph=20`` and 0.1).
GRAPH_K = 20
GRAPH_THRESHOLD = 0.1


@dataclass(frozen=True)
class GraphConfig(JobBlock):
    """How GEARS's GO graph is built (``gears/utils.py::make_GO``; the ``build_go_graph`` stage, ``design``
    and ``perturb-select graph`` all build it from this one object).

    Attributes
    ----------
    k : int
        Most similar other genes kept per gene (GEARS: ``num_similar_genes_go_graph=20``).
    threshold : float
        Jaccard similarities kept strictly above this, in [0, 1) (GEARS: 0.1).
    taxid : int
        NCBI taxonomy id of the annotations (``go.taxid``; 9606 human).
    evidence_codes, namespaces : tuple of str or None
        Keep only these gene2go evidence codes / GO namespaces (None: all, as GEARS's pickle).
    universe : str or None
        A gene list file restricting the graph's genes.
    """

    k: int = GRAPH_K
    threshold: float = GRAPH_THRESHOLD
    taxid: int = HUMAN_TAXID
    evidence_codes: tuple[str, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    universe: str | None = None

    def __post_init__(self):
        _integer(self.k, "graph.k", 1)
        _number(self.threshold, "graph.threshold", 0.0, 1.0, high_open=True)
        _integer(self.taxid, "go.taxid", 1)
        for name in ("evidence_codes", "namespaces"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(v, str) for v in value) or not value:
                    raise _bad(f"graph.{name}", f"must be a non-empty list of strings or null, got {value!r}")
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_config(cls, config: Mapping) -> "GraphConfig":
        """From the whole config: the ``graph:`` block and ``go.taxid``."""
        return cls.from_block(config.get("graph") or {}, (config.get("go") or {}).get("taxid"))

    @classmethod
    def from_block(cls, block: Mapping, taxid: int | None = None) -> "GraphConfig":
        """From the ``graph:`` block and the taxonomy id (``go.taxid``; None: the default)."""
        block = dict(block or {})
        _unknown_keys(block, _field_names(cls) - {"taxid"}, "graph")
        return cls(**block, taxid=cls.taxid if taxid is None else taxid)

    def cache_params(self) -> dict:
        """The parameters a cached graph is keyed by (with the input files' content)."""
        return {
            "k": int(self.k),
            "threshold": float(self.threshold),
            "taxid": int(self.taxid),
            **({"evidence_codes": list(self.evidence_codes)} if self.evidence_codes else {}),
            **({"namespaces": list(self.namespaces)} if self.namespaces else {}),
            **({"universe": self.universe} if self.universe else {}),
        }

    def record(self) -> dict:
        """The build parameters as written to ``go_jaccard.stats.json`` (``params``)."""
        return {
            "k": self.k,
            "threshold": self.threshold,
            "evidence_codes": list(self.evidence_codes) if self.evidence_codes is not None else None,
            "namespaces": list(self.namespaces) if self.namespaces is not None else None,
            "universe": self.universe,
        }


#: Environment variable naming the graph cache folder (default ``$XDG_CACHE_HOME/perturb-select``).
GRAPH_CACHE_ENV = "PERTURB_SELECT_CACHE"
#: The GO files looked for in a GO directory, first match wins: the mirror's names (config/config.yaml
#: ``mirror_name``), then the names the pipeline fetches them under (``resources/go/``).
GO_FILE_NAMES = {
    "gene2go": ("gene2go_human.gz", "gene2go.gz"),
    "obo": ("go-basic.obo",),
    "gene_info": ("Homo_sapiens.gene_info.gz", "gene_info.gz"),
}
