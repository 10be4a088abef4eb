"""Design a screen: candidate gene symbols in, ranked perturbations with their graph coverage out.

For a user who only wants a selection (``perturb-select design``, Snakemake target ``design``):

* ``resolve``: the queried perturbations (single symbols and pairs ``A+B``) onto graph nodes through
  gene_info's official symbols and synonyms, with the reason for every query that is not used;
* ``coverage``: GraphReach or MaxSpec on the candidates, with the receptive-field coverage of the whole
  graph after every pick, and random orders of the same candidates;
* ``plot``: that coverage against the number of picks;
* ``run``: the whole design from gene lists (screened, required and excluded perturbations, cycles) and
  its files, written all together or not at all.

The names below are the package's API.
"""

from .coverage import DESIGN_COLUMNS, coverage_curve, random_coverage, rank_perturbations, reachable_nodes
from .plot import plot_coverage, plot_format
from .resolve import REPORT_COLUMNS, STATUSES, USED_STATUSES, resolution_counts, resolve_candidates
from .run import FLOAT_FORMAT, OPTION_NAMES, DesignResult, design_budget, run_design, write_design

__all__ = [
    "DESIGN_COLUMNS",
    "FLOAT_FORMAT",
    "OPTION_NAMES",
    "REPORT_COLUMNS",
    "STATUSES",
    "USED_STATUSES",
    "DesignResult",
    "coverage_curve",
    "design_budget",
    "plot_coverage",
    "plot_format",
    "random_coverage",
    "rank_perturbations",
    "reachable_nodes",
    "resolution_counts",
    "resolve_candidates",
    "run_design",
    "write_design",
]
