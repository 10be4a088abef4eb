"""Rule fetch_dataset: a screen from the mirror or its URL (GEARS-layout archives: only the processed file)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.data import fetch_dataset

run_snakemake_stage(
    snakemake, fetch_dataset, output=snakemake.output[0], name=snakemake.wildcards.dataset, dataset=snakemake.params.dataset
)
