# Active learning, cycle by cycle: the batch of cycle c from what cycle c-1's model made of the pool
# (perturb_select.stages.active). The model itself is trained by train_gears_active (train.smk).


rule select_active:
    input:
        unpack(get_active_select_inputs),
    output:
        output="results/select/{dataset}/{strategy}/seed{run}/cycle{cycle}.tsv",
    log:
        "logs/select_active/{dataset}/{strategy}/seed{run}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/select_active/{dataset}/{strategy}/seed{run}/cycle{cycle}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ACTIVE_STRATEGIES),
    conda:
        "../../envs/torch-bmdal.yaml"
    params:
        strategy="{strategy}",
        cycle=lambda wildcards: int(wildcards.cycle),
        seed=get_init_seed,
        strategy_params=get_strategy_params,
        perturbations_per_cycle=get_perturbations_per_cycle,
    script:
        "../../scripts/run_stage.py"
