"""A bank's own table served over HTTP (docs/bring-your-own-data.md, issue 22): imported as its own
portfolio with a churn label only, trained (`--fast --tune-trials 0`), applied, materialized and served
by `nbo serve` — churn answers with reasons in the portfolio's currency, delinquency and offers a clear
503 naming the model and the portfolio, never a 500.

The table is written here: 400 customers whose churn follows their monthly income, so the income
(mapped to `customers.income_monthly`, an amount) is the top reason of the poorest customers. The
whole sequence runs as the guide's commands, in a state of its own (~60 s on 2 shared cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from serving.audit.store import sqlite_url
from tests.conftest import run_json
from tests.server import Server, running_service

PORTFOLIO, CURRENCY, AS_OF = "acme", "EUR", "2024-01-01"
ROWS = 400


@dataclass(frozen=True)
class Served:
    """The running service of the imported portfolio, its rm/risk/app keys and the source table."""

    server: Server
    keys: dict[str, str]
    table: pd.DataFrame
    trained: dict


def _bank_table(path: Path) -> pd.DataFrame:
    """A customer table as a bank exports it: its own id, a yes/no label, an income, a plan, a region."""
    rng = np.random.default_rng(0)
    income = np.round(rng.lognormal(8.0, 0.6, ROWS), 2)
    left = (income < np.quantile(income, 0.3)) ^ (rng.random(ROWS) < 0.05)
    table = pd.DataFrame({"client": [f"K-{1000 + i}" for i in range(ROWS)],
                          "left_bank": np.where(left, "yes", "no"), "income": income,
                          "plan": rng.choice(["basic", "gold", "platinum"], ROWS),
                          "region": rng.choice(["north", "south", "east"], ROWS)})
    table.to_csv(path, index=False)
    return table


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("own-portfolio")
    file, data = tmp / "acme.csv", tmp / "data"
    table = _bank_table(file)
    env = {"NBO_DATA_DIR": str(data), "NBO_PORTFOLIO": PORTFOLIO, "NBO_STATE_DIR": str(tmp / "var"),
           "NBO_MLFLOW__TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
           "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "audit.db")}
    run_json("data", "import", "snapshot", file, "--id", "client", "--as-of", AS_OF,
             "--label", "churn=left_bank:yes", "--map", "income=customers.income_monthly",
             "--currency", CURRENCY, "--portfolio", PORTFOLIO, "--out", data, env=env)
    trained = run_json("train", "churn", "--fast", "--tune-trials", "0", env=env)
    run_json("features", "apply", env=env)
    run_json("features", "materialize", "--end", AS_OF + "T00:00:00+00:00", env=env)  # the snapshot, as the guide
    keys = {role: run_json("keys", "create", "--role", role, env=env)["key"] for role in ("rm", "risk", "app")}
    with running_service(env) as server:
        yield Served(server, keys, table, trained)


def _get(served: Served, path: str, role: str, **params: str) -> httpx.Response:
    return httpx.get(f"{served.server.url}{path}", params=params, headers={"X-API-Key": served.keys[role]},
                     timeout=30)


def test_readiness_names_the_portfolio_and_what_it_serves(served: Served) -> None:
    ready = httpx.get(f"{served.server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["portfolio"] == PORTFOLIO
    assert ready.json()["served"] == {f"nbo-churn.{PORTFOLIO}": ["champion"], f"nbo-delinquency.{PORTFOLIO}": [],
                                      f"nbo-recommender.{PORTFOLIO}": [], f"nbo-fraud.{PORTFOLIO}": []}
    assert (served.trained["model"], served.trained["portfolio"]) == (f"nbo-churn.{PORTFOLIO}", PORTFOLIO)
    assert served.trained["promoted"], served.trained


@pytest.mark.parametrize(("lang", "amount"), [("en", "€"), ("zh", "欧元")])
def test_churn_is_served_with_reasons_in_the_portfolios_currency(served: Served, lang: str, amount: str) -> None:
    """The poorest customers (the table's churners) get a high churn risk from their features as of the
    snapshot (no value flagged: not the closed accounts of the label's timeline after it), and their
    income, said in euros under the bank's own column name, among the reasons."""
    poorest = served.table.nsmallest(5, "income").index
    for position in poorest:
        customer = f"C{position + 1:08d}"
        response = _get(served, f"/v1/customers/{customer}/churn", "rm", lang=lang)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["probability"] > 0.5 and answer["flags"] == [], answer  # as of the snapshot
        texts = [r["text"] for r in answer["reasons"]]
        assert any("income" in t and amount in t for t in texts), texts
        assert not any("¥" in t or "元" in t.replace("欧元", "") for t in texts), texts


def test_a_model_the_portfolio_lacks_is_a_clear_503_naming_it(served: Served) -> None:
    customer = "C00000001"
    for path, role, model in ((f"/v1/customers/{customer}/delinquency", "risk", "delinquency"),
                              (f"/v1/customers/{customer}/offers", "app", "recommender")):
        response = _get(served, path, role)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert f"no {model} model for portfolio '{PORTFOLIO}'" in response.json()["detail"]
    batch = httpx.post(f"{served.server.url}/v1/delinquency/batch", json={"customer_ids": [customer]},
                       headers={"X-API-Key": served.keys["risk"]}, timeout=30)
    assert batch.status_code == 503 and "no delinquency model" in batch.json()["detail"], batch.text
    assert "Traceback" not in served.server.log_text()
