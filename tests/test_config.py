"""The typed config blocks: one home for every default (the schema documents the same values), renamed keys
named with their new name, and the checks that span blocks."""

import dataclasses
import re

import pytest
import yaml

from conftest import REPO
from perturb_select.config import (
    DESIGN_METHODS,
    GEARS_SCHEDULE,
    RENAMED_KEYS,
    DatasetConfig,
    DesignConfig,
    ExperimentConfig,
    GraphConfig,
    SimulationConfig,
    StabilityConfig,
    TrainingConfig,
    check_before_schema,
    check_renamed_keys,
    load_config,
)
from perturb_select.io import InputError

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _properties(*path):
    node = SCHEMA
    for key in path:
        node = node["properties"][key] if key != "*" else node["additionalProperties"]
    return node["properties"]


# block of the schema -> dataclass, and the schema keys that are not fields of the dataclass
BLOCKS = [
    (("graph",), GraphConfig, set()),
    (("datasets", "*"), DatasetConfig, {"mirror", "url", "mirror_name", "sha256", "simulation"}),
    (("datasets", "*", "simulation"), SimulationConfig, set()),
    (("experiment",), ExperimentConfig, {"seeds", "cycles", "perturbations_per_cycle", "strategies", "stability"}),
    (("experiment", "stability"), StabilityConfig, set()),
    (
        ("design", "*"),
        DesignConfig,
        {"genes", "budget", "cycles", "perturbations_per_cycle", "screened", "require", "exclude"},
    ),
    (("gears",), TrainingConfig, set()),
]


@pytest.mark.parametrize("path, cls, without_default", BLOCKS, ids=[".".join(b[0]) for b in BLOCKS])
def test_schema_defaults_equal_the_dataclass_defaults(path, cls, without_default):
    properties = _properties(*path)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
    # every field is a schema key (taxid lives in the go block), and the other way round
    assert set(properties) - {"format"} <= set(fields) | without_default, path
    for name, spec in properties.items():
        if name in without_default:
            assert "default" not in spec or spec["default"] is None, name
            continue
        assert "default" in spec, f"{'.'.join(path)}.{name} documents no default"
        value = fields[name].default
        assert spec["default"] == value, f"{'.'.join(path)}.{name}: schema {spec['default']!r}, dataclass {value!r}"
    assert _properties("go")["taxid"]["default"] == GraphConfig.taxid


def test_every_config_loads_into_typed_blocks():
    for name in ("config.yaml", "test.yaml", "paper.yaml", "simulated.yaml"):
        config = load_config(yaml.safe_load((REPO / "config" / name).read_text()))
        assert config.experiment.perturbations_per_cycle >= 1
        assert set(config.experiment.strategies) >= {"random", "graphreach", "maxspec"}
    paper = load_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    assert (
        paper.perturbations_per_cycle_of("replogle_k562_essential"),
        paper.perturbations_per_cycle_of("adamson"),
    ) == (100, 8)
    assert paper.training == TrainingConfig(trainer="cells", **GEARS_SCHEDULE, threads=4, gpus=1)  # GEARS's own
    main = load_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    # K = gears.num_go_gnn_layers; the tie rule written out (a change of its default reruns its jobs)
    assert main.experiment.strategies["graphreach"] == {"hops": 1, "tie_break": "lookahead"}
    assert main.experiment.stability_seeds == [(1, 1), (1, 2), (1, 3)]
    assert main.designs["k562_after_adamson"].hops == 1 and main.designs["k562_after_adamson"].lists() == {
        "screened": "../shared/data/genelists/adamson2016_genes.txt"
    }


@pytest.mark.parametrize("old", sorted(RENAMED_KEYS))
def test_renamed_keys_name_their_new_name(old):
    *parents, leaf = old.split(".")
    config, node = {}, None
    node = config
    for part in parents:
        node = node.setdefault("x" if part == "*" else part, {})
    node[leaf] = 1
    new, meaning = RENAMED_KEYS[old]
    with pytest.raises(InputError) as err:
        check_renamed_keys(config)
    where = ".".join("x" if p == "*" else p for p in parents)
    assert err.value.field == f"{where}.{leaf}"
    assert err.value.problem == f"renamed to {where}.{new} ({meaning})"


