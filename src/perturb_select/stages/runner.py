"""The Snakemake glue every rule's job goes through, and the two test hooks.

Every rule runs the one script ``scripts/run_stage.py``, which imports this module first and calls
:func:`run_rule`: the stage function :data:`STAGES` names for the rule is called with the rule's named
inputs, outputs and params, by name (they are exactly its arguments; ``threads`` too when it takes them).
:func:`run_snakemake_stage` runs it: logging and the prints of libraries go to the rule's
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
import importlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

from ..io import InputError  # noqa: E402

log = logging.getLogger("perturb_select")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Rule name -> (module of ``perturb_select.stages``, function): the stage each rule's job runs. A rule made by
#: ``use rule ... as`` runs the stage of the rule it reuses. The module is imported by the job alone, so a job
#: imports only what its rule's conda environment holds.
STAGES = {
    "fetch_go_annotation": ("go", "fetch_go_annotation"),
    "build_go_graph": ("go", "build_go_graph"),
    "fetch_dataset": ("data", "fetch_dataset"),
    "simulate_dataset": ("data", "simulate_dataset"),
    "simulate_replicate": ("data", "simulate_dataset"),
    "simulated_candidates": ("data", "simulated_candidates"),
    "preprocess_dataset": ("data", "preprocess_dataset"),
    "preprocess_replicate": ("data", "preprocess_dataset"),
    "split_test_set": ("select", "split_test_set"),
    "select": ("select", "select"),
    "select_active": ("active", "select_active"),
    "train_gears": ("train", "train_gears"),
    "train_gears_active": ("train", "train_gears"),
    "graph_kernel": ("baselines", "graph_kernel"),
    "score_baselines": ("baselines", "score_baselines"),
    "aggregate_report": ("report", "aggregate_report"),
    "stability": ("report", "stability"),
    "simulated_map": ("report", "simulated_map"),
    "design_screen": ("design", "design_screen"),
    "design": ("design", "design"),
}


def stage_of(rule: str) -> Callable:
    """The stage function of rule ``rule`` (:data:`STAGES`), its module imported now."""
    if rule not in STAGES:
        raise KeyError(f"rule {rule!r} has no stage in perturb_select.stages.runner.STAGES")
    module, name = STAGES[rule]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def rule_arguments(snakemake, stage: Callable) -> dict:
    """The keyword arguments of ``stage`` in a job: the rule's named inputs, outputs and params by their names
    (a named input or output of several files as a list), and ``threads`` when the stage takes it.

    Raises
    ------
    TypeError
        A name given twice, or names that are not exactly the stage's arguments (a rule out of step with its
        stage function).
    """
    arguments = {}
    for group in (snakemake.input, snakemake.output, snakemake.params):
        for name, value in group.items():
            if name in arguments:
                raise TypeError(f"rule {snakemake.rule}: {name!r} is named twice (inputs, outputs, params)")
            arguments[name] = list(value) if group is not snakemake.params and isinstance(value, list) else value
    accepted = inspect.signature(stage).parameters
    if "threads" in accepted:
        arguments["threads"] = snakemake.threads
    try:
        inspect.signature(stage).bind(**arguments)
    except TypeError as err:
        raise TypeError(
            f"rule {snakemake.rule} does not match its stage {stage.__module__}.{stage.__name__} "
            f"(named inputs, outputs and params {sorted(arguments)}): {err}"
        ) from None
    return arguments


def run_rule(snakemake) -> None:
    """A rule's job (``scripts/run_stage.py``): the stage of ``snakemake.rule`` with the rule's arguments
    (:func:`rule_arguments`), through :func:`run_snakemake_stage`. A rule out of step with its stage fails the
    job in its log like bad input."""

    def job():
        stage = stage_of(snakemake.rule)
        stage(**rule_arguments(snakemake, stage))

    run_snakemake_stage(snakemake, job)


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
