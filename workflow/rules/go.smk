# The GO annotations and GEARS's Jaccard GO graph (perturb_select.stages.go).


rule fetch_go_annotation:
    input:
        get_go_mirror,
    output:
        output="resources/go/{go_file}",
    log:
        "logs/fetch_go_annotation/{go_file}.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        source=get_go_source,
    script:
        "../../scripts/run_stage.py"


rule build_go_graph:
    input:
        get_universe,  # the graph: block names it (GraphConfig.universe): only a dependency
        gene2go=go_path("gene2go"),
        obo=go_path("obo"),
        gene_info=go_path("gene_info"),
    output:
        # the edge table (409,214 edges, 11 MB) stays out of the report; its caption names the path
        edges_out="results/graph/go_jaccard.tsv",
        npz_out="results/graph/go_jaccard.npz",
        stats_out=report(
            "results/graph/go_jaccard.stats.json",
            caption="../report/go_graph.rst",
            category="Knowledge graph",
        ),
        gene2go_out="results/graph/gene2go.pkl",
    log:
        "logs/build_go_graph.log",
    benchmark:
        "results/benchmarks/build_go_graph.tsv"
    conda:
        "../../envs/numeric.yaml"
    params:
        graph=GRAPH_PARAMS,  # with go.taxid
    script:
        "../../scripts/run_stage.py"
