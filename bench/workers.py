"""Load generator processes (controllers, subscribers) and the parent's handle on them, driven over pipes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wsclient import TimestampedReader, WebSocketClient, connect

STREAM_PATH = "/ws/datapoints/stream"
TELEMETRY_PATH = "/ws/controller/telemetry"
ACK_PREFIX = b'{"type":"ack","seq":'  # the server's dumps() writes keys in this order, without spaces
CONNECT_CONCURRENCY = 50  # Tornado listens with a backlog of 128; more at once means SYN retries
REPLY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    token: str = ""
    sessions: bool = False  # each controller connection names a session: the server's resend check is on


# --- in the worker processes -----------------------------------------------------------------

class Phases:
    """Counters and latency samples split by phase; the parent says when a new phase begins."""

    def __init__(self) -> None:
        self.counts: list[int] = [0]
        self.latencies: list[array] = [array("d")]
        self.read_latencies: list[array] = [array("d")]  # subscribers only: until this process read it

    def next(self) -> None:
        self.counts.append(0)
        self.latencies.append(array("d"))
        self.read_latencies.append(array("d"))

    def report(self) -> dict[str, Any]:
        return {"counts": self.counts, "latencies": [values.tobytes() for values in self.latencies],
                "read_latencies": [values.tobytes() for values in self.read_latencies]}


class Subscriber(TimestampedReader):
    """Counts every datapoint and takes its latency from the value, which is the controller's send time:
    to the kernel's arrival time (the server's part) and to when this process read it (plus ours)."""

    def __init__(self, target: Target, phases: Phases) -> None:
        super().__init__(target.host, target.port, STREAM_PATH)
        self.phases = phases
        self.received = 0
        self.last_sent_at = 0.0
        self.not_newer = 0  # readings sent no later than the one before: received twice, or out of order

    def on_text(self, payload: bytes, arrived_at: float, read_at: float) -> None:
        self.received += 1
        phases = self.phases
        phases.counts[-1] += 1
        # A string search instead of json.loads: parsing every frame would make the generator the bottleneck.
        start = payload.find(b'"value":')
        if start >= 0:
            sent_at = float(payload[start + 8:payload.find(b",", start)])
            phases.latencies[-1].append(arrived_at - sent_at)
            phases.read_latencies[-1].append(read_at - sent_at)
            if sent_at <= self.last_sent_at:
                self.not_newer += 1
            else:
                self.last_sent_at = sent_at


class Source(Protocol):
    def message(self, seq: int, now: float) -> tuple[str, int] | None:
        """(message text, readings in it) for a message sent at `now`; None when there is nothing more to send."""


class Controller(WebSocketClient):
    """Sends readings with seq; in windowed mode each ack releases the next message."""

    def __init__(self, target: Target, source: Source, phases: Phases, windowed: bool) -> None:
        session = f"&session=bench-{uuid.uuid4().hex[:12]}" if target.sessions else ""
        super().__init__(target.host, target.port, f"{TELEMETRY_PATH}?token={target.token}{session}")
        self.source = source
        self.phases = phases  # counts: readings acked as stored; latencies: send -> ack
        self.windowed = windowed
        self.sending = False
        self.in_flight: dict[int, tuple[float, int]] = {}
        self.next_seq = 1
        self.sent = 0
        self.not_stored = 0
        self.errors: list[str] = []
        self.exhausted = False  # the source has nothing more to send (a fill's readings are all sent)

    @property
    def finished(self) -> bool:
        """Nothing more to send and nothing waiting for an ack (or the connection is gone)."""
        return self.close_code is not None or (self.exhausted and not self.in_flight)

    def send_next(self) -> None:
        now = time.time()
        message = self.source.message(self.next_seq, now)
        if message is None:
            self.exhausted = True
            return
        text, count = message
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        self.in_flight[seq] = (now, count)
        self.send_text(text)
        self.sent += count

    def on_text(self, payload: bytes, received_at: float) -> None:
        if payload.startswith(ACK_PREFIX):
            seq = int(payload[len(ACK_PREFIX):payload.index(b",", len(ACK_PREFIX))])
            sent_at, count = self.in_flight.pop(seq, (received_at, 0))
            # public_ids lines up with the batch, null where an item was not stored. A JSON null is the
            # only `null` followed by a comma or the bracket (inside an id, a quote would follow).
            stored = max(0, count - payload.count(b"null,") - payload.count(b"null]"))
            self.phases.counts[-1] += stored
            self.phases.latencies[-1].append(received_at - sent_at)
            self.not_stored += count - stored
            self._refill()
        else:
            self._on_error(json.loads(payload))

    def _on_error(self, message: dict[str, Any]) -> None:
        if len(self.errors) < 5:
            self.errors.append(message.get("message", str(message)))
        else:
            self.errors[-1:] = [f"... and more ({message.get('message')})"]
        # Only a "retry" error settles its message without an ack following it.
        seq = message.get("seq")
        if message.get("retry") and isinstance(seq, int) and self.in_flight.pop(seq, None) is not None:
            self._refill()

    def _refill(self) -> None:
        if self.windowed and self.sending:
            self.send_next()


class ReadingSource:
    """Message text for readings of the bench events; every value is the send time (time.time())."""

    def __init__(self, events: list[str], batch: int) -> None:
        self.events = events
        self.batch = batch
        self._rotation = 0
        self._second = -1
        self._second_text = ""

    def timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once a second, milliseconds appended each time
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1000):03d}Z"

    def _event(self) -> str:
        self._rotation += 1
        return self.events[self._rotation % len(self.events)]

    def message(self, seq: int, now: float) -> tuple[str, int]:
        stamp = self.timestamp(now)
        if self.batch == 1:
            return (f'{{"seq":{seq},"event_public_id":"{self._event()}","value":{now!r},'
                    f'"timestamp":"{stamp}"}}', 1)
        items = ",".join(f'{{"event_public_id":"{self._event()}","value":{now!r},"timestamp":"{stamp}"}}'
                         for _ in range(self.batch))
        return f'{{"seq":{seq},"datapoints":[{items}]}}', self.batch


class HistorySource:
    """Readings for a fill of `total` readings: reading i (0 to total - 1) goes to event i % len(events)
    and is stamped (total - 1 - i) * span / total seconds before the moment its message is sent, so the
    readings spread evenly over `span` seconds, the newest at about the end of the fill, and every event
    gets every len(events)-th of them. Message k holds readings k * batch onwards; this source hands out
    messages first, first + stride, first + 2 * stride, ...: one source per worker process, `stride`
    processes, and the processes' messages interleave in time order."""

    def __init__(self, events: list[str], batch: int, total: int, span: float, first: int, stride: int) -> None:
        self.events, self.batch, self.total = events, batch, total
        self.spacing = span / total
        self.next_message, self.stride = first, stride
        self._second = -1
        self._second_text = ""

    def _stamp(self, moment: float) -> str:
        millis = int(moment * 1000)
        second = millis // 1000
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{millis % 1000:03d}Z"

    def message(self, seq: int, now: float) -> tuple[str, int] | None:
        start = self.next_message * self.batch
        if start >= self.total:
            return None
        self.next_message += self.stride
        end = min(self.total, start + self.batch)
        events, count, spacing, total = self.events, len(self.events), self.spacing, self.total
        items = []
        for index in range(start, end):
            moment = now - (total - 1 - index) * spacing
            # A daily wave per event, so charts of the filled history show something.
            value = round(20.0 + 10.0 * math.sin(moment / 13751.0 + index % count), 3)
            items.append(f'{{"event_public_id":"{events[index % count]}","value":{value!r},'
                         f'"timestamp":"{self._stamp(moment)}"}}')
        return f'{{"seq":{seq},"datapoints":[{",".join(items)}]}}', end - start


