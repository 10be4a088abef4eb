"""Rule select: a one-shot strategy's ranking of the whole pool (cycle c trains on the first c x per cycle)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.experiment.runs import run_seeds
from perturb_select.stages.select import select

run_snakemake_stage(
    snakemake,
    select,
    edges=snakemake.input.edges,
    split=snakemake.input.split,
    output=snakemake.output[0],
    strategy=snakemake.wildcards.strategy,
    seed=run_seeds(snakemake.wildcards.run)[1],  # the run's initialisation seed (random's permutation)
    params=snakemake.params.strategy_params,
    per_cycle=snakemake.params.per_cycle,
)
