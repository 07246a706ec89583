"""The image and `make` install the same pinned requirements; every direct dependency is pinned."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def test_dockerfile_installs_the_lock_the_makefile_installs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    assert "pip install --quiet -r requirements.lock" in makefile
    assert "--no-deps" in dockerfile and "--no-deps" in makefile
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^USER nbo", dockerfile, re.M)
    assert 'CMD ["nbo", "serve"]' in dockerfile
    assert "/healthz" in dockerfile


def test_direct_dependencies_are_pinned_to_the_locked_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]+\])?==(\S+)", requirement).groups()
        assert lock[re.sub(r"[-_.]+", "-", name.lower())] == version, requirement
