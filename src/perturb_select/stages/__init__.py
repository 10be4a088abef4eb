"""One module per rule file of the workflow (``workflow/rules/<name>.smk`` -> ``stages/<name>.py``), one
function per rule, named after it: plain paths and parameters in, files out, so every stage runs and is
tested without Snakemake. ``runner`` holds the Snakemake glue and the test hooks. A stage module imports at
its top what its rules' conda environment must hold (named at the top of each module).
"""
