"""The alarm evaluator: every reading this process stores is checked against its event's rules as it
commits, and silences are checked once a second.

Each process evaluates the readings it stored; the database makes an alarm once (one active alarm per
rule, 0010_alarms.sql), so several processes raise it once, and tells every process of each change,
which keeps their view of what is active the same. Nearly every reading is skipped by one comparison:
each event keeps the band of values that change nothing about any of its rules. In an alarm storm, when
its readings go on meeting its active rules, a second band makes each one a count: only a reading outside
both is checked rule by rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import momoko

from models import alarms, rules
from models.database import UNAVAILABLE, one_line
from models.listener import Listener
from models.relay import APPLICATION_NAME
from models.rules import INF, Rule

log = logging.getLogger("webmacs.alarms")

TICK = 1.0  # seconds between looks at silences, pending conditions and counts
STOP_WAIT = 5.0  # seconds a stopping server waits for alarm changes to be written
MAX_QUEUED = 10_000  # alarm changes waiting for the database, at most; beyond, the oldest counts are dropped


@dataclass
class _State:
    """What this process knows of one rule."""

    rule: Rule
    active: bool = False
    holding_since: float | None = None  # while its condition holds but not yet for `for` seconds
    last: float | None = None  # the last value seen
    last_at: str | None = None


@dataclass
class _Watch:
    """One event's rules; the band of values that changes nothing about any of them; and the band in which a
    value only counts again against each active alarm (it meets every active rule, and leaves the others be),
    with the readings so counted since they were last added to the alarms' counts."""

    states: list[_State] = field(default_factory=list)
    low: float = -INF
    high: float = INF
    counting_low: float = INF
    counting_high: float = -INF
    counted: int = 0
    counted_last: tuple[float, str] | None = None  # the last of them: value, timestamp

    def settle(self) -> None:
        low, high = -INF, INF
        counting_low, counting_high = -INF, INF
        counting = False  # nothing to count without an active alarm: the quiet band says it all
        for state in self.states:
            if state.holding_since is not None:
                low, high = INF, -INF  # every reading decides whether it still holds
                counting_low, counting_high = INF, -INF
                break
            quiet_low, quiet_high = state.rule.quiet(state.active, state.last)
            low, high = max(low, quiet_low), min(high, quiet_high)
            meeting_low, meeting_high = state.rule.meeting(state.last) if state.active else (quiet_low, quiet_high)
            counting_low, counting_high = max(counting_low, meeting_low), min(counting_high, meeting_high)
            counting = counting or state.active
        self.low, self.high = low, high
        self.counting_low, self.counting_high = (counting_low, counting_high) if counting else (INF, -INF)


