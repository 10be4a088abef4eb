# The models every GEARS score is reported beside, trained on the same picks and scored on the same split:
# no GEARS, no GPU (perturb_select.stages.baselines).


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
        "../../envs/numeric.yaml"
    script:
        "../../scripts/graph_kernel.py"


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
        "../../envs/numeric.yaml"
    params:
        per_cycle=per_cycle_of,
        active=lambda w: w.strategy in ACTIVE,
    script:
        "../../scripts/baselines.py"
