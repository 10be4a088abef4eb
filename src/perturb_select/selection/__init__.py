"""One-shot selection: every perturbation of the budget picked up front, from the knowledge graph alone.

``base`` (the ``Selection`` result, its TSV form and the shared checks), ``random``, ``graphreach`` and
``maxspec`` (Panagopoulos et al. 2025; ``graphreach`` also weighted by the candidates), ``facility``
(facility location on the candidates' receptive-field overlap), and ``registry`` (the selectors by name).
No model is involved; active learning, which needs a trained model, is ``perturb_select.active``.
"""


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
    if writable(Path(__file__).parent / "__pycache__") or writable(user):
        return
    fallback = Path(tempfile.gettempdir()) / f"perturb-select-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
    if not writable(fallback):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(fallback)
    if "numba" in sys.modules:  # already imported: its config read the environment before
        sys.modules["numba"].config.CACHE_DIR = str(fallback)


# before graphreach and facility compile with cache=True
_numba_cache_fallback()
