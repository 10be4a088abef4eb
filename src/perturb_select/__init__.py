"""perturb-select: one-shot selection of gene perturbations for Perturb-seq screens.

GraphReach and MaxSpec (Panagopoulos et al. 2025, "Efficient Data Selection for Training Genomic
Perturbation Models") pick every perturbation of a screen up front from the Gene Ontology knowledge graph
that GEARS (Roohani et al. 2023) propagates perturbation embeddings over. docs/architecture.md maps the
packages: ``knowledge``, ``screens``, ``selection``, ``active``, ``experiment``, ``gears``, ``evaluation``,
``design``, ``stages`` (one module per rule file), ``config`` and ``io``.
"""

__version__ = "0.1.0"