def test_stability_initialisations_are_bounded_in_the_schema_and_the_config():
    """`experiment.stability.inits: 100000` once made a dry run take minutes."""
    from perturb_select.config import MAX_STABILITY_INITS

    assert StabilityConfig(inits=MAX_STABILITY_INITS).inits == 100
    with pytest.raises(InputError, match="experiment.stability.inits.*at most 100 .*got 100000"):
        StabilityConfig(inits=100_000)
    schema = _properties("experiment", "stability")["inits"]
    assert schema["maximum"] == MAX_STABILITY_INITS


def test_simulated_datasets_are_named_simulated_and_take_their_own_keys():
    simulated = load_config(yaml.safe_load((REPO / "config" / "simulated.yaml").read_text()))
    truths = {
        name: (block.simulation.mechanism, block.simulation.graph_signal) for name, block in simulated.datasets.items()
    }
    assert truths == {
        "simulated_kernel_gs0": ("kernel", 0.0),
        "simulated_kernel_gs09": ("kernel", 0.9),
        "simulated_rf_gs0": ("receptive_field", 0.0),
        "simulated_rf_gs09": ("receptive_field", 0.9),
    }
    assert all(block.simulated and block.cell_type == "simulated" for block in simulated.datasets.values())
    # the YAML anchor's settings, shared by the four screens
    assert all(
        block.simulation.n_genes == 1200 and block.simulation.replicate_screens for block in simulated.datasets.values()
    )
    assert len(simulated.experiment.seeds) == 10
    block = {"format": "simulated", "candidates": "c.txt", "reference": "r.h5ad"}
    with pytest.raises(InputError, match="datasets.screen_a.*must contain 'simulated'"):
        DatasetConfig.from_config("screen_a", block)
    with pytest.raises(InputError, match="datasets.simulated_a.reference.*needs it"):
        DatasetConfig.from_config("simulated_a", {**block, "reference": None})
    with pytest.raises(InputError, match="datasets.papalexi.candidates.*only a simulated dataset"):
        DatasetConfig.from_config("papalexi", {"cell_type": "THP-1", "candidates": "c.txt"})
    with pytest.raises(InputError, match="datasets.simulated_a.simulation.graph_signal"):
        DatasetConfig.from_config("simulated_a", {**block, "simulation": {"graph_signal": 1.5}})
    with pytest.raises(InputError, match="datasets.simulated_a.simulation.*noise"):
        DatasetConfig.from_config("simulated_a", {**block, "simulation": {"noise": 1}})
    assert DatasetConfig.from_config(
        "simulated_a", {**block, "simulation": {"graph_signal": 0}}
    ).simulation == SimulationConfig(graph_signal=0.0)


def test_empty_config_and_cross_block_errors():
    with pytest.raises(InputError, match="no configuration: pass --configfile"):
        check_before_schema({})
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["gears"].update(trainer="cell-gears", **GEARS_SCHEDULE)
    with pytest.raises(
        InputError,
        match=r"gears.trainer.*active strategies \['acsfw', 'hybrid', 'typiclust', "
        r"'uncertainty'\] need a trainer that scores the pool",
    ):
        load_config(config)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["experiment"]["strategies"]["graphreach"] = {"hopz": 2}
    with pytest.raises(InputError, match="experiment.strategies.graphreach.hopz"):
        load_config(config)
    with pytest.raises(InputError, match="gears.epochz.*unknown key"):
        TrainingConfig.from_config({"epochz": 3})
    with pytest.raises(InputError, match="datasets.s.cell_type"):
        DatasetConfig.from_config("s", {})
    with pytest.raises(InputError, match="design.d.method"):
        DesignConfig.from_config("d", {"genes": "g.txt", "budget": 5, "method": "random"}, default_hops=1)
    assert DesignConfig.from_config("d", {"genes": "g.txt", "budget": 5, "hops": 2}, default_hops=1).hops == 2
    assert DesignConfig.from_config("d", {"genes": "g.txt", "budget": 5}, default_hops=1).weights == "uniform"
    assert (
        DesignConfig.from_config("d", {"genes": "g.txt", "budget": 5, "method": "facility"}, default_hops=1).method
        == "facility"
    )
    with pytest.raises(InputError, match="'design.d.weights': must be one of uniform, candidates"):
        DesignConfig.from_config("d", {"genes": "g.txt", "budget": 5, "weights": "degree"}, default_hops=1)
    with pytest.raises(InputError, match="'design.d.weights': only graphreach takes weights"):
        DesignConfig.from_config(
            "d", {"genes": "g.txt", "budget": 5, "method": "maxspec", "weights": "candidates"}, default_hops=1
        )
    # the plan is checked with the config, before any job: a budget, or cycles and perturbations per cycle
    for entry, key, problem in (
        ({"budget": 5, "cycles": 1, "perturbations_per_cycle": 5}, "budget/cycles", "not both"),
        ({"cycles": 2}, "cycles", "needs both"),
        ({}, "budget", "give a budget"),
    ):
        with pytest.raises(InputError, match=f"'design.d.{key}': .*{problem}"):
            DesignConfig.from_config("d", {"genes": "g.txt", **entry}, default_hops=1)
    assert DatasetConfig.from_config("g", {"format": "gears"}).source()["archive_member"] == "perturb_processed.h5ad"
    assert DatasetConfig.from_config("r", {"cell_type": "T"}).source()["archive_member"] is None


