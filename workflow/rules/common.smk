import os

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

GO_FILES = {"gene2go": "gene2go.gz", "obo": "go-basic.obo", "gene_info": "gene_info.gz"}
GO_FILE_KEYS = {name: key for key, name in GO_FILES.items()}
DATASETS = list(config["datasets"])
STRATEGIES = list(config["experiment"]["strategies"])
SEEDS = [int(s) for s in config["experiment"]["seeds"]]
CYCLES = list(range(1, int(config["experiment"]["cycles"]) + 1))
GRAPH_STRATEGIES = {"graphreach", "maxspec"}


wildcard_constraints:
    dataset="|".join(DATASETS),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",
    cycle=r"\d+",
    go_file="|".join(GO_FILES.values()),


def go_path(key):
    return f"resources/go/{GO_FILES[key]}"


def go_source(wildcards):
    """Fetch parameters of one GO file: URL, mirror directory and file name, optional sha256."""
    source = config["go"]["sources"][GO_FILE_KEYS[wildcards.go_file]]
    return {
        "url": source["url"],
        "mirror": config["go"].get("mirror"),
        "mirror_name": source.get("mirror_name"),
        "sha256": source.get("sha256"),
    }


def mirror_file(mirror, name):
    """The mirror copy as an input (so a replaced mirror file is fetched again), or none when absent."""
    if mirror and name and os.path.isfile(os.path.join(mirror, name)):
        return [os.path.join(mirror, name)]
    return []


def go_mirror_input(wildcards):
    source = go_source(wildcards)
    return mirror_file(source["mirror"], source["mirror_name"] or os.path.basename(source["url"] or ""))


def dataset_mirror_input(wildcards):
    source = dataset_source(wildcards)
    return mirror_file(source["mirror"], source["mirror_name"] or os.path.basename(source["url"] or ""))


def graph_universe_input(wildcards):
    """The optional universe gene list: an input, so editing it rebuilds the graph."""
    universe = config["graph"].get("universe")
    return [universe] if universe else []


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_source(wildcards):
    ds = dataset_config(wildcards)
    return {
        "url": ds.get("url"),
        "mirror": ds.get("mirror"),
        "mirror_name": ds.get("mirror_name"),
        "sha256": ds.get("sha256"),
    }


def strategy_params(wildcards):
    """Only this strategy's block reaches its rules, so editing one selector reruns only its jobs."""
    params = dict(config["experiment"]["strategies"][wildcards.strategy] or {})
    if wildcards.strategy in GRAPH_STRATEGIES:
        # K = GEARS's number of GO-graph SGC layers unless the strategy block says otherwise.
        params.setdefault("hops", config["gears"]["num_go_gnn_layers"])
    return params


def training_inputs(wildcards):
    """What a training job reads: the binary screen and graph (batched), or GEARS's own files (cell-gears)."""
    if config["gears"].get("trainer", "batched") == "cell-gears":
        return {
            "adata": f"results/data/{wildcards.dataset}/perturb_processed.h5ad",
            "edges": "results/graph/go_jaccard.tsv",
            "gene2go": "results/graph/gene2go.pkl",
        }
    return {
        "screen": f"results/data/{wildcards.dataset}/screen.npz",
        "edges": "results/graph/go_jaccard.npz",
    }


def all_outputs():
    outputs = [
        "results/graph/go_jaccard.tsv",
        "results/graph/go_jaccard.stats.json",
    ]
    for dataset in DATASETS:
        outputs += [
            f"results/report/{dataset}/summary.tsv",
            f"results/report/{dataset}/metrics.tsv",
            f"results/report/{dataset}/mse_top20_de.svg",
            f"results/report/{dataset}/pearson_delta.svg",
            f"results/report/{dataset}/learning_curves.svg",
        ]
    return outputs


def metric_files(wildcards):
    return expand(
        "results/metrics/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
        dataset=wildcards.dataset,
        strategy=STRATEGIES,
        seed=SEEDS,
        cycle=CYCLES,
    )
