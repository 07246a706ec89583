"""One NPS answer (the API's body item and a file's row), and reading answer files (parquet or CSV).

A file's errors name the file, the row (1 = the first data row) and the column; every row is checked
before anything is stored."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nbo.errors import ContractViolation, InputFileError
from serving.campaigns.spec import Channel
from sources.contract import CUSTOMER_ID

REQUIRED = ("answer_id", "customer_id", "answered_at", "score")
OPTIONAL = ("comment", "channel", "campaign_id")
COLUMNS = REQUIRED + OPTIONAL
CLOCK_SKEW = timedelta(minutes=5)  # an answer this far ahead of the server's clock is still taken
MAX_ERRORS = 20  # the first errors of a bad file, not all of them


class NpsAnswer(BaseModel):
    """A customer's answer to "How likely are you to recommend us?" (0-10), maybe after a campaign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer_id: str = Field(min_length=1, max_length=64, description="unique; the idempotency key")
    customer_id: str = Field(pattern=CUSTOMER_ID.removeprefix("^").removesuffix(r"\Z"))
    answered_at: datetime = Field(description="ISO 8601; without an offset, UTC; not in the future")
    score: Annotated[int, Field(ge=0, le=10)]
    comment: str | None = Field(default=None, max_length=500)
    channel: Channel | None = None
    campaign_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")

    @field_validator("score", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a score is a whole number from 0 to 10, not true/false")
        return value

    @field_validator("answered_at")
    @classmethod
    def _utc_and_past(cls, value: datetime) -> datetime:
        try:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError as err:
            raise ValueError(f"{value.isoformat()} is out of range in UTC") from err
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError(f"{value.isoformat()} is in the future")
        return value

    def content(self) -> tuple[Any, ...]:
        """What must match for a replayed answer to be the same answer."""
        return (self.customer_id, self.answered_at.astimezone(UTC).replace(microsecond=0), self.score,
                self.comment or None, self.channel, self.campaign_id)


def _cell(value: Any) -> Any:
    """A file's cell as Python: None for empty/NaN, datetimes and ints unwrapped."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def read_answer_file(path: Path) -> pd.DataFrame:
    """The file's rows as text/objects (parquet or CSV by suffix); InputFileError when unreadable or
    missing a required column."""
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise InputFileError(f"{path}: give a .parquet or .csv file")
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read: {err}") from err
    if missing := [c for c in REQUIRED if c not in frame.columns]:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)}; "
                             f"optional {', '.join(OPTIONAL)})")
    if extra := [c for c in frame.columns if c not in COLUMNS]:
        raise InputFileError(f"{path}: unknown column(s) {', '.join(map(str, extra))}")
    return frame


def answers_of(path: Path, frame: pd.DataFrame) -> list[NpsAnswer]:
    """Every row as an answer; ContractViolation naming file, row (1 = first data row) and column of
    the first MAX_ERRORS bad cells, and of answer ids given twice with different content."""
    answers, problems = [], []
    columns = [c for c in COLUMNS if c in frame.columns]
    for row, values in enumerate(frame[columns].itertuples(index=False, name=None), start=1):
        try:
            answers.append(NpsAnswer.model_validate({c: _cell(v) for c, v in zip(columns, values, strict=True)}))
        except ValidationError as err:
            for e in err.errors():
                column = ".".join(str(p) for p in e["loc"]) or "row"
                problems.append({"file": str(path), "row": row, "column": column, "message": e["msg"]})
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        first = problems[0]
        raise ContractViolation(f"{path}: row {first['row']}, column {first['column']}: {first['message']}"
                                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), problems)
    return answers