def test_trainer_registry_matches_the_config():
    """The trainer names are written once (config.trainers.TRAINER_REGISTRY): the config, gears and the schema's
    enum read or equal it, and every registered module holds its model class or function (found without
    importing torch)."""
    import ast
    import importlib.util

    from perturb_select.config import GEARS_TRAINERS, NO_TRAINER, POOL_SCORING_TRAINERS, TRAINER_REGISTRY, TRAINERS
    from perturb_select.gears import TRAINER_INPUTS
    from perturb_select.gears import TRAINERS as IMPLEMENTATIONS

    assert TRAINERS == tuple(TRAINER_REGISTRY) and set(GEARS_TRAINERS) == set(IMPLEMENTATIONS) == set(TRAINER_INPUTS)
    assert set(TRAINERS) == set(GEARS_TRAINERS) | {NO_TRAINER} and NO_TRAINER not in IMPLEMENTATIONS
    assert POOL_SCORING_TRAINERS == ("perturbations", "cells")
    assert SCHEMA["properties"]["gears"]["properties"]["trainer"]["enum"] == list(TRAINERS)
    assert not TrainingConfig(trainer="none").trains_gears and TrainingConfig().trains_gears
    for name, (module, function) in IMPLEMENTATIONS.items():
        tree = ast.parse(open(importlib.util.find_spec(module).origin).read())
        entry = TRAINER_REGISTRY[name]
        kind = ast.ClassDef if entry.model_class else ast.FunctionDef
        assert function in {node.name for node in tree.body if isinstance(node, kind)}, name
        assert set(entry.inputs) <= {"screen", "edges", "adata", "gene2go"} and entry.edge_file.startswith(
            "go_jaccard."
        )
        assert entry.rows_per_step in {f.name for f in dataclasses.fields(TrainingConfig)}
    from perturb_select.config import TRAINER_OF_MODULE
    from perturb_select.gears import cell_gears

    # each trainer module records its runs under its registered name
    assert {name: module for module, name in TRAINER_OF_MODULE.items()} == {
        name: module for name, (module, _) in IMPLEMENTATIONS.items()
    }
    assert cell_gears.TRAINER == "cell-gears" == cell_gears.train_and_predict.__kwdefaults__["config"].trainer


def test_no_trainer_refuses_the_active_strategies_naming_them():
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["gears"]["trainer"] = "none"
    expected = (
        r"config, field 'experiment\.strategies\.acsfw': an active strategy selects from GEARS's "
        r"predictions of the pool, and gears\.trainer: none trains no GEARS: remove "
        r"experiment\.strategies\.acsfw, experiment\.strategies\.hybrid, experiment\.strategies\.typiclust, "
        r"experiment\.strategies\.uncertainty, or set gears\.trainer to perturbations or cells"
    )
    with pytest.raises(InputError, match=expected):
        load_config(config)
    config["experiment"]["strategies"] = {"random": {}, "graphreach": {}, "typiclust": {}}
    with pytest.raises(InputError, match=r"'experiment\.strategies\.typiclust'.*gears\.trainer: none"):
        load_config(config)
    del config["experiment"]["strategies"]["typiclust"]
    assert load_config(config).training.trainer == "none"


