"""What every CLI command shares: `--json` output, stderr logging and progress, error exits."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nbo.errors import ContractViolation, NboError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: level, event name and the record's extra fields."""

    _skip = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"level": record.levelname.lower(), "event": record.getMessage(),
                                   "logger": record.name}
        payload.update({k: v for k, v in vars(record).items() if k not in self._skip})
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr as JSON lines (entry points only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def emit(result: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], str]) -> None:
    """Print the result: one JSON object, or the human-readable text."""
    if as_json:
        click.echo(json.dumps(_jsonable(result), ensure_ascii=False, sort_keys=True))
    else:
        click.echo(human(result))


def progress(message: str) -> None:
    """Progress for people, on stderr so stdout stays machine-readable."""
    click.echo(message, err=True)


def handles_errors(func: F) -> F:
    """Turn nbo's own errors into a message on stderr (and JSON on stdout) and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NboError as err:
            body: dict[str, Any] = {"error": type(err).__name__, "message": str(err)}
            if isinstance(err, ContractViolation) and err.violations:
                body["violations"] = err.violations[:1000]
                body["violation_count"] = len(err.violations)
                for v in err.violations[:50]:
                    click.echo(f"  {v.get('text', v)}", err=True)
                if len(err.violations) > 50:
                    click.echo(f"  ... and {len(err.violations) - 50} more", err=True)
            click.echo(f"error: {err}", err=True)
            if kwargs.get("as_json"):
                click.echo(json.dumps(_jsonable(body), ensure_ascii=False, sort_keys=True))
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]
