"""The Snakemake glue every rule's script goes through, and the two test hooks.

A script under ``scripts/`` imports :func:`run_snakemake_stage` first, then its stage function, and calls
``run_snakemake_stage(snakemake, stage, **arguments)``: logging and the prints of libraries go to the rule's
log; bad input ends the job with one clear line and exit status 1 (Snakemake removes its outputs); a job
that succeeded ends its process at once (:func:`end_job_process`). :func:`run_stage` is the same without
ending the process (tests call it in theirs).

Test hooks, inert unless their environment variable is set (no config reaches them):

* ``PERTURB_SELECT_TRACE_IMPORTS=DIR`` (``tests/test_workflow.py``): while this module is loaded, every
  absolute import made by perturb_select's own code is recorded, and each job writes the top-level names
  to ``DIR/<rule>/<pid>.txt``, to be checked against the rule's conda environment. The recorder is
  installed here, not at package import, and scripts import this module before their stage module.
* ``PERTURB_SELECT_TEST_FAULT`` (``tests/test_slurm.py``): ``RULE:once:DIR`` fails the first job of rule
  RULE (a marker file in DIR records it), ``RULE:always`` fails every job of RULE.
"""

from __future__ import annotations

import os

TRACE_IMPORTS_ENV = "PERTURB_SELECT_TRACE_IMPORTS"
FAULT_ENV = "PERTURB_SELECT_TEST_FAULT"
#: Top-level modules imported by perturb_select's code in this process (only with the trace variable set).
IMPORTED_BY_US: set = set()


def _install_import_trace() -> None:
    import builtins

    original = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals and str(globals.get("__name__", "")).startswith("perturb_select"):
            IMPORTED_BY_US.add(name.split(".")[0])
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = recording_import


if os.environ.get(TRACE_IMPORTS_ENV):  # before anything else of the package is imported by the script
    _install_import_trace()

import contextlib  # noqa: E402 - after the trace hook on purpose
import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

from ..io import InputError  # noqa: E402

log = logging.getLogger("perturb_select")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_snakemake_stage(snakemake, stage: Callable, **kwargs) -> None:
    """A rule's job: :func:`run_stage`, then, when it succeeded, :func:`end_job_process` (exit status 0)."""
    run_stage(snakemake, stage, **kwargs)
    end_job_process()


def end_job_process() -> None:
    """End a finished job's process with status 0 without the interpreter's teardown.

    The outputs are written and closed (``io.atomic_open`` renames them into place) and the log is flushed
    here, so the teardown has nothing left to do for the job; with torch loaded it took 0.6 s of the 1.7 s
    that ``python -c "import torch"`` takes (measured), paid by every training and active-selection job.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_stage(snakemake, stage: Callable, **kwargs) -> None:
    """Run ``stage(**kwargs)`` with logging (and the stdout/stderr of libraries) sent to the rule's log.

    Bad input (``InputError`` and the other ``ValueError``s, missing files or keys) is reported as one
    clear line, anything else with its traceback; both go to the log and to Snakemake's stderr, and the
    job ends with exit status 1, so Snakemake removes its outputs.
    """
    rule = getattr(snakemake, "rule", "")
    log_path = snakemake.log[0] if len(snakemake.log) else None
    message = None
    with _redirect_to_log(log_path):
        try:
            _injected_fault(rule)
            stage(**kwargs)
        except (InputError, ValueError, KeyError, FileNotFoundError) as err:
            message = f"{type(err).__name__}: {err}"
            log.error("%s", message)
        except Exception as err:  # noqa: BLE001 - report, then fail the job
            message = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
            log.error("%s", message)
    if message is not None:
        sys.stderr.write(f"ERROR in rule {rule or '?'}: {message}\n")
        raise SystemExit(1)
    _write_import_trace(rule or "unknown")


def _write_import_trace(rule: str) -> None:
    """Write the top-level modules this package's code imported in this job (nothing without the variable)."""
    folder = os.environ.get(TRACE_IMPORTS_ENV)
    if not folder:
        return
    path = Path(folder) / rule / f"{os.getpid()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sorted(IMPORTED_BY_US)) + "\n")


def _injected_fault(rule: str) -> None:
    """Raise ``RuntimeError`` when ``$PERTURB_SELECT_TEST_FAULT`` asks this rule's job to fail."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, mode, *rest = spec.split(":", 2) + [""]
    if target != rule:
        return
    if mode == "always":
        raise RuntimeError(f"fault injected by {FAULT_ENV} (every {rule} job fails)")
    if mode == "once":
        marker = Path(rest[0]) / f"{rule}.failed-once"
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
        raise RuntimeError(f"fault injected by {FAULT_ENV} (the first {rule} job fails)")


@contextlib.contextmanager
def _redirect_to_log(log_path):
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as handle:
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        previous = root.handlers[:]
        root.handlers = [handler]
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved_out, saved_err
            root.handlers = previous
