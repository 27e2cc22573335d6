"""The bytes under every connection: who may connect at all, frames built once and shared, one write in
flight per peer, and every Tornado internal this project relies on.

Checked against Tornado 6.6.1 (requirements.txt pins it). Below Tornado's public API, and only here:
- `ws_connection.stream` and its `socket`: ready-made frames go straight to the kernel, and stream
  sockets get TCP_NOTSENT_LOWAT (guarded by tests/handlers/test_stream.py: slow and stalled
  subscribers are cut off while the others keep receiving);
- `ws_connection.server_terminated`: frames arriving after our close are ignored (guarded by
  tests/handlers/test_base.py: nothing from a refused token is stored);
- `ws_connection._received_pong`: a busy controller's readings count as its pong (guarded by
  tests/handlers/test_wire.py: a controller faster than the database is slowed down, not timed out);
- `RequestHandler._check_cross_origin`, replaced by OriginCheckedByUs (guarded by
  tests/handlers/test_stream.py: an origin that is not exactly ours is refused);
- `WebSocketProtocol13._handle_message`, `_frame_mask` and `_abort`, in MaskedFramesOnly (guarded by
  tests/handlers/test_wire.py: an unmasked client frame is closed with 1002);
- `TCPServer._sockets`, `_handlers` and `_handle_connection`, in GuardedHTTPServer (guarded by
  tests/test_app.py: connections over the caps get 503, and running out of file descriptors
  neither spins nor floods the log).
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import struct
from asyncio import Future
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.websocket
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

log = logging.getLogger("webmacs.wire")

TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", None)  # Linux and macOS


# accept() failing for want of a file descriptor or memory: retrying at once would fail again at once.
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE = 1.0  # seconds without accepting after such a failure
ACCEPT_BURST = 128  # connections accepted per readiness event at most, as Tornado does
_REFUSAL_BODY = b'{"error":{"code":503,"message":"too many connections; try again later","details":{}}}'
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
           b"Retry-After: 5\r\nContent-Length: %d\r\n\r\n%s" % (len(_REFUSAL_BODY), _REFUSAL_BODY))


class ConnectionCaps:
    """Counts open connections, HTTP and WebSocket alike, in total and per client address.

    A connection is counted from accept() until its stream closes. Closed ones are noticed lazily,
    when a cap looks reached, so counting costs nothing per connection while there is room.
    """

    def __init__(self, total: int, per_address: int, refused: Callable[[], None] = lambda: None) -> None:
        self.total, self.per_address = total, per_address  # 0: no cap
        self.refused = 0
        self._on_refused = refused
        self._open: defaultdict[str, set[IOStream]] = defaultdict(set)
        self._count = 0

    def admit(self, stream: IOStream, address: str) -> bool:
        if self.total and self._count >= self.total:
            for known in list(self._open):
                self._forget_closed(known)
        if self.per_address and len(self._open.get(address, ())) >= self.per_address:
            self._forget_closed(address)
        if (self.total and self._count >= self.total) or \
                (self.per_address and len(self._open.get(address, ())) >= self.per_address):
            self.refused += 1
            self._on_refused()
            return False
        self._open[address].add(stream)
        self._count += 1
        return True

    def _forget_closed(self, address: str) -> None:
        streams = self._open.get(address, set())
        closed = {stream for stream in streams if stream.closed()}
        streams -= closed
        self._count -= len(closed)
        if not streams:
            self._open.pop(address, None)


class GuardedHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, with connection caps and an accept loop that pauses, rather than spins,
    when the process has no file descriptor left."""

    def initialize(self, *args: Any, caps: ConnectionCaps | None = None, per_address: bool = True,
                   **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.caps = caps or ConnectionCaps(0, 0)
        # Behind a proxy every connection comes from the proxy: the proxy limits per client there.
        self._per_address = per_address
        self._pause_logged = 0.0

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        peer = address[0] if self._per_address and isinstance(address, tuple) else "*"
        if not self.caps.admit(stream, peer):
            stream.write(REFUSAL).add_done_callback(lambda _: stream.close())
            return
        super().handle_stream(stream, address)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._accept_from(sock)

    def _accept_from(self, sock: socket.socket) -> Callable[[], None]:
        """Accept like tornado.netutil.add_accept_handler, but out of file descriptors stop for a second
        (and say so at most once a minute) instead of failing, logging, and being woken again at once."""
        loop = IOLoop.current()
        state = {"watching": True, "removed": False}

        def resume() -> None:
            if not state["removed"] and not state["watching"]:
                state["watching"] = True
                loop.add_handler(sock, accept, IOLoop.READ)

        def accept(fd: Any, events: int) -> None:
            for _ in range(ACCEPT_BURST):
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as error:
                    if error.errno not in OUT_OF_RESOURCES:
                        raise
                    self._say_paused(error)
                    loop.remove_handler(sock)
                    state["watching"] = False
                    loop.call_later(ACCEPT_PAUSE, resume)
                    return
                self._handle_connection(connection, address)

        def remove() -> None:
            state["removed"] = True
            if state["watching"]:
                loop.remove_handler(sock)

        loop.add_handler(sock, accept, IOLoop.READ)
        return remove

    def _say_paused(self, error: OSError) -> None:
        now = IOLoop.current().time()
        if now - self._pause_logged >= 60.0:
            self._pause_logged = now
            log.error("cannot accept connections: %s; pausing %g s at a time (raise the file descriptor "
                      "limit, or lower MAX_CONNECTIONS)", error.strerror, ACCEPT_PAUSE)


def dumps(payload: Any) -> str:
    """Compact JSON, UTF-8 as is: the one encoding for API bodies and WebSocket messages."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked, uncompressed server-to-client text frame (RFC 6455, 5.2)."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class OriginCheckedByUs:
    """Every browser's Origin goes to check_origin.

    Tornado 6.6 lets a request through before asking check_origin when the browser says
    Sec-Fetch-Site: same-origin, or when the Origin's host:port equals the Host header. Neither
    sees the scheme, and both pass a DNS-rebinding page, for which the browser itself believes
    it is on the same origin.
    """

    request: tornado.httputil.HTTPServerRequest

    def check_origin(self, origin: str) -> bool:
        raise NotImplementedError

    def _check_cross_origin(self, check: Callable[[str], bool]) -> str | None:
        origin = self.request.headers.get("Origin")
        if origin is None:
            return None  # not a browser: its token (or the open stream's policy) decides
        return None if check(origin) else f"Origin {origin[:200]!r} not allowed"


class MaskedFramesOnly(tornado.websocket.WebSocketProtocol13):
    """RFC 6455, 5.1: a server must close the connection on a client frame that is not masked; Tornado
    reads one as if it were.

    Judged as each message (or control frame) is complete, by whether its last frame carried a mask:
    a hook on every read of every frame cost the telemetry socket a tenth of its single-reading
    throughput, and this one costs a function call per message. An unmasked middle fragment of a
    fragmented message slips through; its message is still judged by its last frame.
    """

    def _handle_message(self, opcode: int, data: bytes) -> Future[None] | None:
        if self._frame_mask is None:
            self.close(1002, "client frames must be masked")
            self._abort()  # reads nothing more; the receive loop ends and on_close runs
            return None
        self._frame_mask = None  # set again by the next masked frame
        return super()._handle_message(opcode, data)


def masked_frames_only(protocol: tornado.websocket.WebSocketProtocol | None,
                       handler: tornado.websocket.WebSocketHandler) -> tornado.websocket.WebSocketProtocol | None:
    """The protocol Tornado chose, as a MaskedFramesOnly with the same parameters."""
    if not isinstance(protocol, tornado.websocket.WebSocketProtocol13):
        return protocol
    return MaskedFramesOnly(handler, False, protocol.params)


class FrameWriter:
    """Writes ready-made frames to one peer and knows how far behind that peer is.

    write_message() would frame each message again and schedule a Task per call; a broadcast
    frames each datapoint once and hands the same bytes to every subscriber's writer.
    """

    def __init__(self, handler: tornado.websocket.WebSocketHandler) -> None:
        self._handler = handler  # its ws_connection exists only once the upgrade is done
        self._backlog = bytearray()  # frames waiting behind the write in flight
        self._in_flight: Future[None] | None = None
        self._in_flight_bytes = 0
        self._in_flight_since = 0.0  # loop time when the oldest byte of the write in flight was queued
        self._backlog_since = 0.0
        self._soon = bytearray()  # frames for send_json_soon, written together later in this turn of the loop

    def send_json(self, payload: Any) -> bool:
        return self.send(text_frame(dumps(payload).encode()))

    def send_json_soon(self, payload: Any) -> None:
        """Write the frame together with the others queued in this turn of the loop: a statement's acks
        to one controller (hundreds, in single-reading mode) become one system call, not one each.
        Frames sent this way keep their order among themselves."""
        if not self._soon:
            IOLoop.current().add_callback(self._send_soon)
        self._soon += text_frame(dumps(payload).encode())

    def _send_soon(self) -> None:
        frames, self._soon = bytes(self._soon), bytearray()
        self.send(frames)

    def send(self, frames: bytes) -> bool:
        """Write ready-made frames; False if the connection is gone."""
        connection = self._handler.ws_connection
        if connection is None or connection.is_closing() or connection.stream is None:
            return False
        if self._in_flight is not None:
            # One write in flight per peer; what follows waits in one buffer, not as a Future each.
            if not self._backlog:
                self._backlog_since = IOLoop.current().time()
            self._backlog += frames
            return True
        stream = connection.stream
        # Fast path: with nothing queued before them, the bytes go straight to the kernel. Through
        # IOStream.write each send would also cost a Future and a loop callback, the larger part
        # of a broadcast's time per subscriber. Order is kept: we only get here with an empty
        # queue, and whatever the kernel does not take joins the queue as usual.
        if not stream.writing() and type(stream) is IOStream:
            try:
                sent = stream.socket.send(frames)
            except BlockingIOError:
                sent = 0
            except OSError:
                stream.close()  # reset or broken pipe: the read side reports the close as usual
                return False
            if sent == len(frames):
                return True
            frames = frames[sent:]
        return self._write(stream, frames, IOLoop.current().time())

    def queued_bytes(self) -> int:
        """Bytes sent to this peer that the kernel has not taken yet (an upper bound)."""
        return len(self._backlog) + (self._in_flight_bytes if self._in_flight is not None else 0)

    def seconds_behind(self) -> float:
        """Age of the oldest byte queued for this peer that the kernel has not taken yet."""
        return 0.0 if self._in_flight is None else IOLoop.current().time() - self._in_flight_since

    def writing(self) -> bool:
        """True while a write to this peer waits for the kernel."""
        return self._in_flight is not None

    def closed_by_us(self) -> bool:
        """True once we started closing (a refusal or shutdown): what the peer sends now is not read."""
        connection = self._handler.ws_connection
        return connection is None or connection.server_terminated

    def count_as_pong(self) -> None:
        """Count an inbound message as the answer to our last ping.

        Tornado drops a peer whose pong is late, but a busy controller's pong queues in TCP
        behind its own readings, which we may be reading slowly on purpose (backpressure).
        A message that arrives proves the peer is alive just as well. Tornado has no public
        hook for this.
        """
        if self._handler.ws_connection is not None:
            self._handler.ws_connection._received_pong = True  # type: ignore[attr-defined]

    def limit_kernel_backlog(self, unsent_bytes: int) -> None:
        """Keep at most this much unsent data in the kernel for this peer.

        Left alone, the kernel queues megabytes for a reader that stalls before a single byte
        reaches our buffer, so a buffer limit would take minutes to notice it.
        """
        connection = self._handler.ws_connection
        if TCP_NOTSENT_LOWAT is None or connection is None or connection.stream is None:
            return
        try:
            connection.stream.socket.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, unsent_bytes)
        except OSError:
            log.debug("TCP_NOTSENT_LOWAT not supported here")

    def _write(self, stream: IOStream, data: bytes, queued_at: float) -> bool:
        try:
            written = stream.write(data)
        except StreamClosedError:
            return False
        if not written.done():
            self._in_flight, self._in_flight_bytes, self._in_flight_since = written, len(data), queued_at
            written.add_done_callback(self._flushed)
        return True

    def _flushed(self, written: Future[None]) -> None:
        self._in_flight = None
        connection = self._handler.ws_connection
        if written.exception() is not None or connection is None or connection.is_closing() \
                or connection.stream is None:
            self._backlog.clear()  # nothing may follow a close frame
        elif self._backlog:
            data, self._backlog = bytes(self._backlog), bytearray()
            self._write(connection.stream, data, self._backlog_since)
