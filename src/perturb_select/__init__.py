"""perturb-select: one-shot selection of gene perturbations for Perturb-seq screens.

GraphReach and MaxSpec (Panagopoulos et al. 2025, "Efficient Data Selection for Training Genomic
Perturbation Models") pick every perturbation of a screen up front from the Gene Ontology knowledge graph
that GEARS (Roohani et al. 2023) propagates perturbation embeddings over.
"""

import os as _os

__version__ = "0.1.0"

#: A test hook (tests/test_workflow.py): with PERTURB_SELECT_TRACE_IMPORTS set, every absolute import made
#: by this package's code is recorded, and each stage job writes them out (``pipeline.run_snakemake_stage``)
#: to be checked against the rule's conda environment. Imports made by other packages are theirs to declare.
TRACE_IMPORTS_ENV = "PERTURB_SELECT_TRACE_IMPORTS"
IMPORTED_BY_US: set = set()

if _os.environ.get(TRACE_IMPORTS_ENV):
    import builtins as _builtins

    _import = _builtins.__import__

    def _recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals and str(globals.get("__name__", "")).startswith("perturb_select"):
            IMPORTED_BY_US.add(name.split(".")[0])
        return _import(name, globals, locals, fromlist, level)

    _builtins.__import__ = _recording_import
