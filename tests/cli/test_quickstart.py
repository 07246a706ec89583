"""The README's quickstart, pasted into a fresh shell after `make demo`, works as written.

The test cannot run the 20,000-customer demo, so it lays out a directory the way `make demo` leaves
the repository (`.venv`, `data/customers`, `var`) with links to this session's venv, assembled bank and
state,
starts `nbo serve` on them and runs the README's `<!-- quickstart -->` blocks verbatim in a clean
environment: `HOME` and `PATH=/usr/bin:/bin`, plus the service's port (the demo's is 8000; a test
cannot count on that port being free) and `PYTHONPATH` when the test run has one (a worktree's code).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Trained
from tests.server import running_service

README = ROOT / "README.md"
MARKER = "<!-- quickstart -->"
FENCE = re.compile(r"^ *```bash\n(.*?)^ *```$", re.MULTILINE | re.DOTALL)
# A command word at the start of a command (line start, after `$(`, `|`, `&&`, `;` or VAR=value).
BARE_COMMAND = re.compile(r"(?:^|\$\(|\||&&|;|^\S+=\S+ )\s*(nbo|python3?|pytest|pip)\b", re.MULTILINE)


def bash_blocks(text: str) -> list[str]:
    """Every ```bash block of the README, in order."""
    return FENCE.findall(text)


def quickstart_blocks(text: str) -> list[str]:
    """The ```bash blocks that directly follow a `<!-- quickstart -->` marker line."""
    blocks = []
    for part in text.split(MARKER + "\n")[1:]:
        match = FENCE.match(part)
        assert match, f"{MARKER} in README.md is not followed by a ```bash block"
        blocks.append(match.group(1))
    return blocks


def demo_layout(root: Path, trained: Trained) -> Path:
    """A directory laid out like the repository after `make demo`, linked to the session's venv and state."""
    (root / "data").mkdir(parents=True)
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the venv running the tests, unresolved
    (root / "data" / "customers").symlink_to(trained.env["NBO_DATA_DIR"])  # the tables assembled through OneID
    (root / "var").symlink_to(trained.env["NBO_STATE_DIR"])
    return root


def clean_env(home: Path, port: int) -> dict[str, str]:
    """What `env -i HOME=... PATH=/usr/bin:/bin` leaves, plus the service's port (and a worktree's PYTHONPATH)."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "NBO_SERVICE__PORT": str(port)}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def test_readme_code_blocks_call_the_venv_by_path() -> None:
    """No README command runs `nbo`, `python` or `pytest` from PATH: a fresh shell has none of them."""
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 10, "the README's ```bash blocks were not found"
    bare = [(m.group(1), line) for block in blocks for line in block.splitlines()
            if (m := BARE_COMMAND.search(line.split("  #")[0]))]
    assert not bare, f"README commands that need an activated venv: {bare}"


def test_bare_command_pattern_finds_what_a_fresh_shell_lacks() -> None:
    """The check above catches each way a command word can start a command, and passes the venv's own."""
    for line in ("nbo info", "RM=$(nbo info --json)", "x | python3 -c 1", "NBO_X=1 nbo info", "a && pytest -q"):
        assert BARE_COMMAND.search(line), line
    for line in (".venv/bin/nbo info", "RM=$(.venv/bin/nbo info --json | .venv/bin/python -c 1)",
                 "NBO_X=1 .venv/bin/nbo features build", "make demo"):
        assert not BARE_COMMAND.search(line), line


def test_quickstart_runs_verbatim_in_a_fresh_shell(trained: Trained, tmp_path: Path) -> None:
    """Each quickstart block exits 0 under `bash -euo pipefail`, and the last command lists offers."""
    blocks = quickstart_blocks(README.read_text(encoding="utf-8"))
    assert blocks, f"README.md has no {MARKER} block"
    repo = demo_layout(tmp_path / "repo", trained)
    (tmp_path / "home").mkdir()
    with running_service(trained.env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for block in blocks:
            proc = subprocess.run(["/bin/bash", "-euo", "pipefail", "-c", block], cwd=repo, capture_output=True,
                                  text=True, env=clean_env(tmp_path / "home", port), timeout=300)
            assert proc.returncode == 0, f"quickstart block exited {proc.returncode}:\n{block}\n{proc.stderr[-3000:]}"
    answer = json.loads(proc.stdout.splitlines()[-1])
    assert answer["offers"], f"the quickstart's customer got no offer: {answer}"
    assert all(offer["reasons"] for offer in answer["offers"])
