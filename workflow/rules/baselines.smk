rule graph_kernel:
    input:
        edges="results/graph/go_jaccard.npz",
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        "results/baselines/{dataset}/kernels.npz",
    log:
        "logs/graph_kernel/{dataset}.log",
    benchmark:
        "results/benchmarks/graph_kernel/{dataset}.tsv"
    conda:
        "../../envs/go.yaml"
    script:
        "../../scripts/graph_kernel.py"


# no_change, train_mean and the GO kernel ridge model on the picks GEARS trains on: no GEARS, no GPU
rule baselines:
    input:
        screen="results/data/{dataset}/screen.npz",
        kernels="results/baselines/{dataset}/kernels.npz",
        split=split_file,
        selection=selection_input,
    output:
        "results/baselines/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
    log:
        "logs/baselines/{dataset}/{strategy}/seed{seed}/cycle{cycle}.log",
    conda:
        "../../envs/go.yaml"
    params:
        batch_size=batch_size_of,
        active=lambda w: w.strategy in ACTIVE_PARAMS,
    script:
        "../../scripts/baselines.py"
