"""`/ws/controller/telemetry`: controllers push readings; each is stored, then acked and broadcast."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from handlers.base import SocketHandler
from models.ingest import Receipt
from models.presence import Connection
from models.readings import SubmissionError, parse_submission
from models.roles import PUBLISHERS

log = logging.getLogger("webmacs.telemetry")


class TelemetryHandler(SocketHandler):
    """One controller connection. Owns the set of connected controllers."""

    controllers: ClassVar[set[TelemetryHandler]] = set()
    kind = "controllers"
    allowed_roles = PUBLISHERS

    def initialize(self) -> None:
        super().initialize()
        self._unsettled = 0  # readings handed to the ingest queue, not yet committed or failed
        self._resume: asyncio.Future[None] | None = None
        self._presence: Connection | None = None  # a registered controller's, while open

    def open(self) -> None:
        if self.refuse_unauthorized():
            return
        self.set_nodelay(True)
        TelemetryHandler.controllers.add(self)
        self.app.metrics.connections_open.labels(self.kind).inc()
        assert self.current_user is not None  # refuse_unauthorized() closed the connection otherwise
        if self.current_user.controller_id is not None:
            self._presence = self.app.presence.connected(self.current_user.controller_id, self.request.remote_ip or "")
        log.info("controller %s connected", self.peer())

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        if self.current_user is None or self.writer.closed_by_us():
            return None  # sent before our refusal or shutdown close reached the client: never stored
        self.writer.count_as_pong()
        if self._presence is not None:
            self._presence.seen()
        try:
            submission = parse_submission(message)
        except SubmissionError as error:
            self.app.metrics.messages_unreadable.inc()
            self._send_error(str(error), [], error.seq, error.has_seq)
            return None
        self.current_user.claim(submission)
        self._unsettled += len(submission.readings)
        self.ingest.submit(submission, self._answer)
        if self._unsettled > self.config.controller_window:
            # Backpressure: Tornado reads nothing more from this socket until this resolves.
            self._resume = asyncio.get_running_loop().create_future()
            return self._resume
        return None

    def on_pong(self, data: bytes) -> None:
        if self._presence is not None:
            self._presence.seen()

    def on_close(self) -> None:
        if self._presence is not None:
            self.app.presence.disconnected(self._presence)
            self._presence = None
        if self in TelemetryHandler.controllers:
            TelemetryHandler.controllers.discard(self)
            self.app.metrics.connections_open.labels(self.kind).dec()
        self._wake()
        if self.refusal is None:
            log.info("controller %s disconnected (code %s)", self.peer(), self.close_code)

    @classmethod
    def connected(cls) -> list[SocketHandler]:
        return list(cls.controllers)

    def _answer(self, receipt: Receipt) -> None:
        """The error frame for whatever was not stored, then the ack if the controller asked for one."""
        submission = receipt.submission
        self._unsettled -= len(submission.readings)
        if self._unsettled <= self.config.controller_window // 2:
            self._wake()
        if receipt.retry:
            self._send_error(receipt.summary, [], submission.seq, submission.has_seq, retry=True)
            return
        if receipt.problems:
            self._send_error(receipt.summary, receipt.problems, submission.seq, submission.has_seq)
        if self._presence is not None and receipt.stored_count:
            self._presence.stored(receipt.stored_count)
        if submission.has_seq and receipt.stored_count:
            self.writer.send_json({"type": "ack", "seq": submission.seq, "public_ids": receipt.public_ids})

    def _send_error(self, message: str, problems: list[dict[str, Any]], seq: Any, has_seq: bool,
                    retry: bool = False) -> None:
        payload: dict[str, Any] = {"type": "error", "message": message}
        if retry:
            payload["retry"] = True
        else:
            log.info("rejected from controller %s: %s", self.peer(), message)
        if problems:
            payload["errors"] = problems
        if has_seq:
            payload["seq"] = seq
        self.writer.send_json(payload)

    def _wake(self) -> None:
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._resume = None


default_handlers = [(r"/ws/controller/telemetry", TelemetryHandler)]
