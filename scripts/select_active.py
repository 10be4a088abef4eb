"""Rule select_active: one cycle's batch of an active strategy (random, GraphReach warm-up, or the model's pick)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.experiment.runs import run_seeds
from perturb_select.stages.active import select_active

picks = snakemake.input.get("picks", [])  # cycles 1..cycle-1: none, one (a str) or several
picks = [picks] if isinstance(picks, str) else list(picks)

run_snakemake_stage(
    snakemake,
    select_active,
    split=snakemake.input.split,
    output=snakemake.output[0],
    strategy=snakemake.wildcards.strategy,
    params=snakemake.params.strategy_params,
    cycle=int(snakemake.wildcards.cycle),
    per_cycle=snakemake.params.per_cycle,
    seed=run_seeds(snakemake.wildcards.run)[1],
    picks=picks,
    pool_scores=snakemake.input.get("pool_scores"),
    edges=snakemake.input.get("edges"),
)
