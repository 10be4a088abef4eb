# A screen, fetched (or, SIMULATED, drawn) and brought into GEARS's layout (perturb_select.stages.data).


rule fetch_dataset:
    input:
        get_dataset_mirror,
    output:
        output="resources/datasets/{dataset}.h5ad",
    log:
        "logs/fetch_dataset/{dataset}.log",
    wildcard_constraints:
        dataset=_alternatives(FETCHED_DATASETS),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=get_dataset_block,
    script:
        "../../scripts/run_stage.py"


rule simulate_dataset:
    input:
        unpack(get_simulation_inputs),
        edges="results/graph/go_jaccard.npz",
        gene_info=go_path("gene_info"),
    output:
        screen_out="results/data/{dataset}/simulated_counts.h5ad",
        truth_out="results/data/{dataset}/simulated_truth.npz",
    log:
        "logs/simulate_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=_alternatives(
            [d for d in SIMULATED_DATASETS if d not in REPLICATED_DATASETS]
        ),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=get_dataset_block,
        taxid=CONFIG.graph.taxid,
        hops=CONFIG.training.num_go_gnn_layers,
        replicate=None,
    script:
        "../../scripts/run_stage.py"


# simulation.replicate_screens: experiment seed {seed} draws its own screen, with its own truth (replicate
# {seed} of the dataset's seed: screens.simulated.simulate_screen), read by that seed's training jobs.
use rule simulate_dataset as simulate_replicate with:
    output:
        screen_out="results/data/{dataset}/replicate{seed}/simulated_counts.h5ad",
        truth_out="results/data/{dataset}/replicate{seed}/simulated_truth.npz",
    log:
        "logs/simulate_dataset/{dataset}/replicate{seed}.log",
    benchmark:
        "results/benchmarks/simulate_dataset/{dataset}/replicate{seed}.tsv"
    wildcard_constraints:
        dataset=_alternatives(REPLICATED_DATASETS),
    params:
        dataset=get_dataset_block,
        taxid=CONFIG.graph.taxid,
        hops=CONFIG.training.num_go_gnn_layers,
        replicate="{seed}",  # the experiment seed


# The candidates of a replicated dataset, once for all its replicates: the candidate list resolved to
# GO-graph nodes, exactly the perturbations every replicate draws. The split, the one-shot selection and
# the graph kernels depend on the candidates alone, so they are not multiplied per replicate (nor rerun when
# a seed is added); preprocess_replicate fails when a replicate's processed screen lacks one of them (or
# has another), so every split gene has cells in every replicate.
rule simulated_candidates:
    input:
        candidates=lambda wildcards: CONFIG.datasets[wildcards.dataset].candidates,
        edges="results/graph/go_jaccard.npz",
        gene_info=go_path("gene_info"),
    output:
        candidates_out=report(
            "results/data/{dataset}/candidates.tsv",
            caption="../report/candidates.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/simulated_candidates/{dataset}.log",
    wildcard_constraints:
        dataset=_alternatives(REPLICATED_DATASETS),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=get_dataset_block,
        taxid=CONFIG.graph.taxid,
    script:
        "../../scripts/run_stage.py"


rule preprocess_dataset:
    input:
        unpack(get_dataset_candidates),
        screen=get_screen,
        edges="results/graph/go_jaccard.tsv",
        gene_info=go_path("gene_info"),
    output:
        adata_out="results/data/{dataset}/perturb_processed.h5ad",
        arrays_out="results/data/{dataset}/screen.npz",
        candidates_out=report(
            "results/data/{dataset}/candidates.tsv",
            caption="../report/candidates.rst",
            category="Data",
            subcategory="{dataset}",
        ),
        dropped_out=report(
            "results/data/{dataset}/dropped.tsv",
            caption="../report/dropped.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/preprocess_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=_alternatives(SINGLE_SCREEN_DATASETS),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=get_dataset_block,
        taxid=CONFIG.graph.taxid,
    script:
        "../../scripts/run_stage.py"


# Replicate {seed} of a replicated SIMULATED dataset, processed as any raw screen and checked against the
# dataset's candidates (rule simulated_candidates); its candidates and dropped tables stay in its folder.
use rule preprocess_dataset as preprocess_replicate with:
    output:
        adata_out="results/data/{dataset}/replicate{seed}/perturb_processed.h5ad",
        arrays_out="results/data/{dataset}/replicate{seed}/screen.npz",
        candidates_out="results/data/{dataset}/replicate{seed}/candidates.tsv",
        dropped_out="results/data/{dataset}/replicate{seed}/dropped.tsv",
    log:
        "logs/preprocess_dataset/{dataset}/replicate{seed}.log",
    benchmark:
        "results/benchmarks/preprocess_dataset/{dataset}/replicate{seed}.tsv"
    wildcard_constraints:
        dataset=_alternatives(REPLICATED_DATASETS),
