"""`/ws/controller/telemetry`: controllers push readings; each is stored, then acked and broadcast. A
registered controller is also sent the commands for its events here, and answers them here."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

from handlers.base import TRY_AGAIN_LATER, SocketHandler
from models import commands, sessions
from models.database import UNAVAILABLE, one_line
from models.ingest import Receipt
from models.presence import Connection
from models.readings import Reading, Source, Submission, SubmissionError, decode, submission_of
from models.roles import PUBLISHERS
from models.timestamps import format_timestamp

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
        self._session: int | None = None  # the session it named (?session=), whose resends are recognised
        self._commands_sent: set[str] = set()  # on this connection: each command goes out once per socket
        self._settling: set[asyncio.Future[None]] = set()  # answers to commands being recorded

    async def prepare(self) -> None:
        await super().prepare()
        name = self.get_query_argument("session", None)
        if self.current_user is None or name is None:
            return
        if not sessions.NAME.match(name):
            self.refusal = sessions.NAME_RULE
            return
        try:
            self._session = await sessions.open_session(self.db, self.current_user.sender, name)
        except UNAVAILABLE:
            self.refusal, self.refusal_code = "database unavailable; try again later", TRY_AGAIN_LATER

    def open(self) -> None:
        if self.refuse_unauthorized():
            return
        self.set_nodelay(True)
        TelemetryHandler.controllers.add(self)
        self.app.metrics.connections_open.labels(self.kind).inc()
        assert self.current_user is not None  # refuse_unauthorized() closed the connection otherwise
        if self.current_user.controller_id is not None:
            self._presence = self.app.presence.connected(self.current_user.controller_id, self.request.remote_ip or "")
            self.app.commands.attach(self.current_user.controller_id, self._send_command)
        log.info("controller %s connected", self.peer())

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        if self.current_user is None or self.writer.closed_by_us():
            return None  # sent before our refusal or shutdown close reached the client: never stored
        self.writer.count_as_pong()
        if self._presence is not None:
            self._presence.seen()
        try:
            decoded = decode(message)
            if decoded.get("type") == "command_ack":
                self._answered(decoded)
                return None
            submission = submission_of(decoded)
        except SubmissionError as error:
            self.app.metrics.messages_unreadable.inc()
            self._send_error(str(error), [], error.seq, error.has_seq)
            return None
        if self._session is not None:
            if not sessions.valid_seq(submission.seq):
                self.app.metrics.messages_unreadable.inc()
                self._send_error(sessions.SEQ_RULE, [], submission.seq, submission.has_seq)
                return None
            submission.session = self._session
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
        if self.current_user is not None and self.current_user.controller_id is not None:
            self.app.commands.detach(self.current_user.controller_id, self._send_command)
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
        if submission.has_seq and any(receipt.public_ids):
            self.writer.send_json_soon({"type": "ack", "seq": submission.seq, "public_ids": receipt.public_ids})
        elif receipt.resent:
            self._send_error(receipt.summary, [], submission.seq, submission.has_seq)

    def _send_command(self, command: commands.Command) -> None:
        if command["command_id"] not in self._commands_sent and not self.writer.closed_by_us():
            self._commands_sent.add(command["command_id"])
            self.writer.send_json_soon({"type": "command", **command})

    def _answered(self, message: dict[str, Any]) -> None:
        """A command_ack: recorded (or refused with an error frame) without holding up the readings."""
        try:
            command_id, ok, reason = commands.read_ack(message)
        except ValueError as error:
            self._send_error(str(error), [], None, False)
            return
        settling = asyncio.ensure_future(self._settle(command_id, ok, reason))
        self._settling.add(settling)  # held until done: the loop keeps only a weak reference
        settling.add_done_callback(self._settling.discard)

    async def _settle(self, command_id: str, ok: bool, reason: str | None) -> None:
        assert self.current_user is not None
        controller_id = self.current_user.controller_id
        if controller_id is None:
            self._send_error(f"command_ack for {command_id}: only registered controllers are sent commands", [],
                             None, False)
            return
        try:
            settled = await commands.settle(self.db, controller_id, command_id, ok, reason)
        except UNAVAILABLE as error:
            log.warning("could not record the answer to %s: %s", command_id, one_line(error))
            self._send_error(f"command_ack for {command_id} not recorded: the database is unavailable; send again",
                             [], None, False, retry=True)
            return
        if settled is None:
            self._send_error(f"command_ack for {command_id}: no command of that id awaits this controller's answer",
                             [], None, False)
            return
        event_public_id, kind, value = settled
        if ok and kind in commands.SETPOINTS:
            # The new setpoint is a reading of its event, stored and broadcast as readings are.
            now = format_timestamp(datetime.now(UTC))
            setpoint = Submission(readings=[Reading(event_public_id, value, now, None)], size=1,
                                  source=Source(controller_id))
            self.ingest.submit(setpoint, _ignore_receipt)

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
        self.writer.send_json_soon(payload)

    def _wake(self) -> None:
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._resume = None


def _ignore_receipt(receipt: Receipt) -> None:
    if receipt.problems:  # the event was deleted between the ack and now
        log.info("an acked setpoint was not stored: %s", receipt.summary)


default_handlers = [(r"/ws/controller/telemetry", TelemetryHandler)]
