# perturb-select: one-shot selection of gene perturbations from the GO graph, proven by training GEARS
# cycle by cycle. Entry point: `snakemake --cores N` (see README.md).
from snakemake.utils import min_version

min_version("8.0")


# The default experiment, unless a config file is passed: `--configfile my.yaml` is then the whole experiment
# (Snakemake would otherwise merge it into this file, so strategies or datasets could not be removed);
# `--config key=value` still edits the default.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/go.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/gears.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/design.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
