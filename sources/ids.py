"""Customer ids as people type them: the canonical `C00000042`, or the customer number `42`.

The one parser every command taking a customer id uses; the contract's pattern decides (ASCII
digits only, so a fullwidth `Ｃ００００００４２` is refused here as in the files and the API).
"""

from __future__ import annotations

import re
from typing import Any

import click

from sources.contract import CUSTOMER_ID

_NUMBER = re.compile(r"[0-9]{1,8}\Z")


def customer_id(text: str) -> str:
    """`C00000042` as it is, `c00000042` upper-cased, `42` (or `00000042`) as `C00000042`; ValueError else."""
    text = text.strip()
    if _NUMBER.match(text) and int(text) > 0:
        return f"C{int(text):08d}"
    if re.match(CUSTOMER_ID, text[:1].upper() + text[1:]):
        return text[:1].upper() + text[1:]
    raise ValueError(f"{text!r} is not a customer id: C and 8 digits (C00000042), the number (42) or a OneID id (O and 10 digits)")


class CustomerIdType(click.ParamType):
    """A click parameter read with `customer_id`."""

    name = "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return customer_id(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


CUSTOMER = CustomerIdType()
