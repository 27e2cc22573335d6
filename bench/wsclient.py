"""A minimal asyncio WebSocket client: only what the load generator needs, cheap per frame."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
NO_STATUS = 1005
# RFC 6455 makes clients mask, but any key is valid: an all-zero key turns masking into a no-op,
# so the generator spends its CPU on sending rather than on XOR.
ZERO_MASK = b"\x00\x00\x00\x00"


class HandshakeError(ConnectionError):
    """The server answered the upgrade request with something other than 101."""


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked (with the zero key) client-to-server frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + ZERO_MASK + payload


def upgrade_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")


def check_upgraded(response_head: bytes) -> None:
    status_line = response_head.split(b"\r\n", 1)[0]
    if status_line.split()[1:2] != [b"101"]:
        raise HandshakeError(status_line.decode("latin-1"))


class WebSocketClient(asyncio.Protocol):
    """One connection. Subclasses override on_text(); sends are queued and written by flush()."""

    def __init__(self, host: str, port: int, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None
        self._request = upgrade_request(host, port, path)
        self._buffer = b""
        self._upgraded = False
        self._outgoing: list[bytes] = []

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # create_connection() gives a stream transport
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            data = self._finish_handshake(data)
            if not data:
                return
        self._read_frames(data, time.time())
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if self.close_code is None:
            self.close_code = NO_STATUS
        if not self.lost.done():
            self.lost.set_result(None)

    # --- for subclasses ---

    def on_text(self, payload: bytes, received_at: float) -> None:
        pass

    def send_text(self, text: str) -> None:
        self._outgoing.append(client_frame(OP_TEXT, text.encode()))

    def flush(self) -> None:
        """Write everything queued in one call: one syscall for many small frames."""
        if self._outgoing and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.transport.close()

    # --- protocol ---

    def _finish_handshake(self, data: bytes) -> bytes:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, rest, self._buffer = self._buffer[:end], self._buffer[end + 4:], b""
        try:
            check_upgraded(head)
        except HandshakeError as error:
            self.opened.set_exception(error)
            assert self.transport is not None  # data arrives only after connection_made()
            self.transport.close()
            return b""
        self._upgraded = True
        self.opened.set_result(None)
        return rest

    def _read_frames(self, data: bytes, received_at: float) -> None:
        frames, self._buffer = split_frames(self._buffer + data if self._buffer else data)
        for opcode, payload in frames:
            if opcode == OP_TEXT:
                self.on_text(payload, received_at)
            else:
                self._on_control(opcode, payload)

    def _on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._outgoing.append(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = close_code_of(payload)
            self.close()


def split_frames(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete server frames at the start of `buffer` as (opcode, payload), and the bytes left over."""
    frames = []
    position, end = 0, len(buffer)
    while end - position >= 2:
        length = buffer[position + 1] & 0x7F  # server frames are never masked
        header = 2
        if length == 126:
            if end - position < 4:
                break
            length = int.from_bytes(buffer[position + 2:position + 4], "big")
            header = 4
        elif length == 127:
            if end - position < 10:
                break
            length = int.from_bytes(buffer[position + 2:position + 10], "big")
            header = 10
        if end - position < header + length:
            break
        frames.append((buffer[position] & 0x0F, buffer[position + header:position + header + length]))
        position += header + length
    return frames, buffer[position:]


def close_code_of(payload: bytes) -> int:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_STATUS


async def connect(factory, host: str, port: int, timeout: float = 15.0) -> WebSocketClient:
    """Open a connection with `factory()` as its protocol and wait for the upgrade to finish."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    await asyncio.wait_for(protocol.opened, timeout)
    return protocol


# Linux's SO_TIMESTAMPNS; Python's socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("qq")
RECEIVE_SIZE = 256 * 1024


class TimestampedReader:
    """A read-mostly client on a plain socket. recvmsg() with SO_TIMESTAMPNS tells when the kernel
    received the bytes (the last segment of each read), apart from when this busy process got to them.
    Subclasses override on_text(payload, arrived_at, read_at)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.close_code: int | None = None
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.reads = 0  # recvmsg() calls that returned data: frames per read says how much the server's writes bunch up

    async def open(self, timeout: float = 15.0) -> TimestampedReader:
        await asyncio.wait_for(self._handshake(), timeout)
        assert self.sock is not None  # _handshake() made it
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._on_readable)
        return self

    async def _handshake(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await loop.sock_connect(self.sock, (self.host, self.port))
        await loop.sock_sendall(self.sock, upgrade_request(self.host, self.port, self.path))
        response = b""
        while (end := response.find(b"\r\n\r\n")) < 0:
            chunk = await loop.sock_recv(self.sock, 4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        check_upgraded(response[:end])
        self._buffer = response[end + 4:]

    def on_text(self, payload: bytes, arrived_at: float, read_at: float) -> None:
        pass

    def _on_readable(self) -> None:
        assert self.sock is not None  # a reader is registered only once the socket is open
        try:
            data, ancillary, _, _ = self.sock.recvmsg(RECEIVE_SIZE, socket.CMSG_SPACE(TIMESPEC.size))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self._closed(self.close_code or NO_STATUS)
            return
        self.reads += 1
        read_at = time.time()
        arrived_at = read_at
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack_from(value)
                arrived_at = seconds + nanoseconds * 1e-9
        frames, self._buffer = split_frames(self._buffer + data if self._buffer else data)
        for opcode, payload in frames:
            if opcode == OP_TEXT:
                self.on_text(payload, arrived_at, read_at)
            elif opcode == OP_PING:
                self._send_quietly(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._closed(close_code_of(payload))
                return

    def _send_quietly(self, frame: bytes) -> None:
        assert self.sock is not None  # callers send only on an open socket
        with contextlib.suppress(OSError):
            self.sock.send(frame)  # tiny control frames: the socket buffer always has room

    def _closed(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        self.close()

    def close(self) -> None:
        if self.sock is None or self.sock.fileno() < 0:
            return
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self._send_quietly(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        self.sock.close()
