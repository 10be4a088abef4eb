"""Shared fixtures: the repository root and the read-only real data beside it (../shared/data)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def gears_config(**settings):
    """A ``TrainingConfig`` on GEARS's own schedule (``config.GEARS_SCHEDULE``: what the cell-gears trainer
    runs) with ``settings`` on top: the cells and cell-gears trainers are tested and compared under it."""
    from perturb_select.config import GEARS_SCHEDULE, TrainingConfig

    return TrainingConfig(**{**GEARS_SCHEDULE, **settings})


def dataset_block(name: str, block: dict) -> dict:
    """A dataset block as its rules pass it to the screen's stages: typed and filled in once
    (``DatasetConfig.from_config``), then ``screen_params``."""
    from perturb_select.config import DatasetConfig

    return DatasetConfig.from_config(name, block).screen_params()


@pytest.fixture(autouse=True)
def graph_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty graph cache: none writes to ~/.cache, none sees another's entries."""
    folder = tmp_path_factory.mktemp("graph_cache")
    monkeypatch.setenv("PERTURB_SELECT_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "go" / "go-basic.obo").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (expected ../shared/data beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def human_graph():
    """The whole human GO Jaccard graph (k=20, threshold 0.1) from ../shared/data/go, built once (~15 s)."""
    from perturb_select.knowledge.build import GoFiles, build_knowledge_graph

    go = SHARED_DATA / "go"
    files = GoFiles(
        gene2go=go / "gene2go_human.gz", obo=go / "go-basic.obo", gene_info=go / "Homo_sapiens.gene_info.gz"
    )
    return build_knowledge_graph(files).graph


def pytest_collection_modifyitems(items):
    """The SLURM tests run last. Their cluster installs the SLURM client and stops at the end; from then on
    every snakemake start waits 10 s: the SLURM executor plugin (2.6.1) runs `scontrol show config`, with a
    10 s timeout, when Snakemake loads it, and no controller answers."""
    items.sort(key=lambda item: item.module.__name__ == "test_slurm")
