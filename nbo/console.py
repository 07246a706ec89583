"""What every CLI command shares: `--json` output, stderr logging and progress, `--lang`, error exits.

On a terminal, stderr gets readable log lines (time, level, event, key=value) and progress bars with
an ETA; elsewhere (a pipe, a file, CI) or with `--log-format json`, one JSON object per line, and
progress as a few `progress` lines (start, every PROGRESS_EVERY_S seconds, end). stdout carries only
the command's result. Third-party loggers go through the same handler at the level the user chose;
their INFO chatter (Feast's registry refreshes, MLflow's notes) and deprecation warnings count as
DEBUG; what they print themselves is captured (`captured_output`) and logged at DEBUG, without ANSI.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from nbo.errors import ContractViolation, Forbidden, NboError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")

OWN_PACKAGES = frozenset({"nbo", "sources", "features", "models", "training", "serving", "evaluation"})
DEPRECATIONS = ("DeprecationWarning:", "FutureWarning:", "PendingDeprecationWarning:")
PROGRESS_EVERY_S = 5.0  # a non-terminal gets a progress line at most this often (plus start and end)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_SKIP = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

log = logging.getLogger(__name__)
progress_log = logging.getLogger("nbo.progress")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, event name, logger and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"time": _iso(record.created), "level": record.levelname.lower(),
                                   "event": record.getMessage(), "logger": record.name}
        payload.update(_extras(record))
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class _LevelFilter(logging.Filter):
    """Demote third-party chatter to DEBUG, then keep only records at or above the chosen level."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if is_chatter(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def is_chatter(record: logging.LogRecord) -> bool:
    """Third-party INFO (Feast's "Registry cache expired", MLflow's notes) and deprecation warnings."""
    if record.name == "py.warnings":
        return any(kind in record.getMessage() for kind in DEPRECATIONS)
    return record.levelno == logging.INFO and record.name.split(".")[0] not in OWN_PACKAGES


class _RichHandler(logging.Handler):
    """Readable lines on the console the progress bars share: time, level, event, key=value extras."""

    _styles = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}

    def __init__(self, console: Any):
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            line = Text(time.strftime("%H:%M:%S", time.localtime(record.created)) + " ", style="dim")
            line.append(f"{record.levelname:<7} ", style=self._styles.get(record.levelname, ""))
            line.append(record.getMessage(), style="bold" if record.levelno >= logging.INFO else "")
            for key, value in _extras(record).items():
                line.append(f"  {key}=", style="dim")
                line.append(value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False))
            if record.exc_info:
                line.append("\n" + logging.Formatter().formatException(record.exc_info))
            self.console.print(line, soft_wrap=True, highlight=False, markup=False)
        except Exception:  # noqa: BLE001 - logging must never take the command down
            self.handleError(record)


class _Output:
    """Where this process's logs and progress go, as `configure_logging` set it up."""

    def __init__(self) -> None:
        self.console: Any = None  # a rich Console on a terminal in text format, else None
        self.level = logging.INFO
        self.bars: list[Bar] = []
        self.live: Any = None  # the rich Progress all open bars share


_out = _Output()


def configure_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """Send logs to stderr (entry points only): text on a terminal or with `text`, JSON lines otherwise."""
    stream = sys.stderr
    tty = stream.isatty()
    text = log_format == "text" or (log_format == "auto" and tty)
    # What third parties read: MLflow keeps its own handler unless told; tqdm bars (Feast, implicit)
    # would draw inside our output; colour only on a terminal.
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    os.environ["TQDM_DISABLE"] = "1"
    if not tty:
        os.environ["NO_COLOR"] = "1"
        os.environ["TERM"] = "dumb"
    if text:
        from rich.console import Console

        console = Console(file=stream, stderr=True, soft_wrap=True, highlight=False,
                          force_terminal=tty or None, no_color=not tty)
        handler: logging.Handler = _RichHandler(console)
        _out.console = console if tty else None  # bars only on a terminal; elsewhere progress lines
    else:
        _out.console = None
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonLogFormatter())
    _out.level = logging.getLevelName(level)
    handler.addFilter(_LevelFilter(_out.level))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if _out.level <= logging.DEBUG else logging.INFO)
    for name in ("mlflow", "alembic", "feast", "urllib3", "lightgbm", "implicit", "distributed", "py.warnings"):
        third = logging.getLogger(name)
        third.handlers.clear()
        third.propagate = True
    logging.captureWarnings(True)  # Python's filters still decide which warnings appear; deprecations are DEBUG


class _LogStream(io.TextIOBase):
    """A file whose lines become DEBUG log records, ANSI codes and progress-bar redraws removed."""

    def __init__(self, name: str):
        super().__init__()
        self._log = logging.getLogger(name)
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = re.split(r"[\r\n]", self._pending)
        for line in lines:
            if clean := _ANSI.sub("", line).strip():
                self._log.debug(clean)
        return len(text)

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        if self._pending:
            self.write("\n")


@contextlib.contextmanager
def captured_output() -> Iterator[None]:
    """What third parties print (Feast's materialize report, MLflow's "Registered model", LightGBM)
    becomes DEBUG log records, so stdout stays the result and stderr stays log lines."""
    out, err = _LogStream("third_party.stdout"), _LogStream("third_party.stderr")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # type: ignore[type-var]
            yield
    finally:
        out.flush()
        err.flush()


