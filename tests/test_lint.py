"""The workflow passes `snakemake --lint` without a warning and is formatted as `snakefmt` formats it; the Python
passes `ruff check` and `ruff format --check` (rules and per-file ignores in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "config", ["config/config.yaml", "config/test.yaml", "config/paper.yaml", "config/simulated.yaml"]
)
def test_snakemake_lint_prints_no_warning(config):
    result = subprocess.run(
        [str(BIN / "snakemake"), "--lint", "--configfile", config], cwd=REPO, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Lints for" not in output, output
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakefmt_check_passes():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow/`:\n{result.stdout}{result.stderr}"


def test_ruff_format_leaves_every_file_unchanged():
    result = subprocess.run([str(BIN / "ruff"), "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"run `ruff format .` (pyproject.toml [tool.ruff.format]):\n{result.stdout}{result.stderr}"
    )


def test_ruff_check_passes():
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"run `ruff check .` (pyproject.toml [tool.ruff]):\n{result.stdout}{result.stderr}"
