"""Rule score_baselines (gears.trainer: none): the baselines of one run and cycle, without GEARS."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.baselines import score_baselines

run_snakemake_stage(
    snakemake,
    score_baselines,
    split=snakemake.input.split,
    selection=snakemake.input.selection,
    baselines_out=snakemake.output.baselines,
    dataset=snakemake.wildcards.dataset,
    strategy=snakemake.wildcards.strategy,
    run=snakemake.wildcards.run,
    cycle=int(snakemake.wildcards.cycle),
    per_cycle=snakemake.params.per_cycle,
    screen=snakemake.input.screen,
    kernels=snakemake.input.kernels,
    truth=snakemake.input.get("truth"),
)
