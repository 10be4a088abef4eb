"""Rules fetch_go_annotation, fetch_dataset: copy from the mirror or download, verify sha256."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import fetch, run_snakemake_stage

run_snakemake_stage(snakemake, fetch, output=snakemake.output[0], **snakemake.params.source)
