# GEARS trained on each cycle's picks and scored on the test perturbations beside the baselines trained on
# the same picks (perturb_select.stages.train); an active strategy's training also scores the pool for the
# next cycle's selection. None with gears.trainer: none (score_baselines in baselines.smk instead).


rule train_gears:
    input:
        unpack(get_training_inputs),
        kernels="results/baselines/{dataset}/kernels.npz",
        split=get_split,
        selection="results/select/{dataset}/{strategy}/seed{run}.tsv",
    output:
        output="results/train/{dataset}/{strategy}/seed{run}/cycle{cycle}/predictions.npz",
        metrics_out="results/metrics/{dataset}/{strategy}/seed{run}/cycle{cycle}.json",
        baselines_out="results/baselines/{dataset}/{strategy}/seed{run}/cycle{cycle}.json",
    log:
        "logs/train_gears/{dataset}/{strategy}/seed{run}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/train_gears/{dataset}/{strategy}/seed{run}/cycle{cycle}.tsv"
    wildcard_constraints:
        strategy=_alternatives(GEARS_STRATEGIES),
    conda:
        "../../envs/torch-gears.yaml"
    threads: CONFIG.training.threads
    resources:
        # GPUs only when configured; tasks_per_gpu=0 keeps the SLURM plugin from adding --ntasks-per-gpu
        # (one copy of the job per GPU; clashes with --cpus-per-task: plugin issues 316, 342, 459). Here,
        # not in the profile: a --set-resources on the command line replaces the profile's entry.
        gpu=CONFIG.training.gpus,
        tasks_per_gpu=0,
    params:
        gears=GEARS_PARAMS,
        strategy_params={},
        perturbations_per_cycle=get_perturbations_per_cycle,
        dataset="{dataset}",
        strategy="{strategy}",
        run="{run}",
        cycle=lambda wildcards: int(wildcards.cycle),
        work_dir=lambda w: f"results/train/{w.dataset}/{w.strategy}/seed{w.run}/cycle{w.cycle}/gears_work",
    script:
        "../../scripts/run_stage.py"


use rule train_gears as train_gears_active with:
    input:
        unpack(get_training_inputs),
        kernels="results/baselines/{dataset}/kernels.npz",
        split=get_split,
        selection=get_active_training_picks,
    output:
        output="results/train/{dataset}/{strategy}/seed{run}/cycle{cycle}/predictions.npz",
        metrics_out="results/metrics/{dataset}/{strategy}/seed{run}/cycle{cycle}.json",
        baselines_out="results/baselines/{dataset}/{strategy}/seed{run}/cycle{cycle}.json",
        pool_out="results/train/{dataset}/{strategy}/seed{run}/cycle{cycle}/pool_scores.npz",
    wildcard_constraints:
        strategy=_alternatives(ACTIVE_STRATEGIES),
    params:
        gears=GEARS_PARAMS,
        strategy_params=get_strategy_params,
        perturbations_per_cycle=get_perturbations_per_cycle,
        dataset="{dataset}",
        strategy="{strategy}",
        run="{run}",
        cycle=lambda wildcards: int(wildcards.cycle),
        work_dir=lambda w: f"results/train/{w.dataset}/{w.strategy}/seed{w.run}/cycle{w.cycle}/gears_work",
