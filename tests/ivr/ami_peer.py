"""Asterisk's manager interface, small, on a real socket: the one AMI peer the AMI client, escalation and
fault tests talk to. Banner, Login (with a secret, or any when ``secret`` is None), QueueStatus and
QueueSummary event lists, Command, Logoff, events on demand; every action received is kept."""

from __future__ import annotations

import asyncio

from ivr.ami import AmiMessage, AmiParser, encode_message


class AmiPeer:
    def __init__(self, secret: str | None = "s3cret", available: int = 1) -> None:
        self.secret = secret
        self.available = available  # free agents QueueSummary reports
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[AmiMessage] = []
        self.logins = 0
        self.silent: set[str] = set()  # actions never answered

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()

    async def event(self, *items: tuple[str, str]) -> None:
        for w in self.writers:
            w.write(encode_message(list(items)))
            await w.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        parser = AmiParser(expect_banner=False)
        try:
            while data := await reader.read(4096):
                for msg in parser.feed(data):
                    self.actions.append(msg)
                    writer.write(self._answer(msg))
                    await writer.drain()
                    await self._answered(msg, writer)
        except OSError:  # the client went away (reset, broken pipe)
            pass

    async def _answered(self, msg: AmiMessage, writer: asyncio.StreamWriter) -> None:
        """After each answer; a subclass may send more (hostile peers)."""

    def _answer(self, msg: AmiMessage) -> bytes:
        aid = msg.action_id or ""
        action = (msg.get("Action") or "").lower()
        if action in self.silent:
            return b""
        if action == "login":
            if self.secret is not None and msg.get("Secret") != self.secret:
                return encode_message([("Response", "Error"), ("ActionID", aid), ("Message", "Authentication failed")])
            self.logins += 1
            return encode_message([("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")])
        if action == "queuestatus":
            # Asterisk interleaves unrelated events with the list; they must still reach on_event.
            return (
                encode_message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                                ("Message", "Queue status will follow")])
                + encode_message([("Event", "QueueParams"), ("Queue", "hotline-agents"), ("ActionID", aid)])
                + encode_message([("Event", "Newstate"), ("Channel", "PJSIP/x-1")])
                + encode_message([("Event", "QueueMember"), ("Name", "agent1"), ("ActionID", aid)])
                + encode_message([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                                  ("ListItems", "2")])
            )
        if action == "queuesummary":
            return (
                encode_message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                                ("Message", "Queue summary will follow")])
                + encode_message([("Event", "QueueSummary"), ("Queue", "hotline-agents"), ("LoggedIn", "3"),
                                  ("Available", str(self.available)), ("Callers", "0"), ("ActionID", aid)])
                + encode_message([("Event", "QueueSummaryComplete"), ("ActionID", aid), ("EventList", "Complete")])
            )
        if action == "command":
            return encode_message([("Response", "Success"), ("ActionID", aid), ("Output", "Asterisk 22.10.1")])
        if action == "logoff":
            return encode_message([("Response", "Goodbye"), ("ActionID", aid)])
        return encode_message([("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")])
