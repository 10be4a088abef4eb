"""resources/: the dataset registry agrees with cell-gears's downloads and with the configs that use it."""

import inspect
import re

import yaml

from conftest import REPO

REGISTRY = yaml.safe_load((REPO / "resources" / "datasets.yaml").read_text())


def test_gears_entries_are_the_files_cell_gears_downloads():
    from gears import pertdata

    source = inspect.getsource(pertdata.PertData.load)
    urls = dict(re.findall(r"data_name == '(\w+)':\s*(?:##[^\n]*\n\s*)?url = '([^']+)'", source))
    assert set(urls) == {"norman", "adamson", "dixit", "replogle_k562_essential", "replogle_rpe1_essential"}
    gears_entries = {name: entry for name, entry in REGISTRY.items() if entry["format"] == "gears"}
    assert {name: entry["url"] for name, entry in gears_entries.items()} == urls
    for name, entry in gears_entries.items():
        # PertData.load reads <data_path>/<name>/perturb_processed.h5ad out of the extracted zip
        assert entry["archive_member"] == f"{name}/perturb_processed.h5ad"


def test_configs_use_the_registry_entries():
    for config_name in ("config.yaml", "test.yaml", "paper.yaml"):
        config = yaml.safe_load((REPO / "config" / config_name).read_text())
        for name, block in config["datasets"].items():
            entry = REGISTRY[name]
            for key in ("url", "sha256", "format", "mirror_name"):
                if key in block and key in entry:
                    assert block[key] == entry[key], f"config/{config_name}: datasets.{name}.{key}"


def test_registry_entries_are_complete():
    for name, entry in REGISTRY.items():
        assert entry["description"] and entry["format"] in ("raw", "gears"), name
        assert entry["url"] or entry["mirror_name"], name
        if entry["sha256"] is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), name
        if entry["format"] == "raw":
            assert {"perturbation_key", "control_label", "cell_type"} <= set(entry), name
