"""Which portfolio (bank, book) a data directory belongs to, and the currency of its amounts.

Both come from the data directory's `source.json` (`"portfolio"`, `"currency"`); a directory without
them, like the synthetic bank, is portfolio `demo` in CNY. Models, champions and runs belong to one
portfolio: see README "Portfolios".
"""

from __future__ import annotations

import re
from pathlib import Path

from nbo.errors import ContractViolation
from sources.meta import SOURCE_META, read_meta

DEMO = "demo"
DEFAULT_CURRENCY = "CNY"
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def check_portfolio_name(name: str, where: str = "portfolio") -> str:
    """`name` if it is a portfolio name (a lowercase letter, then up to 31 of a-z 0-9 _ -), else ContractViolation."""
    if not NAME.match(name):
        raise ContractViolation(f"{where}: {name!r} is not a portfolio name: a lowercase letter, then up to 31 "
                                "lowercase letters, digits, '_' or '-'")
    return name


def declared_portfolio(data_dir: Path) -> str | None:
    """The portfolio `source.json` names, or None when it names none."""
    value = read_meta(data_dir).get("portfolio")
    if value is None:
        return None
    return check_portfolio_name(str(value), f"{data_dir / SOURCE_META}, key portfolio")


def portfolio_of(data_dir: Path) -> str:
    """The portfolio of a data directory: source.json's `portfolio`, `demo` when it names none."""
    return declared_portfolio(data_dir) or DEMO


def currency_of(data_dir: Path) -> str:
    """The ISO 4217 code of a data directory's amounts: source.json's `currency`, `CNY` when it names none."""
    value = str(read_meta(data_dir).get("currency") or DEFAULT_CURRENCY)
    if not CURRENCY.match(value):
        raise ContractViolation(f"{data_dir / SOURCE_META}, key currency: {value!r} is not an ISO 4217 code "
                                "(three capital letters)")
    return value


def training_portfolio(data_dir: Path, asked: str | None) -> str:
    """The portfolio a model trained on `data_dir` belongs to: `asked` (`--portfolio`) when source.json
    names none or the same one, else source.json's, else `demo`.

    Raises:
        ContractViolation: `asked` differs from the portfolio source.json names (both are named).
    """
    declared = declared_portfolio(data_dir)
    if asked is not None:
        check_portfolio_name(asked, "--portfolio")
        if declared is not None and asked != declared:
            raise ContractViolation(f"--portfolio {asked} differs from portfolio {declared!r} that "
                                    f"{data_dir / SOURCE_META} names: a data set belongs to one portfolio")
    return asked or declared or DEMO
