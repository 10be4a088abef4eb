"""Rule select: one-shot ordered picks of a strategy for all cycles."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import run_snakemake_stage, select

run_snakemake_stage(
    snakemake,
    select,
    edges=snakemake.input.edges,
    split=snakemake.input.split,
    output=snakemake.output[0],
    strategy=snakemake.wildcards.strategy,
    seed=int(snakemake.wildcards.seed),
    params=snakemake.params.strategy_params,
    cycles=snakemake.params.cycles,
    batch_size=snakemake.params.batch_size,
)
