"""Rule baselines: no change, training mean and GO kernel ridge on one cycle's picks, scored on the test set."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.baselines import baselines

selection = snakemake.input.selection
if snakemake.params.active:  # the pick files of cycles 1..cycle, however many
    selection = [selection] if isinstance(selection, str) else list(selection)
wildcards = snakemake.wildcards

run_snakemake_stage(
    snakemake,
    baselines,
    screen=snakemake.input.screen,
    kernels=snakemake.input.kernels,
    split=snakemake.input.split,
    selection=selection,
    output=snakemake.output[0],
    dataset=wildcards.dataset,
    strategy=wildcards.strategy,
    seed=int(wildcards.seed),
    cycle=int(wildcards.cycle),
    per_cycle=snakemake.params.per_cycle,
)