class AlarmEvaluator:
    """Owns this process's rules, what it knows of their alarms, and the LISTEN that keeps that current.

    `observe` gets the datapoints this process committed; `on_alarm` gets each alarm change as a stream
    frame; `on_deliveries` is told that webhook deliveries are waiting.
    """

    def __init__(self, url: str, db: momoko.Pool, on_alarm: Callable[[dict[str, Any]], None],
                 on_deliveries: Callable[[], None]) -> None:
        self._db = db
        self._on_alarm, self._on_deliveries = on_alarm, on_deliveries
        self._watches: dict[str, _Watch] = {}
        self._states: dict[int, _State] = {}  # by rule id
        self._by_public_id: dict[str, _State] = {}
        self._repeats: dict[int, tuple[float, str | None, int]] = {}
        self._writes: asyncio.Queue[Callable[[], Awaitable[Any]]] = asyncio.Queue()
        self._listener = Listener(url, rules.CHANNEL, f"{APPLICATION_NAME}-{os.getpid()}-alarms",
                                  on_notified=self._notified, on_listening_again=self._reload_soon)
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_wanted = asyncio.Event()

    async def start(self) -> None:
        await self._reload()
        await self._listener.start()
        self._tasks = [asyncio.ensure_future(loop()) for loop in (self._write, self._tick, self._reload_when_asked)]

    async def stop(self) -> None:
        """Stop evaluating; what was decided is written first."""
        await self._flush_repeats()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), STOP_WAIT)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._listener.stop()

    def observe(self, datapoints: list[dict[str, Any]]) -> None:
        """Check committed datapoints against their events' rules: one dict lookup and one comparison each,
        unless a value leaves its event's quiet band."""
        watches = self._watches
        if not watches:
            return
        for datapoint in datapoints:
            watch = watches.get(datapoint["event_public_id"])
            if watch is None or watch.low <= datapoint["value"] <= watch.high:
                continue
            if watch.counting_low <= datapoint["value"] <= watch.counting_high:
                watch.counted += 1
                watch.counted_last = (datapoint["value"], datapoint["timestamp"])
            else:
                self._evaluate(watch, datapoint)

    def _add_counted(self, watch: _Watch) -> None:
        """The readings the watch only counted, added to its active alarms' repeats (and its rules' last value)."""
        if not watch.counted or watch.counted_last is None:
            return
        value, at = watch.counted_last
        for state in watch.states:
            if state.active:
                _, _, count = self._repeats.get(state.rule.id, (0.0, None, 0))
                self._repeats[state.rule.id] = (value, at, count + watch.counted)
            state.last, state.last_at = value, at
        watch.counted, watch.counted_last = 0, None

    def _evaluate(self, watch: _Watch, datapoint: dict[str, Any]) -> None:
        self._add_counted(watch)  # first: this reading may clear an alarm those readings count against
        value, at = datapoint["value"], datapoint["timestamp"]
        for state in watch.states:
            rule = state.rule
            if state.active:
                if rule.holds(value):
                    _, _, count = self._repeats.get(rule.id, (0.0, None, 0))
                    self._repeats[rule.id] = (value, at, count + 1)
                elif rule.clears(value):
                    state.active = False
                    repeats = self._repeats.pop(rule.id, None)
                    if repeats is not None:  # counted before the alarm is closed, or they would miss it
                        self._queue(functools.partial(alarms.count_repeats, self._db, {rule.id: repeats}))
                    self._queue(functools.partial(alarms.clear_alarm, self._db, rule, value, at))
            elif rule.holds(value):
                since = state.holding_since = state.holding_since if state.holding_since is not None else _seconds(at)
                if rule.for_seconds <= 0 or _seconds(at) - since >= rule.for_seconds:
                    self._raise(state, value, at)
            else:
                state.holding_since = None
            state.last, state.last_at = value, at
        watch.settle()

    def _raise(self, state: _State, value: float | None, at: str | None) -> None:
        state.active, state.holding_since = True, None
        self._queue(functools.partial(alarms.raise_alarm, self._db, state.rule, value, at))

    def _queue(self, write: Callable[[], Awaitable[Any]]) -> None:
        if self._writes.qsize() < MAX_QUEUED:
            self._writes.put_nowait(write)
        else:
            log.warning("alarm changes are waiting for the database; one was dropped")

    async def _write(self) -> None:
        """Alarm changes in the order they were decided, one at a time."""
        while True:
            write = await self._writes.get()
            try:
                await write()
            except UNAVAILABLE as error:
                log.warning("could not record an alarm change: %s", one_line(error))
            except Exception:
                log.exception("could not record an alarm change")
            finally:
                self._writes.task_done()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._look_around()
            except UNAVAILABLE as error:
                log.warning("could not check alarm rules: %s", one_line(error))
            except Exception:
                log.exception("could not check alarm rules")

    async def _look_around(self) -> None:
        """Once a second: conditions that have now held long enough, silences, and the counts of repeats."""
        now = time.time()
        for watch in self._watches.values():
            for state in watch.states:
                since, rule = state.holding_since, state.rule
                if since is not None and not state.active and now - since >= rule.for_seconds \
                        and state.last is not None and rule.holds(state.last):
                    self._raise(state, state.last, state.last_at)
                    watch.settle()
        silent_rules = [state.rule.id for state in self._states.values()
                        if state.rule.condition == "no_data" and not state.active]
        if silent_rules:
            for rule_id, newest in await alarms.silent(self._db, silent_rules):
                silent = self._states.get(rule_id)
                if silent is not None and not silent.active:
                    self._raise(silent, None, newest.isoformat() if isinstance(newest, datetime) else None)
                    self._watches[silent.rule.event_public_id].settle()
        await self._flush_repeats()

    async def _flush_repeats(self) -> None:
        """Through the queue of writes, after the raise they count against."""
        for watch in self._watches.values():
            self._add_counted(watch)
        if self._repeats:
            repeats, self._repeats = self._repeats, {}
            self._queue(functools.partial(alarms.count_repeats, self._db, repeats))

    def _notified(self, payloads: list[str]) -> None:
        for payload in payloads:
            kind, _, body = payload.partition(" ")
            if kind == "rules":
                self._reload_wanted.set()
            elif kind == "deliveries":
                self._on_deliveries()
            elif kind == "alarm":
                self._alarm_changed(json.loads(body))

    def _alarm_changed(self, change: dict[str, Any]) -> None:
        alarm = change["alarm"]
        state = self._by_public_id.get(alarm["rule_id"])
        if state is not None and change["kind"] in ("alarm.raised", "alarm.cleared"):
            self._add_counted(self._watches[state.rule.event_public_id])  # counted while it was as it was
            state.active = alarm["state"] == "active"
            state.holding_since = None
            self._watches[state.rule.event_public_id].settle()
        self._on_alarm({"type": "alarm", "kind": change["kind"], "alarm": alarm})

    def _reload_soon(self) -> None:
        self._reload_wanted.set()  # what was notified while the LISTEN connection was down went unheard

    async def _reload_when_asked(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            try:
                await self._reload()
            except UNAVAILABLE as error:
                log.warning("could not load alarm rules: %s", one_line(error))
                await asyncio.sleep(TICK)
                self._reload_wanted.set()

    async def _reload(self) -> None:
        """Every rule from the database; what is known of a rule that did not change is kept."""
        compiled = await rules.compiled(self._db)
        active = await alarms.active_rule_ids(self._db)
        for watch in self._watches.values():
            self._add_counted(watch)  # against the rules as they were
        states: dict[int, _State] = {}
        watches: dict[str, _Watch] = {}
        for rule in compiled:
            kept = self._states.get(rule.id)
            state = kept if kept is not None and kept.rule == rule else _State(rule)
            state.active = rule.id in active
            states[rule.id] = state
            watches.setdefault(rule.event_public_id, _Watch()).states.append(state)
        for watch in watches.values():
            watch.settle()
        self._states, self._watches = states, watches
        self._by_public_id = {state.rule.public_id: state for state in states.values()}


def _seconds(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return math.nan
