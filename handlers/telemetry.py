"""`/ws/controller/telemetry`: controllers push readings; each is stored, then acked and broadcast."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, ClassVar

from handlers.base import SocketHandler
from models.ingest import Stored
from models.readings import Frame, FrameError, outcome, parse_frame
from models.tokens import PUBLISHING_ROLES

log = logging.getLogger("webmacs.telemetry")


class TelemetryHandler(SocketHandler):
    """One controller connection. Owns the set of connected controllers."""

    controllers: ClassVar[set[TelemetryHandler]] = set()
    allowed_roles = PUBLISHING_ROLES

    def initialize(self) -> None:
        super().initialize()
        self._unsettled = 0  # readings handed to the ingest queue, not yet committed or failed
        self._resume: asyncio.Future[None] | None = None

    def open(self) -> None:
        if self.refuse_unauthorized():
            return
        self.set_nodelay(True)
        TelemetryHandler.controllers.add(self)
        log.info("controller %s connected", self.peer())

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        if self.current_user is None or self.ws_connection is None or self.ws_connection.server_terminated:
            return None  # sent before our refusal or shutdown close reached the client: never stored
        self.mark_peer_alive()
        try:
            frame = parse_frame(message)
        except FrameError as error:
            self._report(str(error), [], error.seq, error.has_seq)
            return None
        if not frame.readings:
            self._answer(frame, [])
            return None
        self._unsettled += len(frame.readings)
        self.ingest.submit(frame.readings, functools.partial(self._settled, frame))
        if self._unsettled > self.config.controller_window:
            # Backpressure: Tornado reads nothing more from this socket until this resolves.
            self._resume = asyncio.get_running_loop().create_future()
            return self._resume
        return None

    def on_close(self) -> None:
        TelemetryHandler.controllers.discard(self)
        self._wake()
        if self.refusal is None:
            log.info("controller %s disconnected (code %s)", self.peer(), self.close_code)

    @classmethod
    def connected(cls) -> list[SocketHandler]:
        return list(cls.controllers)

    def _settled(self, frame: Frame, stored: Stored | None, error: Exception | None) -> None:
        self._unsettled -= len(frame.readings)
        if self._unsettled <= self.config.controller_window // 2:
            self._wake()
        if error is not None:
            payload = {"type": "error", "message": "not stored: the database is unavailable; send again",
                       "retry": True}
            if frame.has_seq:
                payload["seq"] = frame.seq
            self.send_json(payload)
            return
        self._answer(frame, stored)

    def _answer(self, frame: Frame, stored: Stored) -> None:
        """The error frame for whatever was not stored, then the ack if the frame asked for one."""
        result = outcome(frame, stored)
        if result.problems:
            self._report(result.summary, result.problems, frame.seq, frame.has_seq)
        if frame.has_seq and result.stored_count:
            self.send_json({"type": "ack", "seq": frame.seq, "public_ids": result.public_ids})

    def _report(self, message: str, problems: list[dict[str, Any]], seq: Any, has_seq: bool) -> None:
        log.info("rejected from controller %s: %s", self.peer(), message)
        payload: dict[str, Any] = {"type": "error", "message": message}
        if problems:
            payload["errors"] = problems
        if has_seq:
            payload["seq"] = seq
        self.send_json(payload)

    def _wake(self) -> None:
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._resume = None


default_handlers = [(r"/ws/controller/telemetry", TelemetryHandler)]