def test_one_shot_strategy_blocks_of_the_schema_take_the_selectors_parameters():
    """Every one-shot strategy has a schema block whose keys its selector takes; none has a schema default
    (``validate`` would fill it in and change the parameters of every existing select job); the one home of
    their defaults is the selector's signature."""
    import inspect

    from perturb_select.selection.graphreach import graphreach
    from perturb_select.strategies import GRAPHREACH_WEIGHTS, ONE_SHOT, ONE_SHOT_PARAMETERS

    blocks = _properties("experiment", "strategies")
    for name in ONE_SHOT:
        keys = blocks[name].get("properties", {})
        assert set(keys) <= set(ONE_SHOT_PARAMETERS[name]), name
        assert all("default" not in spec for spec in keys.values()), name
    assert blocks["graphreach"]["properties"]["weights"]["enum"] == list(GRAPHREACH_WEIGHTS)
    design = _properties("design", "*")
    assert design["weights"]["enum"] == list(GRAPHREACH_WEIGHTS) and design["method"]["enum"] == list(DESIGN_METHODS)
    assert inspect.signature(graphreach).parameters["weights"].default == GRAPHREACH_WEIGHTS[0] == "uniform"


def test_facility_and_weighted_graphreach_in_a_config():
    """The schema (as snakemake's validate reads it) and the typed blocks take both; the strategies' parameters
    are what their select jobs get."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["experiment"]["strategies"].update(facility={}, graphreach={"weights": "candidates"})
    config["design"]["replogle_k562"].update(method="graphreach", weights="candidates")
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    loaded = load_config(config)
    assert loaded.experiment.strategies["facility"] == {"hops": 1}
    assert loaded.experiment.strategies["graphreach"] == {"hops": 1, "weights": "candidates", "tie_break": "lookahead"}
    assert loaded.designs["replogle_k562"].weights == "candidates"
    config["experiment"]["strategies"]["graphreach"] = {"weights": "degree"}
    with pytest.raises(Exception, match="degree"):
        validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))


def test_a_variant_runs_the_strategy_it_names_beside_it():
    """graphreach and graphreach_weighted side by side: the schema and the typed config take both, the variant
    keeps variant_of (its rules run graphreach with its own weights), the plain one's parameters are as before
    (no new key, so existing select jobs are not rerun), and the variant's values are checked by the library."""
    from snakemake.utils import validate

    from perturb_select.io import InputError
    from perturb_select.strategies import ALL

    schema = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["experiment"]["strategies"].update(
        graphreach={}, graphreach_weighted={"variant_of": "graphreach", "weights": "candidates"}
    )
    validate(config, schema)
    loaded = load_config(config).experiment
    assert loaded.strategies["graphreach"] == {"hops": 1, "tie_break": "lookahead"}
    assert loaded.strategies["graphreach_weighted"] == {
        "hops": 1,
        "weights": "candidates",
        "tie_break": "lookahead",
        "variant_of": "graphreach",
    }
    assert loaded.method("graphreach_weighted") == "graphreach" and not loaded.is_active("graphreach_weighted")
    # the schema's list of strategies a variant may name is strategies.ALL
    pattern = _properties("experiment", "strategies")
    (variant,) = SCHEMA["properties"]["experiment"]["properties"]["strategies"]["patternProperties"].values()
    assert variant["properties"]["variant_of"]["enum"] == list(ALL)
    assert set(ALL) <= set(pattern)
    for block, message in [
        ({"variant_of": "graphreach", "weights": "degree"}, "graphreach_weighted.weights"),
        ({"variant_of": "graphreach", "direction": "up"}, "graphreach_weighted.direction"),
        ({"variant_of": "maxspec", "direction": "up"}, "graphreach_weighted.direction"),
        ({"variant_of": "maxspec", "shortlist": 0}, "graphreach_weighted.shortlist"),
        ({"variant_of": "greedy"}, "graphreach_weighted.variant_of"),
    ]:
        config["experiment"]["strategies"]["graphreach_weighted"] = block
        with pytest.raises(InputError, match=message):
            load_config(config)
    # a known strategy's name cannot run another strategy, and a variant without variant_of is unknown
    config["experiment"]["strategies"]["graphreach_weighted"] = {"variant_of": "graphreach"}
    config["experiment"]["strategies"]["maxspec"] = {"variant_of": "graphreach"}
    with pytest.raises(InputError, match="experiment.strategies.maxspec.variant_of"):
        load_config(config)
    del config["experiment"]["strategies"]["maxspec"]
    config["experiment"]["strategies"]["typo"] = {}
    with pytest.raises(Exception, match="variant_of"):
        validate(config, schema)
    with pytest.raises(InputError, match="experiment.strategies.typo.*unknown strategy"):
        load_config(config)


