"""Which portfolio a data directory belongs to, and the registered names of its models."""

from __future__ import annotations

import json

import pytest

from models.registry import CHURN, registered_name, split_name
from nbo.errors import ContractViolation
from sources.portfolio import currency_of, portfolio_of, training_portfolio


def test_a_directory_without_source_json_is_the_demo_in_cny(tmp_path):
    assert (portfolio_of(tmp_path), currency_of(tmp_path)) == ("demo", "CNY")
    assert training_portfolio(tmp_path, None) == "demo"
    assert training_portfolio(tmp_path, "acme") == "acme"


def test_source_json_names_the_portfolio_and_a_different_flag_is_refused_naming_both(tmp_path):
    (tmp_path / "source.json").write_text(json.dumps({"portfolio": "acme", "currency": "EUR"}))
    assert (portfolio_of(tmp_path), currency_of(tmp_path)) == ("acme", "EUR")
    assert training_portfolio(tmp_path, "acme") == "acme"
    with pytest.raises(ContractViolation, match=r"--portfolio other differs from portfolio 'acme'"):
        training_portfolio(tmp_path, "other")


@pytest.mark.parametrize("meta", [{"portfolio": "Acme Bank"}, {"portfolio": "9acme"}, {"currency": "euro"}])
def test_a_bad_name_or_currency_names_the_file_and_key(tmp_path, meta):
    (tmp_path / "source.json").write_text(json.dumps(meta))
    with pytest.raises(ContractViolation, match=rf"source.json, key {next(iter(meta))}"):
        portfolio_of(tmp_path) if "portfolio" in meta else currency_of(tmp_path)


def test_the_demo_keeps_its_registered_names_and_others_get_their_own():
    assert registered_name(CHURN, "demo") == "nbo-churn"
    assert registered_name(CHURN, "acme-cards") == "nbo-churn.acme-cards"
    assert split_name("nbo-churn.acme-cards") == (CHURN, "acme-cards")
    assert split_name("nbo-churn") == (CHURN, "demo")
