"""Rule split_test_set: per seed, a fixed random test set and the pool to select from."""
from perturb_select.pipeline import run_snakemake_stage, split_test_set

run_snakemake_stage(
    snakemake,
    split_test_set,
    candidates=snakemake.input.candidates,
    output=snakemake.output[0],
    seed=int(snakemake.wildcards.seed),
    test_fraction=snakemake.params.test_fraction,
    cycles=snakemake.params.cycles,
    batch_size=snakemake.params.batch_size,
)