# --------------------------------------------------------------------------------------------------
# Issue 27: every number finite and in its range; config text (alias bombs, names, renamed values, order)
# --------------------------------------------------------------------------------------------------


def _schema_leaves(node=None, path=()):
    """(dotted path with '*' for any name, spec) of every leaf property of the schema."""
    node = SCHEMA if node is None else node
    for name, spec in node.get("properties", {}).items():
        if "properties" in spec:
            yield from _schema_leaves(spec, path + (name,))
        elif isinstance(spec.get("additionalProperties"), dict):
            yield from _schema_leaves(spec["additionalProperties"], path + (name, "*"))
        else:
            yield ".".join(path + (name,)), spec


def _types(spec) -> set:
    kind = spec.get("type", spec.get("items", {}).get("type") if spec.get("type") == "array" else None)
    kinds = set(kind if isinstance(kind, list) else [kind])
    if spec.get("type") == "array":
        kinds |= {spec["items"].get("type")}
    return kinds


NUMBER_KEYS = sorted(path for path, spec in _schema_leaves() if "number" in _types(spec))
INTEGER_KEYS = sorted(path for path, spec in _schema_leaves() if "integer" in _types(spec))


def _config_with(dotted: str, value):
    """A repository config with ``dotted`` (a schema path, '*' the first entry) set to ``value``, and the
    key path an error should name."""
    base = "simulated.yaml" if ".simulation." in dotted else "test.yaml"
    config = yaml.safe_load((REPO / "config" / base).read_text())
    node, named = config, []
    *parents, leaf = dotted.split(".")
    for key in parents:
        key = next(iter(node)) if key == "*" else key
        node = node.setdefault(key, {}) if node.get(key) is not None else node.__setitem__(key, {}) or node[key]
        named.append(key)
    node[leaf] = value
    return config, ".".join(named + [leaf])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dotted", NUMBER_KEYS)
def test_every_number_of_every_block_must_be_finite(dotted, value):
    """The schema's minimum and maximum never reject NaN (`gears.lr: .nan` trained nothing and reported the
    untrained model): one walk over the whole config refuses it, before the schema and any job."""
    assert len(NUMBER_KEYS) >= 18  # graph, simulation, experiment, the active strategies, gears
    config, named = _config_with(dotted, value)
    with pytest.raises(InputError) as err:
        check_before_schema(config)
    assert (err.value.field, err.value.problem) == (named, f"must be a finite number, got {value!r}")
    with pytest.raises(InputError, match="finite"):
        load_config(config)


def _typed(dotted: str, value):
    """Build the typed block that holds ``dotted`` with ``value`` (one key set, the others defaults)."""
    block, key = dotted.rsplit(".", 1)
    if block == "go":
        return GraphConfig.from_block({}, taxid=value)
    if block == "graph":
        return GraphConfig.from_block({key: value})
    if block == "datasets.*":
        return DatasetConfig.from_config("d", {"cell_type": "T", key: value})
    if block == "datasets.*.simulation":
        return SimulationConfig.from_config({key: value})
    if block == "experiment.stability":
        return StabilityConfig(**{key: value})
    if block == "experiment":
        plan = {"seeds": [1], "cycles": 2, "perturbations_per_cycle": 1, "strategies": {"random": {}}}
        return ExperimentConfig.from_config({"experiment": {**plan, key: [value] if key == "seeds" else value}})
    if block == "design.*":
        plan = (
            {"cycles": 1, "perturbations_per_cycle": 1}
            if key in ("cycles", "perturbations_per_cycle")
            else {"budget": 1}
        )
        return DesignConfig.from_config("d", {"genes": "g.txt", **plan, key: value}, default_hops=1)
    if block == "gears":
        return TrainingConfig.from_config({key: value})
    raise AssertionError(f"no typed block for {dotted}")