async def _open_all(openers: list[Callable[[], Awaitable[Any]]]) -> tuple[list, list[str]]:
    """Run the openers, a few at a time; (the clients that opened, what went wrong with the others)."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(opener: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await opener()

    results = await asyncio.gather(*(one(opener) for opener in openers), return_exceptions=True)
    opened = [result for result in results if not isinstance(result, BaseException)]
    failures = [repr(result) for result in results if isinstance(result, BaseException)]
    return opened, failures


class WorkerLoop:
    """A worker's main loop: connect, say "ready", then answer the parent's commands until "close"."""

    clients: Sequence[WebSocketClient | TimestampedReader]  # each subclass's own kind

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue = asyncio.Queue()
        loop.add_reader(self.pipe.fileno(), lambda: commands.put_nowait(self.pipe.recv()))
        self.pipe.send(await self.start())
        while True:
            command, *args = await commands.get()
            self.pipe.send(await getattr(self, "do_" + command)(*args))
            if command == "close":
                return

    async def start(self) -> dict[str, Any]:
        raise NotImplementedError

    async def do_close(self) -> dict[str, Any]:
        for client in self.clients:
            client.close()
        await asyncio.sleep(0.2)  # let the close frames go out
        return {"closed": True}


class SubscriberWorker(WorkerLoop):
    def __init__(self, pipe: Any, target: Target, count: int) -> None:
        super().__init__(pipe)
        self.target, self.count = target, count
        self.phases = Phases()
        self.clients: list[Subscriber] = []

    async def start(self) -> dict[str, Any]:
        self.clients, failures = await _open_all(
            [lambda: Subscriber(self.target, self.phases).open()] * self.count)
        return {"connected": len(self.clients), "failures": failures[:5], "pid": os.getpid()}

    async def do_phase(self) -> dict[str, Any]:
        self.phases.next()
        return {"phase": len(self.phases.counts) - 1}

    async def do_count(self) -> dict[str, Any]:
        return {"received": sum(self.phases.counts)}

    async def do_report(self) -> dict[str, Any]:
        per_subscriber = [client.received for client in self.clients]
        closes = Counter(client.close_code for client in self.clients if client.close_code is not None)
        return {**self.phases.report(), "per_subscriber": per_subscriber, "closes": dict(closes),
                "not_newer": sum(client.not_newer for client in self.clients),
                "reads": sum(client.reads for client in self.clients)}


class ControllerWorker(WorkerLoop):
    """`rate` None: windowed, as fast as acks allow. `rate` R: paced, R messages per second per controller."""

    def __init__(self, pipe: Any, target: Target, count: int, events: list[str], batch: int, window: int,
                 rate: float | None, source: Source | None = None) -> None:
        super().__init__(pipe)
        self.target, self.count, self.window, self.rate = target, count, window, rate
        self.source: Source = source or ReadingSource(events, batch)
        self.phases = Phases()
        self.clients: list[Controller] = []
        self.pacer: asyncio.Task | None = None

    async def start(self) -> dict[str, Any]:
        def factory() -> Controller:
            return Controller(self.target, self.source, self.phases, windowed=self.rate is None)

        self.clients, failures = await _open_all(
            [lambda: connect(factory, self.target.host, self.target.port)] * self.count)
        return {"connected": len(self.clients), "failures": failures[:5], "pid": os.getpid()}

    async def do_go(self) -> dict[str, Any]:
        for client in self.clients:
            client.sending = True
        if self.rate is None:
            for client in self.clients:
                for _ in range(self.window):
                    client.send_next()
                client.flush()
        else:
            self.pacer = asyncio.ensure_future(self._pace(self.rate))
        return {"started": time.time()}

    async def _pace(self, rate: float) -> None:
        interval = 1.0 / rate
        next_tick = time.monotonic()
        while True:
            for client in self.clients:
                client.send_next()
                client.flush()
            # An absolute schedule: a late tick is followed by a shorter wait, not a drifting rate.
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    async def do_phase(self) -> dict[str, Any]:
        self.phases.next()
        return {"phase": len(self.phases.counts) - 1}

    async def do_progress(self) -> dict[str, Any]:
        """Readings acked as stored so far, and whether every controller is done (see Controller.finished)."""
        return {"acked": sum(self.phases.counts), "sent": sum(client.sent for client in self.clients),
                "finished": all(client.finished for client in self.clients),
                "closed": sum(client.close_code is not None for client in self.clients)}

    async def do_stop(self, drain_seconds: float = 10.0) -> dict[str, Any]:
        """Stop sending, wait for the acks still due, then report."""
        if self.pacer is not None:
            self.pacer.cancel()
        for client in self.clients:
            client.sending = False
        deadline = time.monotonic() + drain_seconds
        while any(client.in_flight and client.close_code is None for client in self.clients) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return {
            **self.phases.report(),
            "sent": sum(client.sent for client in self.clients),
            "unacked_messages": sum(len(client.in_flight) for client in self.clients),
            "not_stored": sum(client.not_stored for client in self.clients),
            "errors": [error for client in self.clients for error in client.errors][:10],
            "closes": dict(Counter(client.close_code for client in self.clients if client.close_code is not None)),
        }


def _run_worker(worker_class: type[WorkerLoop], pipe: Any, *args: Any) -> None:
    asyncio.run(worker_class(pipe, *args).serve())


# --- in the parent ---------------------------------------------------------------------------

class WorkerGroup:
    """Worker processes of one kind; commands go to all of them and each answers once."""

    def __init__(self, worker_class: type[WorkerLoop], per_worker_args: list[tuple]) -> None:
        context = multiprocessing.get_context("fork")  # the parent has no threads and no event loop
        self.pipes, self.processes = [], []
        for args in per_worker_args:
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_run_worker, args=(worker_class, child_end, *args), daemon=True)
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)
        self.ready = self._replies(REPLY_TIMEOUT)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]  # None only before start()

    @property
    def connected(self) -> int:
        return sum(reply["connected"] for reply in self.ready)

    @property
    def failures(self) -> list[str]:
        return [failure for reply in self.ready for failure in reply["failures"]]

    def ask(self, command: str, *args: Any, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        for pipe in self.pipes:  # send to all first, so they act at (nearly) the same moment
            pipe.send((command, *args))
        return self._replies(timeout)

    def _replies(self, timeout: float) -> list[dict[str, Any]]:
        replies = []
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            if not pipe.poll(timeout):
                raise TimeoutError(f"worker {process.pid} did not answer within {timeout:.0f}s")
            replies.append(pipe.recv())
        return replies

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            self.ask("close", timeout=10)
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()


def split(total: int, parts: int) -> list[int]:
    """`total` spread as evenly as possible over at most `parts` non-empty shares."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def start_subscribers(target: Target, count: int, processes: int) -> WorkerGroup:
    return WorkerGroup(SubscriberWorker, [(target, share) for share in split(count, processes)])


def start_controllers(target: Target, count: int, processes: int, events: list[str], batch: int, window: int,
                      rate: float | None) -> WorkerGroup:
    return WorkerGroup(ControllerWorker, [(target, share, events, batch, window, rate)
                                          for share in split(count, processes)])


def start_fill(target: Target, count: int, processes: int, events: list[str], batch: int, window: int,
               total: int, span: float) -> WorkerGroup:
    """Windowed controllers that send `total` readings spread over the `span` seconds before now (see
    HistorySource), then stop; each process deals out its own share of the messages."""
    shares = split(count, processes)
    return WorkerGroup(ControllerWorker, [
        (target, share, events, batch, window, None, HistorySource(events, batch, total, span, index, len(shares)))
        for index, share in enumerate(shares)])


def latencies_of(report: dict[str, Any], phase: int, kind: str = "latencies") -> array:
    values = array("d")
    if phase < len(report[kind]):
        values.frombytes(report[kind][phase])
    return values
