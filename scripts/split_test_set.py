"""Rule split_test_set: per seed, a fixed random test set and the pool to select from."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.select import split_test_set

run_snakemake_stage(
    snakemake,
    split_test_set,
    candidates=snakemake.input.candidates,
    output=snakemake.output[0],
    seed=int(snakemake.wildcards.seed),
    test_fraction=snakemake.params.test_fraction,
    # only checked (cycles x perturbations per cycle must fit the pool), not a param: adding a cycle must
    # not redo the split
    cycles=snakemake.config["experiment"]["cycles"],
    per_cycle=snakemake.params.per_cycle,
)
