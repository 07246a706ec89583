"""The default MLflow store (SQLite in mlruns/), the one-off migration of an old file store, and
`nbo promote --alias`, all through the CLI in a fresh working directory with no MLflow setting.

The old store is made with the old default URI (`file:./mlruns`): a run with a parameter, a metric,
a dataset, a report artifact and a registered version behind `champion`, as `nbo train` left them.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.registry import connect
from models.tracking_store import old_file_store
from nbo.settings import MlflowSettings
from tests.conftest import run_cli
from training.registry import RunDataset, log_datasets

MIGRATING = "migrating the file store"


def _old_file_store(root: Path) -> str:
    """An MLflow file store in root/mlruns as an older nbo wrote it; returns the run id."""
    client = connect(MlflowSettings(tracking_uri=f"file:{root / 'mlruns'}"))
    experiment = client.create_experiment("nbo-churn")
    (root / "report").mkdir()
    (root / "report" / "index.html").write_text("<html><body>churn report</body></html>", encoding="utf-8")
    with mlflow.start_run(experiment_id=experiment, run_name="old-run") as run:
        mlflow.log_param("max_trees", "40")
        mlflow.log_metric("roc_auc", 0.75)
        log_datasets([RunDataset(pd.DataFrame({"x": [1.0, 2.0], "churned": [0, 1]}), "churn-test", "test",
                                 root, "churned")])
        mlflow.log_artifacts(str(root / "report"), "report")
    client.create_registered_model("nbo-churn")
    version = client.create_model_version("nbo-churn", f"{run.info.artifact_uri}/report", run_id=run.info.run_id)
    client.set_registered_model_alias("nbo-churn", "champion", version.version)
    return run.info.run_id


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    """A working directory whose old file store the first `nbo promote` (default settings) migrated."""
    root = tmp_path_factory.mktemp("oldstore")
    run_id = _old_file_store(root)
    proc = run_cli("promote", "nbo-churn", "--version", "1", "--alias", "challenger", "--reason", "A/B from Monday",
                   "--json", cwd=root)
    assert MIGRATING in proc.stderr
    return root, run_id, json.loads(proc.stdout)


def _client(root: Path) -> MlflowClient:
    return connect(MlflowSettings(tracking_uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"))


def test_an_old_file_store_is_migrated_once_into_the_default_database(migrated) -> None:
    root, run_id, _ = migrated
    assert (root / "mlruns" / "mlflow.db").is_file()
    client = _client(root)
    run = client.get_run(run_id)
    assert (run.info.run_name, run.data.params["max_trees"], run.data.metrics["roc_auc"]) == ("old-run", "40", 0.75)
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["churn-test"]
    report = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report/index.html",
                                                 dst_path=str(root / "download"))
    assert "churn report" in Path(report).read_text(encoding="utf-8")
    assert str(client.get_model_version_by_alias("nbo-churn", "champion").version) == "1"
    again = run_cli("promote", "nbo-churn", "--version", "1", "--alias", "shadow", "--json", cwd=root)
    assert MIGRATING not in again.stderr
    assert client.get_model_version_by_alias("nbo-churn", "shadow").run_id == run_id


def test_promote_sets_challenger_and_records_who_when_why(migrated) -> None:
    root, run_id, result = migrated
    assert (result["alias"], result["model_version"], result["reason"]) == ("challenger", "1", "A/B from Monday")
    client = _client(root)
    assert str(client.get_model_version_by_alias("nbo-churn", "challenger").version) == "1"
    for tags in (client.get_run(run_id).data.tags, client.get_model_version("nbo-churn", "1").tags):
        assert tags["nbo.challenger.reason"] == "A/B from Monday"
        assert tags["nbo.challenger.by"] == result["by"] != ""
        assert tags["nbo.challenger.at"].startswith(result["at"][:10])


def test_champion_promotion_records_the_reason_beside_the_comparison(migrated) -> None:
    root, run_id, _ = migrated
    result = json.loads(run_cli("promote", "nbo-churn", "--version", "1", "--reason", "quarterly review",
                                "--json", cwd=root).stdout)
    assert (result["promoted"], result["reason"]) == (True, "already the champion")
    tags = _client(root).get_model_version("nbo-churn", "1").tags
    assert tags["nbo.champion.reason"] == "already the champion; quarterly review"
    assert tags["nbo.promotion_reason"] == "already the champion"


@pytest.mark.parametrize(("args", "message"), [
    (("--alias", "challenger", "--force"), "--force is for --alias champion"),
    (("--alias", "stable"), "'stable' is not one of 'champion', 'challenger', 'shadow'"),
])
def test_promote_refuses_what_it_cannot_do(migrated, args: tuple[str, ...], message: str) -> None:
    proc = run_cli("promote", "nbo-churn", "--version", "1", *args, cwd=migrated[0], check=False)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_promote_of_a_missing_version_names_it(migrated) -> None:
    proc = run_cli("promote", "nbo-churn", "--version", "9", "--alias", "shadow", "--json", cwd=migrated[0],
                   check=False)
    assert proc.returncode != 0
    assert "nbo-churn/9" in json.loads(proc.stdout)["message"]


def test_only_an_mlflow_file_store_is_taken_for_one(tmp_path: Path) -> None:
    """A folder with a Python package called `models` and a numbered folder (this repo's root, say)
    is not migrated; the folder an older nbo trained into is."""
    (tmp_path / "models" / "explain").mkdir(parents=True)
    (tmp_path / "2026").mkdir()
    assert not old_file_store(tmp_path)
    _old_file_store(tmp_path)
    assert old_file_store(tmp_path / "mlruns")
