"""Loading from the MLflow registry: by alias, from the version's artifacts, without running its code file.

Tiny risk models are logged to a temporary MLflow file store the way `nbo train` logs them.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from models.calibration import Calibration
from models.registry import CHAMPION, DELINQUENCY, connect, load_alias, load_risk
from models.risk import (
    MODEL_CODE,
    RiskPyfunc,
    RiskScorer,
    RiskSpec,
    caller_frame,
    risk_signature,
    save_artifacts,
)
from nbo.errors import ModelUnavailable
from nbo.settings import MlflowSettings
from training.risk.fit import prepare_features

OLD_TREE_CODE = '''"""A code file as an older nbo logged it: its module path no longer exists."""
from mlflow.models import set_model

from evaluation.risk_model import RiskPyfunc

set_model(RiskPyfunc())
'''


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame({"utilization": rng.uniform(0, 1.2, n), "missed_payments_12m": rng.integers(0, 4, n),
                         "segment": rng.choice(["mass", "affluent", ""], n), "aum_cny": rng.gamma(2, 9000, n)})


@pytest.fixture(scope="module")
def scorer() -> RiskScorer:
    frame = _frame()
    spec = RiskSpec("delinquency", list(frame.columns), ["segment"], Calibration("platt", {"coef": [1.0, -0.2]}))
    label = (frame["utilization"] + np.random.default_rng(3).normal(0, 0.3, len(frame)) > 0.8).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbosity": -1,
                         "num_threads": 1}, lgb.Dataset(prepare_features(frame, spec), label), 10)
    return RiskScorer(booster, spec, num_threads=1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, scorer: RiskScorer) -> MlflowSettings:
    """Version 1: logged with today's code file (champion); version 2: with an older tree's code file."""
    root = tmp_path_factory.mktemp("registry")
    settings = MlflowSettings(tracking_uri=f"file:{root / 'mlruns'}")
    client = connect(settings)
    old_code = root / "risk_mlflow.py"
    old_code.write_text(OLD_TREE_CODE, encoding="utf-8")
    old_module = types.ModuleType("evaluation.risk_model")  # the older tree, present when it logged
    old_module.RiskPyfunc = RiskPyfunc  # type: ignore[attr-defined]
    for code, directory in ((MODEL_CODE, root / "v1"), (old_code, root / "v2")):
        sys.modules["evaluation.risk_model"] = old_module
        try:
            with mlflow.start_run():
                mlflow.pyfunc.log_model(name="model", python_model=code, registered_model_name=DELINQUENCY,
                                        artifacts=save_artifacts(scorer.booster, scorer.spec, directory),
                                        signature=risk_signature(scorer.spec))
        finally:
            del sys.modules["evaluation.risk_model"]
    client.set_registered_model_alias(DELINQUENCY, CHAMPION, "1")
    return settings


def test_a_champion_loads_by_alias_with_its_version(store: MlflowSettings, scorer: RiskScorer) -> None:
    loaded = load_alias(store, DELINQUENCY, CHAMPION)
    assert loaded is not None and isinstance(loaded.scorer, RiskScorer)
    assert (loaded.ref.name, loaded.ref.alias, loaded.ref.version) == (DELINQUENCY, CHAMPION, "1")
    assert loaded.scorer.num_threads == 1
    frame = _frame(50)
    np.testing.assert_array_equal(loaded.scorer.probability(frame), scorer.probability(frame))
    assert load_alias(store, DELINQUENCY, "challenger") is None


def test_loading_never_runs_the_logged_code_file(store: MlflowSettings, scorer: RiskScorer) -> None:
    """A version an older tree logged (its code file imports a module gone since) loads all the same."""
    with pytest.raises(MlflowException, match="evaluation.risk_model"):
        mlflow.pyfunc.load_model(f"models:/{DELINQUENCY}/2")
    frame = _frame(50)
    np.testing.assert_array_equal(load_risk(f"models:/{DELINQUENCY}/2").probability(frame), scorer.probability(frame))


def test_data_scientists_still_load_the_pyfunc(store: MlflowSettings, scorer: RiskScorer) -> None:
    frame = _frame(30)
    predicted = mlflow.pyfunc.load_model(f"models:/{DELINQUENCY}@{CHAMPION}").predict(caller_frame(frame, scorer.spec))
    assert predicted.columns.tolist() == ["pd", "score", "band"]
    np.testing.assert_allclose(predicted["pd"], scorer.probability(frame), rtol=0, atol=1e-12)
    assert set(predicted["band"]) <= set("ABCDE")


@pytest.mark.parametrize("uri", [f"models:/{DELINQUENCY}/9", f"models:/{DELINQUENCY}@challenger",
                                 "models:/nbo-unknown@champion"])
def test_unknown_models_versions_and_aliases_are_unavailable(store: MlflowSettings, uri: str) -> None:
    with pytest.raises(ModelUnavailable, match="cannot load"):
        load_risk(uri)


def test_the_risk_scorer_file_is_what_mlflow_runs() -> None:
    assert Path(MODEL_CODE).read_text(encoding="utf-8").count("set_model(RiskPyfunc())") == 1
