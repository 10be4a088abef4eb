"""perturb-select: one-shot selection of gene perturbations for Perturb-seq screens.

GraphReach and MaxSpec (Panagopoulos et al. 2025, "Efficient Data Selection for Training Genomic
Perturbation Models") pick every perturbation of a screen up front from the Gene Ontology knowledge graph
that GEARS (Roohani et al. 2023) propagates perturbation embeddings over. docs/architecture.md maps the
packages: ``knowledge``, ``screens``, ``selection``, ``active``, ``experiment``, ``gears``, ``evaluation``,
``design``, ``stages`` (one module per rule file), ``config`` and ``io``.
"""

__version__ = "0.1.0"


def _numba_cache_fallback() -> None:
    """On a read-only install (and a read-only home), numba's ``cache=True`` finds nowhere to write and
    raises at import ("no locator available"): point its cache at a writable temporary folder instead.
    Nothing changes where the package's ``__pycache__``, numba's user cache or ``NUMBA_CACHE_DIR`` is usable."""
    import os
    import sys
    import tempfile
    from pathlib import Path

    if os.environ.get("NUMBA_CACHE_DIR"):
        return

    def writable(folder: Path) -> bool:  # as numba tries it: create the folder and a file in it
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return True
        except OSError:
            return False

    user = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "numba"
    if writable(Path(__file__).parent / "selection" / "__pycache__") or writable(user):
        return
    fallback = Path(tempfile.gettempdir()) / f"perturb-select-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
    if not writable(fallback):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(fallback)
    if "numba" in sys.modules:  # already imported: its config read the environment before
        sys.modules["numba"].config.CACHE_DIR = str(fallback)


_numba_cache_fallback()
