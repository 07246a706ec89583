"""The language codes of every text nbo writes for a customer or an RM: one scheme, `zh` and `en`."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
