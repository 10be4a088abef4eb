"""Rule stability: how much each strategy's picks change across model initialisations on one split."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.report import stability

run_snakemake_stage(
    snakemake,
    stability,
    runs=snakemake.params.runs,
    kinds=snakemake.params.kinds,
    per_cycle=snakemake.params.per_cycle,
    cycles=snakemake.params.cycles,
    table_out=snakemake.output.table,
    plot_out=snakemake.output.plot,
    dataset=snakemake.params.dataset,
    simulated=snakemake.params.simulated,
)
