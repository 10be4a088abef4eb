# perturb-select: one-shot selection of gene perturbations from the GO graph, proven by training GEARS
# cycle by cycle. Entry point: `snakemake --cores N` (see README.md).
#
# The experiment is the config file: profiles/default (Snakemake's workflow profile, read automatically)
# names config/config.yaml, and `--configfile my.yaml` on the command line replaces it, so a config listing
# one strategy runs that strategy alone; `--config key=value` edits whichever file is in use.
from snakemake.utils import min_version

min_version("8.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/go.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/active.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/design.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
