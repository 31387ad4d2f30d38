"""The one place that owns listening sockets: a small asyncio TCP server base for AudioSocket and FastAGI.

Each accepted connection runs ``handle(reader, writer)`` in its own task; a failing handler is logged and closes
only its own connection. ``stop()`` stops accepting, cancels live connections and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Self

log = logging.getLogger(__name__)


class TcpServer:
    def __init__(self, host: str, port: int, name: str = "tcp") -> None:
        self.host = host
        self._requested_port = port
        self.name = name
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return self._server.sockets[0].getsockname()[1]

    @property
    def connections(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port, reuse_address=True)
        log.info("%s server listening on %s:%d", self.name, self.host, self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # Audio frames are small and latency-bound; do not let Nagle hold them back.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.handle(reader, writer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s connection from %s failed", self.name, writer.get_extra_info("peername"))
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
