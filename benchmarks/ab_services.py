"""Each tree's `nbo serve` on a free loopback port, and the two trees' model artifacts compared.

The server runs from the tree's own directory with the tree on PYTHONPATH (tests/server.py starts
the project's own tree only, from the repository root).
"""

from __future__ import annotations

import contextlib
import filecmp
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from ab_trees import NBO, Tree, progress

READY_TIMEOUT_S = 600.0  # a loaded 2-core machine takes minutes to start 2 workers
# A pyfunc model's own files (booster, spec, catalogue, ALS factors) are in this folder of the logged
# model; the rest of it (MLmodel, environment files, the code file) names runs, paths and versions.
PYFUNC_ARTIFACTS = "artifacts"


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /readyz until it answers 200; fail with the log if the process exits or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        if proc.poll() is not None:
            raise SystemExit(f"nbo serve exited {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"{url}/readyz not ready after {READY_TIMEOUT_S:.0f} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def serving(tree: Tree, env: dict[str, str], workers: int) -> Iterator[str]:
    """`nbo serve --workers N` of this tree with these NBO_* variables, ready; its URL; stopped afterwards."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log", dir=tree.work)[1])
    run_env = Tree(tree.name, tree.code, tree.work, env).run_env()
    with log.open("ab") as out:
        proc = subprocess.Popen([str(NBO), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], env=run_env, cwd=tree.code, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        progress(f"{tree.name}: serving on {url} (log {log})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def model_artifacts(mlruns: Path) -> dict[str, Path]:
    """Registered model name → the folder of its latest version's pyfunc artifacts (MLflow file store)."""
    found = {}
    for model_dir in sorted((mlruns / "models").iterdir()):
        versions = sorted(model_dir.glob("version-*"), key=lambda p: int(p.name.split("-")[1]))
        meta = (versions[-1] / "meta.yaml").read_text() if versions else ""
        fields = dict(line.split(": ", 1) for line in meta.splitlines() if ": " in line and not line.startswith(" "))
        location = fields.get("storage_location") or fields.get("source", "")
        if location.startswith("file://"):
            found[model_dir.name] = Path(location.removeprefix("file://")) / PYFUNC_ARTIFACTS
    return found


def compare_models(old: Path, new: Path) -> dict[str, Any]:
    """The model files of two MLflow stores compared byte by byte, model by model."""
    old_models, new_models = model_artifacts(old), model_artifacts(new)
    rows: dict[str, Any] = {}
    for name in sorted(set(old_models) | set(new_models)):
        if name not in old_models or name not in new_models:
            rows[name] = {"identical": False, "missing_in": "old" if name not in old_models else "new"}
            continue
        files = sorted({p.relative_to(root) for root in (old_models[name], new_models[name])
                        for p in root.rglob("*") if p.is_file()})
        differ = [str(f) for f in files if not ((old_models[name] / f).is_file() and (new_models[name] / f).is_file()
                                                and filecmp.cmp(old_models[name] / f, new_models[name] / f,
                                                                shallow=False))]
        rows[name] = {"identical": not differ, "files": [str(f) for f in files], "different": differ}
    return {"identical": bool(rows) and all(r["identical"] for r in rows.values()), "models": rows}
