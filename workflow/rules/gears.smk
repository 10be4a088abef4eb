rule train_gears:
    input:
        unpack(training_inputs),
        split=split_file,
        selection="results/select/{dataset}/{strategy}/seed{seed}.tsv",
    output:
        predictions="results/train/{dataset}/{strategy}/seed{seed}/cycle{cycle}/predictions.npz",
    log:
        "logs/train_gears/{dataset}/{strategy}/seed{seed}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/train_gears/{dataset}/{strategy}/seed{seed}/cycle{cycle}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ONE_SHOT_STRATEGIES),
    conda:
        "../../envs/gears.yaml"
    threads: config["gears"].get("threads", 1)
    resources:
        # GPUs only when configured; tasks_per_gpu=0 keeps the SLURM plugin from adding --ntasks-per-gpu
        # (one copy of the job per GPU; clashes with --cpus-per-task: plugin issues 316, 342, 459). Here,
        # not in the profile: a --set-resources on the command line replaces the profile's entry.
        gpu=config["gears"].get("gpus", 0),
        tasks_per_gpu=0,
    params:
        gears=config["gears"],
        strategy_params={},
        batch_size=batch_size_of,
        work_dir=lambda w: f"results/train/{w.dataset}/{w.strategy}/seed{w.seed}/cycle{w.cycle}/gears_work",
    script:
        "../../scripts/train_gears.py"


# An active strategy's training also scores the pool for the next cycle's selection.
use rule train_gears as train_gears_active with:
    input:
        unpack(training_inputs),
        split=split_file,
        selection=active_training_picks,
    output:
        predictions="results/train/{dataset}/{strategy}/seed{seed}/cycle{cycle}/predictions.npz",
        pool_scores="results/train/{dataset}/{strategy}/seed{seed}/cycle{cycle}/pool_scores.npz",
    wildcard_constraints:
        strategy=_alternatives(ACTIVE_STRATEGIES),
    params:
        gears=config["gears"],
        strategy_params=strategy_params,
        batch_size=batch_size_of,
        work_dir=lambda w: f"results/train/{w.dataset}/{w.strategy}/seed{w.seed}/cycle{w.cycle}/gears_work",


rule evaluate:
    input:
        "results/train/{dataset}/{strategy}/seed{seed}/cycle{cycle}/predictions.npz",
    output:
        "results/metrics/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
    log:
        "logs/evaluate/{dataset}/{strategy}/seed{seed}/cycle{cycle}.log",
    conda:
        "../../envs/go.yaml"
    script:
        "../../scripts/evaluate.py"
