"""Rule baselines: no change, training mean and GO kernel ridge on one cycle's picks, scored on the test set."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import baselines, run_snakemake_stage

selection = snakemake.input.selection
if snakemake.params.active:  # the pick files of cycles 1..cycle, however many
    selection = [selection] if isinstance(selection, str) else list(selection)

run_snakemake_stage(
    snakemake,
    baselines,
    screen=snakemake.input.screen,
    kernels=snakemake.input.kernels,
    split=snakemake.input.split,
    selection=selection,
    cycle=int(snakemake.wildcards.cycle),
    batch_size=snakemake.params.batch_size,
    output=snakemake.output[0],
    wildcards=dict(snakemake.wildcards.items()),
)
