"""The reference controller: plausible readings, numbered with seq in a named session and resent until acked
(so each is stored exactly once), over a reconnecting socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tornado.httpclient import HTTPClientError
from tornado.httputil import url_concat
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

log = logging.getLogger("webmacs.simulate")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
MAX_UNACKED = 1000  # messages in flight before the simulator waits for acks
POLICY_VIOLATION = 1008
DRAIN_SECONDS = 5.0  # how long a stopping simulator waits for outstanding acks
RETRY_DELAY = 1.0  # seconds before resending what the server could not store


def reading(event_public_id: str, number: int, now: float, setpoint: float | None = None) -> dict[str, Any]:
    """A slow wave plus noise, different per event, stamped at the moment of measuring; an event that was
    commanded reports the commanded value instead (an actuator's state, a range's setpoint)."""
    wave = 3.0 * math.sin(2 * math.pi * now / 60.0 + number)
    return {
        "event_public_id": event_public_id,
        "value": setpoint if setpoint is not None else round(20.0 + 5.0 * number + wave + random.gauss(0.0, 0.1), 3),
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }


class Simulator:
    """Owns the unacked messages: each keeps its seq until the server acks it, and is resent after a reconnect."""

    def __init__(self, url: str, events: list[str], rate: float, batch: int) -> None:
        # A new session per run, its seq from 1: the server tells a resend from a new message by both.
        self.session = f"sim-{uuid.uuid4().hex[:16]}"
        self.url = url_concat(url, {"session": self.session})
        self.events = [event.strip() for event in events if event.strip()]
        self.interval = 1.0 / rate
        self.batch = max(1, batch)
        self.unacked: dict[int, str] = {}
        self.next_seq = 1
        self.sent = self.acked = self.rejected = self.connections = 0
        self.setpoints: dict[str, float] = {}  # event -> the value last commanded
        self.commands_applied: set[str] = set()  # command ids: each is applied once, however often it comes
        self.fatal: str | None = None
        self._pending: list[dict[str, Any]] = []

    async def run(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_FIRST
        while not stop.is_set() and self.fatal is None:
            acked_before = self.acked
            try:
                conn = await websocket_connect(self.url, connect_timeout=10)
            except (TimeoutError, OSError, HTTPClientError) as error:
                problem = f"cannot connect ({error})"
            else:
                self.connections += 1
                log.info("connected; resending %d unacked messages", len(self.unacked))
                for text in self.unacked.values():
                    _send(conn, text)
                await self._session(conn, stop)
                conn.close()
                if conn.close_code == POLICY_VIOLATION:
                    self.fatal = f"refused by the server: {conn.close_reason}"
                problem = f"connection lost (code {conn.close_code} {conn.close_reason or ''})"
            if stop.is_set() or self.fatal:
                break
            # Only a connection that got something stored proves the server healthy again; one the
            # server accepts and closes at once (1013, database down) must not make us hammer it.
            if self.acked > acked_before:
                backoff = BACKOFF_FIRST
            delay = backoff * random.uniform(0.5, 1.5)
            log.warning("%s; reconnecting in %.1fs", problem, delay)
            await _sleep_unless(stop, delay)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _session(self, conn: WebSocketClientConnection, stop: asyncio.Event) -> None:
        reader = asyncio.ensure_future(self._read(conn))
        next_tick = time.monotonic()
        while not stop.is_set() and not reader.done():
            if len(self.unacked) < MAX_UNACKED:
                self._measure(conn)
            next_tick += self.interval
            await _sleep_unless(stop, max(0.0, next_tick - time.monotonic()), reader)
        # Stopping: give the acks for what is in flight a moment to arrive.
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.unacked and not reader.done() and time.monotonic() < deadline:
            await asyncio.wait([reader], timeout=0.05)
        reader.cancel()

    def _measure(self, conn: WebSocketClientConnection) -> None:
        now = time.time()
        self._pending.extend(reading(event, number, now, self.setpoints.get(event))
                             for number, event in enumerate(self.events))
        while len(self._pending) >= self.batch:
            items, self._pending = self._pending[:self.batch], self._pending[self.batch:]
            message: dict[str, Any] = {**items[0]} if self.batch == 1 else {"datapoints": items}
            message["seq"] = seq = self.next_seq
            self.next_seq += 1
            self.unacked[seq] = text = json.dumps(message)
            _send(conn, text)
            self.sent += len(items)

    async def _read(self, conn: WebSocketClientConnection) -> None:
        while (text := await conn.read_message()) is not None:
            answer = json.loads(text)
            if answer.get("type") == "command":
                _send(conn, json.dumps(self._apply(answer)))
            elif answer.get("type") == "ack":
                if self.unacked.pop(answer.get("seq"), None) is not None:
                    self.acked += sum(1 for public_id in answer["public_ids"] if public_id)
            elif answer.get("type") == "error":
                log.warning("server: %s", answer.get("message"))
                if answer.get("retry"):
                    asyncio.get_running_loop().call_later(RETRY_DELAY, self._resend, conn, answer.get("seq"))
                else:
                    self.unacked.pop(answer.get("seq"), None)
                    self.rejected += 1

    def _apply(self, command: dict[str, Any]) -> dict[str, Any]:
        """Apply a command unless it has expired or is not for us; the command_ack that says which."""
        command_id, event = command.get("command_id"), command.get("event_public_id")
        answer: dict[str, Any] = {"type": "command_ack", "command_id": command_id, "ok": True}
        if command_id in self.commands_applied:
            return answer  # sent again after a reconnect: applied already
        if event not in self.events:
            return {**answer, "ok": False, "message": f"{event} is not one of this controller's events"}
        if _expired(command.get("expires_at", "")):
            return {**answer, "ok": False, "message": "arrived after it expired; not applied"}
        self.setpoints[event] = float(command["value"])
        self.commands_applied.add(str(command_id))
        log.info("applied %s: %s = %s", command_id, event, command["value"])
        return answer

    def _resend(self, conn: WebSocketClientConnection, seq: int) -> None:
        if seq in self.unacked:
            _send(conn, self.unacked[seq])


def _expired(expires_at: str) -> bool:
    """A conforming controller never applies a command after its expires_at (an unreadable one counts as past)."""
    try:
        return datetime.fromisoformat(expires_at) <= datetime.now(UTC)
    except ValueError:
        return True


def _send(conn: WebSocketClientConnection, text: str) -> None:
    # The connection can close between two of our checks; whatever was not acked is resent after
    # the reconnect, so a closed connection loses nothing here.
    with contextlib.suppress(WebSocketClosedError):
        conn.write_message(text)


async def _sleep_unless(stop: asyncio.Event, delay: float, *also: asyncio.Future[Any]) -> None:
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, *also], timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


PROGRESS_EVERY = 5.0  # seconds between progress lines


async def run_simulator(url: str, events: list[str], rate: float, batch: int) -> int:
    simulator = Simulator(url, events, rate, batch)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The URL without its query: the token must not reach a terminal or a log.
    print(f"simulate: sending {len(simulator.events)} event(s) at {rate:g} readings/s each to "
          f"{url.split('?', 1)[0]} (session {simulator.session}); Ctrl-C stops", file=sys.stderr, flush=True)
    reporting = asyncio.ensure_future(_report(simulator, stop))
    await simulator.run(stop)
    reporting.cancel()
    print(json.dumps({"sent": simulator.sent, "acked": simulator.acked, "unacked_messages": len(simulator.unacked),
                      "rejected_messages": simulator.rejected, "connections": simulator.connections}))
    if simulator.fatal:
        log.error(simulator.fatal)
        return 1
    return 0


async def _report(simulator: Simulator, stop: asyncio.Event) -> None:
    """A progress line every few seconds, so a newcomer sees at once whether readings get through."""
    while not stop.is_set():
        await _sleep_unless(stop, PROGRESS_EVERY)
        print(f"simulate: sent {simulator.sent}, acked {simulator.acked}, rejected {simulator.rejected} "
              f"messages, {len(simulator.unacked)} waiting for an ack, {simulator.connections} connection(s)",
              file=sys.stderr, flush=True)
