"""`make mlflow-ui` (`nbo mlflow-ui --port P`) on the session's trained store: MLflow's server answers
with the demo's runs (named, timed, with their datasets and report) and registered models, and its
page shows a run with its datasets and report (the README's screenshots, docs/img/mlflow-run*.png).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import NBO, ROOT, Trained
from tests.server import cli_env, spare_port

README_IMAGES = ROOT / "docs" / "img"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class MlflowUi:
    url: str
    log: Path


@pytest.fixture(scope="module")
def mlflow_ui(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowUi]:
    """The make target's command on a free port, in its own process group (stopped as a group)."""
    port = spare_port()
    log = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([str(NBO), "mlflow-ui", "--port", str(port)], env=cli_env(trained.env), cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ui = MlflowUi(f"http://127.0.0.1:{port}", log)
    try:
        _wait_healthy(ui, proc)
        yield ui
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _wait_healthy(ui: MlflowUi, proc: subprocess.Popen[bytes]) -> None:
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"nbo mlflow-ui exited {proc.returncode}:\n{ui.log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{ui.url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"MLflow UI not healthy after {START_TIMEOUT_S:.0f} s:\n{ui.log.read_text()[-4000:]}")


def _api(ui: MlflowUi, endpoint: str, body: dict | None = None, **params: str) -> dict:
    url = f"{ui.url}/api/2.0/mlflow/{endpoint}"
    answer = httpx.post(url, json=body, timeout=30) if body is not None else httpx.get(url, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _run(ui: MlflowUi, run_id: str) -> dict:
    return _api(ui, "runs/get", run_id=run_id)["run"]


def test_the_ui_serves_the_registered_models_with_their_champions(mlflow_ui: MlflowUi, trained: Trained) -> None:
    models = {m["name"]: m for m in _api(mlflow_ui, "registered-models/search", max_results="100")["registered_models"]}
    names = ("nbo-churn", "nbo-delinquency", "nbo-recommender", "nbo-fraud")
    assert set(models) == set(names)
    for name, run in zip(names, trained.runs.values(), strict=True):
        assert {"alias": "champion", "version": run["model_version"]} in models[name]["aliases"]


@pytest.mark.parametrize("model", ["churn", "delinquency", "recommender"])
def test_each_training_run_is_named_timed_and_lists_its_datasets_and_report(
        mlflow_ui: MlflowUi, trained: Trained, bank_dir: Path, model: str) -> None:
    run = _run(mlflow_ui, trained.runs[model]["run_id"])
    name = run["info"]["run_name"]
    assert name.startswith(f"{model} · {bank_dir.name} · 20") and name.endswith(" UTC"), name
    # The run starts when the data begins to load: longer than the fit's own timings alone.
    duration_s = (int(run["info"]["end_time"]) - int(run["info"]["start_time"])) / 1000
    assert duration_s > 2.0, duration_s
    inputs = run["inputs"]["dataset_inputs"]
    contexts = {i["dataset"]["name"]: {t["key"]: t["value"] for t in i["tags"]}["mlflow.data.context"] for i in inputs}
    expected = ({f"{model}-training": "training", f"{model}-validation": "validation", f"{model}-test": "test"}
                if model != "recommender" else {"recommender-training": "training", "recommender-test": "test"})
    assert contexts == expected
    assert all(i["dataset"]["source_type"] == "local" and str(bank_dir) in i["dataset"]["source"] for i in inputs)
    files = _api(mlflow_ui, "artifacts/list", run_id=run["info"]["run_id"], path="report")["files"]
    assert "report/report.html" in {f["path"] for f in files}
    report = httpx.get(f"{mlflow_ui.url}/get-artifact", params={"path": "report/report.html",
                                                                 "run_uuid": run["info"]["run_id"]}, timeout=30)
    assert report.status_code == 200 and "<html" in report.text.lower()


def test_a_run_page_shows_its_datasets_and_report(mlflow_ui: MlflowUi, trained: Trained, browser: Browser) -> None:
    """The README's two screenshots: a churn run's overview (its three datasets) and its report."""
    run = _run(mlflow_ui, trained.runs["churn"]["run_id"])
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    run_page = f"{mlflow_ui.url}/#/experiments/{run['info']['experiment_id']}/runs/{run['info']['run_id']}"
    page.goto(run_page)
    page.get_by_text(run["info"]["run_name"]).first.wait_for(timeout=60_000)
    page.get_by_text("Model training", exact=True).click()  # the data scientist's side bar, not GenAI's
    page.goto(run_page)
    page.get_by_text(run["info"]["run_name"]).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Close").click()  # MLflow's assistant panel
    page.get_by_text("+2", exact=True).click()  # the datasets beyond the first
    for dataset in ("churn-training", "churn-validation", "churn-test"):
        page.get_by_text(dataset).first.wait_for(timeout=30_000)
    README_IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_IMAGES / "mlflow-run.png"))
    page.goto(f"{run_page}/artifacts")
    page.get_by_text("report", exact=True).first.click()
    page.get_by_text("report.html", exact=True).first.click()
    page.get_by_text("report/report.html").first.wait_for(timeout=30_000)
    page.wait_for_timeout(2000)  # the report's own figures
    page.screenshot(path=str(README_IMAGES / "mlflow-run-report.png"))
    page.close()