class Bar:
    """One progress bar: `advance()` as items finish, `stage(name)` for a list of named steps."""

    def __init__(self, label: str, total: int | None, unit: str, names: Sequence[str] = ()):
        self.label, self.total, self.unit, self.names = label, total, unit, list(names)
        self.done = 0
        self.note = self.names[0] if self.names else ""
        self.started = time.monotonic()
        self._said = 0.0
        self._task: Any = None

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """`n` more items done (and what is being done now)."""
        self.done += n
        self._show(note)

    def milestone(self, note: str) -> None:
        """A rare turn worth a line of its own even off a terminal (a new block of a large bank)."""
        self.note = note
        if _out.live is not None and self._task is not None:
            self._show(note)
        else:
            self._say(finished=False)

    def set_total(self, total: int) -> None:
        """The total, once known (e.g. after the first block of a bank)."""
        self.total = total
        self._show(None)

    def stage(self, name: str) -> None:
        """Mark the steps before `name` done and `name` running (`name` beyond the list: only shown)."""
        for i in range(self.done, len(self.names)):
            if self.names[i] == name or self.names[i].endswith(f": {name}"):  # "churn: fit" is step "fit"
                self.done = i
                name = self.names[i]
                break
        self._show(name)

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before the first item or without a total)."""
        if not self.total or not self.done:
            return None
        return round((time.monotonic() - self.started) * (self.total - self.done) / self.done, 1)

    def _show(self, note: str | None) -> None:
        if note is not None:
            self.note = note
        if _out.live is not None and self._task is not None:
            _out.live.update(self._task, completed=self.done, total=self.total, note=self.note)
        elif time.monotonic() - self._said >= PROGRESS_EVERY_S:
            self._say(finished=False)

    def _say(self, finished: bool) -> None:
        self._said = time.monotonic()
        progress_log.info("progress", extra={
            "task": self.label, "done": self.done, "total": self.total, "unit": self.unit,
            "percent": round(100 * self.done / self.total) if self.total else None,
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "eta_s": 0.0 if finished else self.eta_s(), "note": self.note or None, "finished": finished})


@contextlib.contextmanager
def progress_bar(label: str, total: int | None = None, unit: str = "steps",
                 names: Sequence[str] = ()) -> Iterator[Bar]:
    """A progress bar with ETA on a terminal; sparse `progress` log lines elsewhere."""
    bar = Bar(label, len(names) if names else total, unit, names)
    _open(bar)
    ok = False
    try:
        yield bar
        ok = True
    finally:
        if ok:
            bar.done = bar.total or bar.done
        _close(bar, ok)


def steps(label: str, names: Sequence[str]) -> contextlib.AbstractContextManager[Bar]:
    """A bar over named steps; code below calls `stage(name)` as each one starts."""
    return progress_bar(label, unit="steps", names=names)


def stage(name: str) -> None:
    """Tell the innermost open `steps` bar that step `name` starts (no-op when none is open)."""
    for bar in reversed(_out.bars):
        if bar.names:
            bar.stage(name)
            return


def _open(bar: Bar) -> None:
    _out.bars.append(bar)
    if _out.console is not None and _out.level <= logging.INFO:
        if _out.live is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            _out.live = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=30),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), TextColumn("{task.fields[note]}"), console=_out.console)
            _out.live.start()
        bar._task = _out.live.add_task(bar.label, total=bar.total, note=bar.note)
    else:
        bar._say(finished=False)


def _close(bar: Bar, ok: bool) -> None:
    _out.bars.remove(bar)
    if _out.live is not None and bar._task is not None:
        _out.live.update(bar._task, completed=bar.done, total=bar.total, note="done" if ok else "stopped")
        if not _out.bars:
            _out.live.stop()
            _out.live = None
    elif ok:
        bar.note = "done"
        bar._say(finished=True)


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _SKIP and v is not None}


class LangType(click.ParamType):
    """`--lang`: zh, zh-CN (any case, - or _) or en; the value is `zh` or `en`."""

    name = "zh|zh-CN|en"
    _accepted = {"zh": "zh", "zh-cn": "zh", "zh_cn": "zh", "zh-hans": "zh", "en": "en", "en-us": "en", "en_us": "en"}

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:  # noqa: ARG002 - click's signature
        return "[zh|zh-CN|en]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        lang = self._accepted.get(str(value).strip().lower())
        if lang is None:
            self.fail(f"{value!r} is not a language nbo writes: use zh, zh-CN or en", param, ctx)
        return lang


def lang_option(help_text: str) -> Callable[[F], F]:
    """The `--lang` option every command that writes text takes (default en)."""
    return click.option("--lang", type=LangType(), default="en", show_default=True, help=help_text)


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
            _fail(body, kwargs.get("as_json", False), err.exit_code)
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise  # click reports these itself (usage errors: exit 2)
        except PermissionError as err:  # the operating system forbids it: exit 4, as a role would be
            _fail({"error": "PermissionError", "message": f"permission denied: {err.filename or err}"},
                  kwargs.get("as_json", False), Forbidden.exit_code)
        except Exception as err:  # noqa: BLE001 - a bug or an unforeseen failure: exit 1, no traceback unless DEBUG
            log.debug("traceback", exc_info=True)
            _fail({"error": type(err).__name__, "message": f"{type(err).__name__}: {err} "
                   "(--log-level DEBUG shows the traceback)"}, kwargs.get("as_json", False), NboError.exit_code)

    return wrapper  # type: ignore[return-value]


def _fail(body: dict[str, Any], as_json: bool, exit_code: int) -> None:
    click.echo(f"error: {body['message']}", err=True)
    if as_json:
        click.echo(json.dumps(_jsonable(body), ensure_ascii=False, sort_keys=True))
    sys.exit(exit_code)