def _schema_takes(dotted: str, value) -> bool:
    import jsonschema

    spec = dict(_schema_leaves())[dotted]
    spec = spec["items"] if spec.get("type") == "array" else spec
    return jsonschema.Draft202012Validator(spec).is_valid(value)


def _typed_takes(dotted: str, value) -> bool:
    try:
        _typed(dotted, value)
    except InputError:
        return False
    return True


TYPED_NUMBERS = [key for key in NUMBER_KEYS + INTEGER_KEYS if not key.startswith("experiment.strategies.")]


@pytest.mark.parametrize("dotted", TYPED_NUMBERS)
def test_number_ranges_of_the_schema_and_the_typed_blocks_agree(dotted):
    """At each end of every range (and just past it), the schema and the typed block take the same values;
    every integer has a finite maximum, the one of its key in config.MAX_INTEGER (config/README.md lists
    them all); no block takes NaN or infinity."""
    from perturb_select.config import MAX_INTEGER

    spec = dict(_schema_leaves())[dotted]
    spec = spec["items"] if spec.get("type") == "array" else spec
    integer = "integer" in _types(spec)
    step = 1 if integer else 1e-9
    if integer:
        assert spec["maximum"] == MAX_INTEGER[dotted.rsplit(".", 1)[1]][0], dotted
    probes = []
    for bound in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        if bound in spec:
            probes += [spec[bound] - step, spec[bound], spec[bound] + step]
    if not integer:
        probes.append(1e300)
    for value in probes:
        if integer and value < 0:
            continue  # no key takes a negative integer; a negative seed is refused by both all the same
        assert _schema_takes(dotted, value) == _typed_takes(dotted, value), (dotted, value)
    # the schema's bounds take NaN (every comparison with it is false): the typed blocks, and the walk of
    # check_before_schema before the schema, refuse it and infinity
    assert not any(_typed_takes(dotted, value) for value in (float("nan"), float("inf"), float("-inf")))


def test_integers_of_the_strategy_blocks_are_bounded_before_the_schema():
    """The strategy blocks' integers (their checks live in strategies.py) are bounded by the same walk."""
    config, _ = _config_with("experiment.strategies.typiclust.neighbours", 10**12)
    with pytest.raises(
        InputError,
        match=r"'experiment\.strategies\.typiclust\.neighbours': must be at most 10000 "
        r"\(the maximum: neighbours per candidate\), got 1000000000000",
    ):
        check_before_schema(config)
    config, _ = _config_with("experiment.cycles", 10**12)  # exhausted memory while the config was read
    with pytest.raises(InputError, match=r"'experiment\.cycles': must be at most 1000 "):
        load_config(config)


def test_a_yaml_alias_bomb_is_refused_in_one_line():
    """1.9 KB of nested aliases under an unknown key made the schema's error print megabytes."""
    levels = ["a: &a [" + ", ".join(["1"] * 10) + "]"]
    for i, name in enumerate("bcde"):
        previous = "abcde"[i]
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["junk"] = yaml.safe_load("\n".join(levels))
    with pytest.raises(InputError) as err:
        check_before_schema(config)
    # the bomb alone: 1 + 11 + 111 + 1,111 + 11,111 + 111,111 values, and the rest of the config
    assert re.fullmatch(
        r"config: expands to 123,\d{3} values through repeated YAML aliases \(&name / \*name\), "
        r"more than 100,000: write each block once",
        str(err.value),
    )
    # the repository's configs, simulated.yaml's anchors included, are far below the limit
    for name in ("config.yaml", "test.yaml", "paper.yaml", "simulated.yaml"):
        check_before_schema(yaml.safe_load((REPO / "config" / name).read_text()))


