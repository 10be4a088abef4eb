"""Rule fetch_go_annotation: one GO file from the mirror or its URL, sha256-checked."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.go import fetch_go_annotation

run_snakemake_stage(snakemake, fetch_go_annotation, output=snakemake.output[0], **snakemake.params.source)
