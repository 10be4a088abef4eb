"""The script of every rule: runs the stage function the rule is named for (``perturb_select.stages.runner
.STAGES``) with the rule's named inputs, outputs and params as its arguments, by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_rule  # first: the test hooks' import trace

run_rule(snakemake)
