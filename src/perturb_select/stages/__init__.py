"""One module per rule file of the workflow (``workflow/rules/<name>.smk`` -> ``stages/<name>.py``), one
function per rule, named after it: plain paths and parameters in, files out, so every stage runs and is
tested without Snakemake. ``runner`` holds the Snakemake glue and the test hooks. A stage module imports at
its top what its rules' conda environment must hold (named at the top of each module).

A rule's named inputs, outputs and params are exactly the arguments of its stage function, by name: the one
script of every rule (``scripts/run_stage.py``) passes them (``runner.run_rule``, ``runner.STAGES``).
"""


def as_paths(files) -> list:
    """A named input of any number of files as a list: Snakemake gives a named input of one file as a str."""
    if files is None:
        return []
    return [files] if isinstance(files, (str, bytes)) or hasattr(files, "__fspath__") else list(files)
