"""`nbo segments report` on a bank fixed by its seed and end month: the sizes the README states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, run_json

README_BANK = ("--customers", 1000, "--months", 12, "--seed", 11, "--end-month", "2026-10")
SECTION = re.compile(r"<!-- segment-sizes -->(.*?)<!-- /segment-sizes -->", re.S)
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (\d+) \|", re.M)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("segments")
    env = {"NBO_STATE_DIR": str(work / "var")}
    run_cli("data", "generate", *README_BANK, "--out", work / "bank", env=env)
    run_cli("features", "build", work / "bank", env=env)
    return run_json("segments", "report", "--months", 2, env=env)


def test_segment_sizes_are_the_ones_the_readme_states(report: dict) -> None:
    stated = {name: int(n) for name, n in ROW.findall(SECTION.search((ROOT / "README.md").read_text()).group(1))}
    latest = report["months"][-1]
    measured = {**latest["rfm_segment"], **latest["lifecycle_stage"], **latest["intent_tags"]}
    assert len(stated) == len(measured) == 17
    assert stated == measured


def test_sizes_add_up_and_transitions_account_for_everyone(report: dict) -> None:
    before, latest = report["months"]
    for month in (before, latest):
        assert sum(month["rfm_segment"].values()) == month["customers"] == sum(month["lifecycle_stage"].values())
    moves = report["transitions"][-1]["rfm_segment"]
    into = {}
    for source, targets in moves.items():
        if source != "entered":
            assert sum(targets.values()) == before["rfm_segment"][source]
        for target, n in targets.items():
            into[target] = into.get(target, 0) + n
    assert {k: v for k, v in into.items() if k != "left"} == {k: v for k, v in latest["rfm_segment"].items() if v}


def test_the_text_report_and_errors(tmp_path: Path) -> None:
    missing = run_cli("segments", "report", env={"NBO_STATE_DIR": str(tmp_path)}, check=False)
    assert missing.returncode != 0 and "nbo features build" in missing.stderr
    bad = tmp_path / "rules.toml"
    bad.write_text('version = "x"\nexclude = ["nope > 1"]\n', encoding="utf-8")
    refused = run_cli("segments", "report", "--rules", bad, check=False)
    assert refused.returncode != 0 and "rules.toml" in refused.stderr
