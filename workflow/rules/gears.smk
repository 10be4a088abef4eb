rule train_gears:
    input:
        unpack(training_inputs),
        split="results/splits/{dataset}/seed{seed}.json",
        selection="results/select/{dataset}/{strategy}/seed{seed}.tsv",
    output:
        predictions="results/train/{dataset}/{strategy}/seed{seed}/cycle{cycle}/predictions.npz",
    params:
        gears=config["gears"],
        batch_size=config["experiment"]["batch_size"],
        work_dir=lambda w: f"results/train/{w.dataset}/{w.strategy}/seed{w.seed}/cycle{w.cycle}/gears_work",
    threads: config["gears"].get("threads", 1)
    resources:
        gpu=config["gears"].get("gpus", 0),
    log:
        "logs/train_gears/{dataset}/{strategy}/seed{seed}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/train_gears/{dataset}/{strategy}/seed{seed}/cycle{cycle}.tsv"
    conda:
        "../../envs/gears.yaml"
    script:
        "../../scripts/train_gears.py"


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
