"""The recommender through the CLI on the session's synthetic bank, with a file MLflow store.

`nbo train recommender --fast` fits the hybrid and its baselines on a time split; the hybrid must
beat every baseline on MAP@5 and NDCG@5 on the test months, become champion, and rank mortgage
higher for customers who browsed mortgage pages. A weaker run is not promoted; forcing is
recorded; the registered model re-measures to the same figures on its logged holdout.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import run_json, settings_from

METRICS = {"map_at_3", "map_at_5", "ndcg_at_3", "ndcg_at_5", "recall_at_3", "recall_at_5", "coverage", "mrr"}


@pytest.fixture(scope="module")
def trained(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("recommender")
    env = {"NBO_STATE_DIR": str(root / "var"), "NBO_MLFLOW__TRACKING_URI": f"file:{root / 'mlruns'}"}
    result = run_json("train", "recommender", "--data", bank_dir, "--fast", env=env)
    return SimpleNamespace(env=env, result=result, settings=settings_from(env))


@pytest.fixture(scope="module")
def champion(trained: SimpleNamespace) -> SimpleNamespace:
    """The registered champion loaded back from MLflow, and the holdout its run logged."""
    from models.registry import load_recommender
    from training import registry
    from training.recommender.registry import read_holdout

    registry.connect(trained.settings.mlflow)
    rows, adopted = read_holdout(trained.result["run_id"])
    return SimpleNamespace(scorer=load_recommender("models:/nbo-recommender@champion"), rows=rows, adopted=adopted)


def test_hybrid_beats_every_baseline_on_map_and_ndcg_at_5(trained):
    r = trained.result
    assert r["protocol"] == "time" and r["primary_metric"] == "map_at_5"
    assert set(r["baselines"]) == {"popularity", "als", "content"} and set(r["ablations"]) == {"hybrid_no_cf"}
    for name, baseline in r["baselines"].items():
        assert METRICS <= set(baseline)
        for metric in ("map_at_5", "ndcg_at_5"):
            assert r["metrics"][metric] > baseline[metric], f"hybrid does not beat {name} on {metric}"
    assert r["metrics"]["lists_evaluated"] >= 50
    assert max(r["split"]["train"]["as_of"]) < min(r["split"]["valid"]["as_of"]) <= max(r["split"]["valid"]["as_of"])
    assert max(r["split"]["valid"]["as_of"]) < min(r["split"]["test"]["as_of"])
    assert set(r["segments"]) <= {"mass", "affluent", "private"} and "mass" in r["segments"]


def test_first_version_becomes_champion_with_the_run_logged(trained):
    r = trained.result
    assert r["model"] == "nbo-recommender" and r["model_version"] == "1"
    assert r["promoted"] and not r["forced"] and r["promotion"]["reason"] == "no champion yet"
    from training import registry

    run = registry.connect(trained.settings.mlflow).get_run(r["run_id"])
    assert run.data.metrics["map_at_5"] == pytest.approx(r["metrics"]["map_at_5"])
    assert run.data.metrics["als_map_at_5"] == pytest.approx(r["baselines"]["als"]["map_at_5"])
    assert run.data.tags["nbo.promoted"] == "true"


def test_customers_who_browsed_mortgage_pages_rank_mortgage_higher(champion):
    ranked = champion.scorer.rank_rows(champion.rows)
    mortgage = ranked[ranked["product_id"] == "MORTGAGE"]
    browsed = champion.rows["page_views_mortgage_30d"].to_numpy()[mortgage["row"]] > 0
    assert browsed.sum() >= 10
    assert mortgage.loc[browsed, "rank"].mean() + 3 < mortgage.loc[~browsed, "rank"].mean()
    # The same customers, mortgage browsing switched on: mortgage moves up for most of them.
    quiet = champion.rows[champion.rows["page_views_mortgage_30d"].fillna(0) == 0].head(300).reset_index(drop=True)
    before = champion.scorer.rank_rows(quiet).query("product_id == 'MORTGAGE'").set_index("row")["rank"]
    after = champion.scorer.rank_rows(quiet.assign(page_views_mortgage_30d=6, searches_mortgage_30d=2))
    after = after.query("product_id == 'MORTGAGE'").set_index("row")["rank"]
    assert (after < before.loc[after.index]).mean() > 0.8


def test_offers_are_explained_by_shap_and_by_co_holdings(champion):
    (ranked,) = champion.scorer.rank_each(champion.rows.head(1))
    contributions, features = champion.scorer.contributions_rows(champion.rows.head(1))
    bias = champion.scorer.booster.predict(features.to_numpy(), pred_contrib=True)[:, -1]
    np.testing.assert_allclose(contributions.sum(axis=1) + bias, ranked.scores, atol=1e-6)
    # co-holdings explain the top offer of a customer who holds several products (one holding only the
    # default savings account may have nothing that raises it)
    several = champion.rows[champion.rows["held_product_ids"].map(len) >= 3].head(1)
    (held_many,) = champion.scorer.rank_each(several)
    reasons = champion.scorer.als.explain(held_many.interactions, held_many.product_ids[0])
    assert len(several) == 1 and reasons
    assert all(isinstance(p, str) and share > 0 for p, share in reasons)


def test_weaker_retrain_is_not_promoted_forcing_is_recorded_and_evaluation_reproduces(trained, bank_dir,
                                                                                      champion, tmp_path):
    retrained = run_json("retrain", "--model", "recommender", "--data", bank_dir, "--fast", "--trees", "1",
                         "--leaves", "2", env=trained.env)
    (worse,), (row,) = retrained["runs"], retrained["comparison"]
    assert worse["model_version"] == "2" and not worse["promoted"] and not worse["forced"]
    assert row == {"model": "nbo-recommender", "metric": "map_at_5", "champion_version": "1",
                   "champion_value": pytest.approx(trained.result["metrics"]["map_at_5"]), "new_version": "2",
                   "new_value": worse["promotion"]["candidate_value"], "promoted": False}
    assert worse["promotion"]["candidate_value"] < worse["promotion"]["champion_value"]

    forced = run_json("promote", "nbo-recommender", "--version", "2", "--force", env=trained.env)
    assert forced["promoted"] and forced["forced"]
    back = run_json("promote", "nbo-recommender", "--version", "1", env=trained.env)
    assert back["promoted"] and not back["forced"] and back["previous_champion"] == "2"

    evaluated = run_json("evaluate", trained.result["run_id"], "--out", tmp_path / "report", env=trained.env)
    assert str(evaluated["model_version"]) == "1"
    assert evaluated["metrics"]["map_at_5"] == pytest.approx(trained.result["metrics"]["map_at_5"])
    assert evaluated["baselines"]["als"]["map_at_5"] == pytest.approx(trained.result["baselines"]["als"]["map_at_5"])
    html = Path(evaluated["report"]).read_text(encoding="utf-8")
    assert "popularity" in html and "content" in html and "data:image/png;base64" in html
