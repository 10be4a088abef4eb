"""Versions are pinned once, in requirements.lock; the conda environments must repeat the same pins."""

import re

import pytest
import yaml

from conftest import REPO


def _lock() -> dict[str, str]:
    pins = {}
    for lock in ("requirements.lock", "requirements-nodeps.lock"):
        for line in (REPO / lock).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, version = line.split("==")
                pins[name.lower().replace("_", "-")] = version
    return pins


def test_lock_pins_the_versions_gears_needs():
    pins = _lock()
    assert pins["torch"] == "2.13.0"
    assert pins["cell-gears"] == "0.1.2"
    major, minor = (int(x) for x in pins["scipy"].split(".")[:2])
    assert (major, minor) < (1, 15), "cell-gears 0.1.2 breaks with scipy >= 1.15"


@pytest.mark.parametrize("env", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_conda_env_pins_agree_with_lock(env):
    spec = yaml.safe_load((REPO / "envs" / env).read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    lock = _lock()
    assert pip, f"{env} pins nothing"
    for requirement in pip:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s]+)", requirement)
        assert match, f"{env}: '{requirement}' is not an exact pin"
        name = match.group(1).lower().replace("_", "-")
        assert lock.get(name) == match.group(2), (
            f"{env}: {requirement} disagrees with requirements.lock ({lock.get(name)})"
        )


def test_every_rule_has_a_pinned_conda_env_and_log():
    rules = (REPO / "workflow" / "rules").glob("*.smk")
    text = "\n".join(p.read_text() for p in rules)
    blocks = re.split(r"\nrule ", "\n" + text)[1:]
    assert len(blocks) >= 9
    for block in blocks:
        name = block.split(":")[0]
        assert "conda:" in block and "log:" in block and "script:" in block, f"rule {name} lacks conda/log/script"
        env = re.search(r'conda:\s*"\.\./\.\./(envs/[^"]+)"', block).group(1)
        assert (REPO / env).exists(), f"rule {name}: {env} missing"