def test_a_schema_error_is_one_short_line():
    import jsonschema

    from perturb_select.config import schema_error

    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["gears"]["device"] = {"x": list(range(100_000))}
    try:
        jsonschema.validate(config, SCHEMA)
    except jsonschema.ValidationError as error:
        message = str(schema_error(error))
    assert message.startswith("config, field 'gears.device': {'x': [0, 1, 2,") and message.endswith(
        "... (workflow/schemas/config.schema.yaml)"
    )
    assert "\n" not in message and len(message) < 400
    from perturb_select.config import check_schema

    with pytest.raises(InputError) as err:
        check_schema(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert str(err.value) == message


@pytest.mark.parametrize("block", ["datasets", "design"])
def test_names_with_a_trailing_newline_are_refused(block):
    """`$` matches before a final newline, so "papalexi\\n" passed and named files with a newline in them."""
    import jsonschema

    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    first = next(iter(config[block]))
    config[block][f"{first}\n"] = config[block].pop(first)
    with pytest.raises(InputError) as err:
        check_before_schema(config)
    assert (err.value.field, err.value.problem) == (
        block,
        (
            f"the key '{first}\\n' is not a printable name (a newline, tab or other control character, or blank): "
            "names become file names"
        ),
    )
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(config)
    config[block][first] = config[block].pop(f"{first}\n")
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(config)
    with pytest.raises(
        InputError,
        match=r"'datasets': a dataset name is letters, digits, '_' and '-' \(it names "
        r"files\), got 'papalexi\\n'",
    ):
        DatasetConfig.from_config("papalexi\n", {"cell_type": "THP-1"})


def test_a_renamed_trainer_is_named_before_the_schema():
    """`gears.trainer: batched` got the schema's generic enum error, not the 'renamed to cells' message."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["gears"]["trainer"] = "batched"
    with pytest.raises(InputError) as err:
        check_before_schema(config)
    assert str(err.value) == (
        "config, field 'gears.trainer': 'batched' was renamed 'cells' (GEARS's mini-batches "
        "of cells); 'perturbations' trains one network row per perturbation"
    )
    with pytest.raises(InputError, match="'batched' was renamed 'cells'"):
        TrainingConfig(trainer="batched")


def test_rule_params_do_not_depend_on_the_order_of_the_keys():
    """Snakemake compares a rule's params by their repr: the blocks reach the rules with sorted keys."""
    from perturb_select.config import canonical_params

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())

    def reversed_keys(node):
        if isinstance(node, dict):
            return {key: reversed_keys(node[key]) for key in reversed(list(node))}
        return [reversed_keys(item) for item in node] if isinstance(node, list) else node

    for block in (config["gears"], config["graph"], *config["datasets"].values()):
        assert repr(canonical_params(reversed_keys(block))) == repr(canonical_params(block))
        assert canonical_params(block) == block  # the same values: only the order changes
    assert list(canonical_params({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}})) == ["a", "b"]
    assert (
        repr(canonical_params({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}}))
        == "{'a': {'c': [{'e': 2, 'f': 1}], 'd': 2}, 'b': 1}"
    )
    # the typed blocks the rules pass (to_params) do not depend on the order either
    typed, typed_reversed = load_config(config), load_config(reversed_keys(config))
    for a, b in (
        (typed.graph, typed_reversed.graph),
        (typed.training, typed_reversed.training),
        *((block, typed_reversed.datasets[name]) for name, block in typed.datasets.items()),
    ):
        assert repr(a.to_params()) == repr(b.to_params()) and list(a.to_params()) == sorted(a.to_params())
    # every block a rule gets is a typed block's to_params or goes through canonical_params (the rule files
    # name no raw config block)
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    assert re.findall(r"config\[\"(?:graph|gears|datasets|design)\"\]", rules) == []
    for call in (
        "CONFIG.graph.to_params()",
        "CONFIG.training.to_params()",
        "CONFIG.datasets[wildcards.dataset].screen_params()",
        "CONFIG.designs[wildcards.design].to_params()",
    ):
        assert call in rules, call


def test_config_readme_lists_the_range_of_every_number():
    """config/README.md's "Ranges of the numbers" names every numeric key of the schema, with the maximum of
    each integer key."""
    from perturb_select.config import MAX_INTEGER

    text = (REPO / "config" / "README.md").read_text().split("## Ranges of the numbers")[1]
    for dotted in NUMBER_KEYS + INTEGER_KEYS:
        assert f"{dotted.rsplit('.', 1)[1]}`" in text, dotted
    for key in {dotted.rsplit(".", 1)[1] for dotted in INTEGER_KEYS}:
        maximum = MAX_INTEGER[key][0]
        assert f"{maximum:,}".replace(",", " ") in text, key


