"""Rule simulated_map: each strategy minus random across the SIMULATED truths, per model and cycle."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.report import simulated_map

run_snakemake_stage(
    snakemake,
    simulated_map,
    metrics=list(snakemake.input.metrics),
    datasets=snakemake.params.datasets,
    truths=snakemake.params.truths,
    cycles=snakemake.params.cycles,
    table_out=snakemake.output.table,
    figure_out=snakemake.output.figure,
)
