"""Rule select: a one-shot strategy's ranking of the whole pool (cycle c trains on the first c x batch)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import run_snakemake_stage, select
from perturb_select.strategies import run_seeds

run_snakemake_stage(
    snakemake,
    select,
    edges=snakemake.input.edges,
    split=snakemake.input.split,
    output=snakemake.output[0],
    strategy=snakemake.wildcards.strategy,
    seed=run_seeds(snakemake.wildcards.seed)[1],  # the run's initialisation seed (random's permutation)
    params=snakemake.params.strategy_params,
    batch_size=snakemake.params.batch_size,
)
