"""Rule train_gears: GEARS trained on one cycle's picks, predictions for the test perturbations."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import run_snakemake_stage, train_gears
from perturb_select.strategies import run_seeds

selection = snakemake.input.selection
if snakemake.output.get("pool_scores"):  # active: the pick files of cycles 1..cycle, however many
    selection = [selection] if isinstance(selection, str) else list(selection)

run_snakemake_stage(
    snakemake,
    train_gears,
    split=snakemake.input.split,
    selection=selection,
    output=snakemake.output.predictions,
    cycle=int(snakemake.wildcards.cycle),
    seed=run_seeds(snakemake.wildcards.seed)[1],  # the run's initialisation seed
    gears=snakemake.params.gears,
    batch_size=snakemake.params.batch_size,
    edges=snakemake.input.edges,
    screen=snakemake.input.get("screen"),
    adata=snakemake.input.get("adata"),
    gene2go=snakemake.input.get("gene2go"),
    work_dir=snakemake.params.work_dir,
    threads=snakemake.threads,
    strategy_params=snakemake.params.strategy_params,
    pool_out=snakemake.output.get("pool_scores"),
)
