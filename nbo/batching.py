"""Group work: what concurrent threads submit at once runs as one call, each thread gets its own answer.

The first thread to arrive while no call is running becomes the leader: it takes everything queued
so far, runs it in one call and wakes the threads whose items it ran. Nobody returns before its own
item has run, so a durable write stays durable when it is acknowledged; the cost of a write (a
commit's fsync, a Feast online write) is paid once per group instead of once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    finished: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupRunner(Generic[Item, Result]):
    """Runs `run(items)` on groups of submitted items; `run` answers one result or error per item."""

    def __init__(self, run: Callable[[list[Item]], list[Result | BaseException]]):
        self._run = run
        self._cond = threading.Condition()
        self._queue: list[_Pending[Item, Result]] = []
        self._running = False

    def submit(self, item: Item) -> Result:
        """Run `item` with whatever else is queued; its result, or raise its error."""
        mine: _Pending[Item, Result] = _Pending(item)
        with self._cond:
            self._queue.append(mine)
            while not mine.finished:
                if self._running:
                    self._cond.wait()
                    continue
                self._running, group, self._queue = True, self._queue, []
                self._cond.release()
                try:
                    answers = self._answers(group)
                finally:
                    self._cond.acquire()
                for pending, answer in zip(group, answers, strict=True):
                    pending.finished = True
                    if isinstance(answer, BaseException):
                        pending.error = answer
                    else:
                        pending.result = answer
                self._running = False
                self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _answers(self, group: list[_Pending[Item, Result]]) -> list[Result | BaseException]:
        try:
            return self._run([p.item for p in group])
        except BaseException as err:  # noqa: BLE001 - handed to every caller of the group
            return [err] * len(group)
