"""Rules train_gears and train_gears_active: GEARS and the baselines trained on one cycle's picks, scored on the test set."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.train import train_gears

selection = snakemake.input.selection
if snakemake.output.get("pool_scores"):  # active: the pick files of cycles 1..cycle, however many
    selection = [selection] if isinstance(selection, str) else list(selection)

run_snakemake_stage(
    snakemake,
    train_gears,
    split=snakemake.input.split,
    selection=selection,
    output=snakemake.output.predictions,
    metrics_out=snakemake.output.metrics,
    baselines_out=snakemake.output.baselines,
    dataset=snakemake.wildcards.dataset,
    strategy=snakemake.wildcards.strategy,
    run=snakemake.wildcards.run,
    cycle=int(snakemake.wildcards.cycle),
    gears=snakemake.params.gears,
    per_cycle=snakemake.params.per_cycle,
    edges=snakemake.input.edges,
    screen=snakemake.input.screen,
    kernels=snakemake.input.kernels,
    adata=snakemake.input.get("adata"),
    gene2go=snakemake.input.get("gene2go"),
    work_dir=snakemake.params.work_dir,
    threads=snakemake.threads,
    strategy_params=snakemake.params.strategy_params,
    pool_out=snakemake.output.get("pool_scores"),
    truth=snakemake.input.get("truth"),
)
