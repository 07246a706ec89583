"""Path parameters the routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from serving.schemas import CustomerIdPattern

CustomerId = Annotated[str, Path(pattern=CustomerIdPattern, examples=["C00000042"])]