def test_library_defaults_come_from_the_config():
    """Defaults live in config only: the library functions' defaults are the config's constants."""
    import inspect

    from perturb_select.config import CONTROL_LABEL, DEFAULT_HOPS, GRAPH_K, GRAPH_THRESHOLD, TEST_FRACTION
    from perturb_select.design.coverage import rank_perturbations
    from perturb_select.design.run import run_design
    from perturb_select.evaluation.verdict import simulated_case
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.knowledge.jaccard import jaccard_topk_edges
    from perturb_select.screens.raw import preprocess_screen
    from perturb_select.screens.simulated import simulate_screen

    def default(function, name):
        return inspect.signature(function).parameters[name].default

    assert (GraphConfig().k, GraphConfig().threshold) == (GRAPH_K, GRAPH_THRESHOLD)
    assert (default(jaccard_topk_edges, "k"), default(jaccard_topk_edges, "threshold")) == (GRAPH_K, GRAPH_THRESHOLD)
    assert TrainingConfig().num_go_gnn_layers == DEFAULT_HOPS
    for function in (rank_perturbations, run_design, simulated_case, simulate_screen):
        assert default(function, "hops") == DEFAULT_HOPS, function.__name__
    assert default(split_test_set, "test_fraction") == TEST_FRACTION == ExperimentConfig.test_fraction
    assert default(preprocess_screen, "control_label") == CONTROL_LABEL == default(simulate_screen, "control_label")


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml", "simulated.yaml"])
def test_a_typed_block_reaches_a_job_whole_and_comes_back_equal(name):
    """Issue 26: each job gets its typed block once (to_params, every field filled in by load_config) and
    rebuilds it with from_params, which fills in no default: the same block, and a field missing or unknown
    is a rule out of step (TypeError), not a second round of defaults."""
    from perturb_select.config import DatasetConfig, DesignConfig, GraphConfig, SimulationConfig, TrainingConfig

    raw = yaml.safe_load((REPO / "config" / name).read_text())
    raw.setdefault("design", {"screen": {"genes": "genes.txt", "budget": 10}})  # hops from gears
    config = load_config(raw)
    blocks = [(GraphConfig, config.graph), (TrainingConfig, config.training)]
    blocks += [(DatasetConfig, block) for block in config.datasets.values()]
    blocks += [(DesignConfig, block) for block in config.designs.values()]
    for cls, block in blocks:
        params = block.to_params()
        assert set(params) == {f.name for f in dataclasses.fields(cls)}
        assert cls.from_params(params) == block
        assert repr(params) == repr(cls.from_params(params).to_params())  # the rule's params are stable
        missing = dict(params)
        missing.pop(sorted(params)[0])
        with pytest.raises(TypeError, match="missing"):
            cls.from_params(missing)
    simulated = [b for b in config.datasets.values() if b.simulated]
    for block in simulated:
        assert isinstance(DatasetConfig.from_params(block.to_params()).simulation, SimulationConfig)
    for block in config.designs.values():  # hops filled in from gears.num_go_gnn_layers, once
        assert block.to_params()["hops"] == config.training.num_go_gnn_layers


def test_a_dataset_plan_change_reaches_no_screen_job():
    """A dataset's perturbations_per_cycle is the plan, not the screen: the screen's jobs get the block without
    it (screen_params), so changing it redraws and reprocesses nothing; every other key reaches them."""
    raw = yaml.safe_load((REPO / "config" / "simulated.yaml").read_text())
    name = next(iter(raw["datasets"]))
    before = load_config(raw).datasets[name]
    raw["datasets"][name]["perturbations_per_cycle"] = 7
    after = load_config(raw).datasets[name]
    assert after.perturbations_per_cycle == 7 and repr(after.screen_params()) == repr(before.screen_params())
    assert after.to_params() != before.to_params()
    raw["datasets"][name]["seed"] = before.seed + 1
    assert load_config(raw).datasets[name].screen_params() != before.screen_params()
    assert DatasetConfig.from_params(before.screen_params()).simulation == before.simulation
