"""A minimal agent phone over real UDP: registers as agentN (digest auth), answers OPTIONS, rings on INVITE and
never picks up (Asterisk's queue times out and CANCELs). Records every INVITE's headers (X-Hotline-*).

Written for the tests because sipp cannot both REGISTER and then receive a call on a new Call-ID in one scenario,
and a second sipp started on the same port would miss Asterisk's qualify OPTIONS and make the agent unreachable.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def agent_password(etc_dir: Path, agent: str) -> str:
    """The generated password of ``agent`` in the sandbox's pjsip_agents_auth.conf."""
    text = (etc_dir / "pjsip_agents_auth.conf").read_text()
    block = text.split(f"[{agent}-auth]", 1)[1].split("\n[", 1)[0]
    return re.search(r"^password\s*=\s*(\S+)", block, re.M).group(1)  # type: ignore[union-attr]


@dataclass
class SipMessage:
    first: str
    headers: list[tuple[str, str]]
    body: str = ""

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return cls(lines[0], headers, body)

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def method(self) -> str | None:
        return None if self.first.startswith("SIP/2.0") else self.first.split()[0]

    @property
    def status(self) -> int | None:
        return int(self.first.split()[1]) if self.first.startswith("SIP/2.0") else None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5 by definition


@dataclass
class SipAgent(asyncio.DatagramProtocol):
    user: str
    password: str
    server_port: int
    host: str = "127.0.0.1"
    invites: list[SipMessage] = field(default_factory=list)
    cancelled: int = 0

    def __post_init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._responses: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._tag = secrets.token_hex(4)
        self._ringing: dict[str, tuple[SipMessage, str]] = {}  # call-id -> (INVITE, our to-tag)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        self.port = self.transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---- registration ----

    async def register(self, expires: int = 120, timeout: float = 5.0) -> None:
        call_id, cseq, auth = secrets.token_hex(8), 1, ""
        uri = f"sip:{self.host}:{self.server_port}"
        for _ in range(2):
            self._send(
                f"REGISTER {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:{self.user}@{self.host}>;tag={self._tag}\r\n"
                f"To: <sip:{self.user}@{self.host}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                f"Contact: <sip:{self.user}@{self.host}:{self.port}>\r\nExpires: {expires}\r\n{auth}"
                f"Content-Length: 0\r\n\r\n")
            reply = await asyncio.wait_for(self._responses.get(), timeout)
            if reply.status == 200:
                return
            if reply.status != 401:
                raise RuntimeError(f"REGISTER {self.user}: {reply.first}")
            challenge = dict(re.findall(r'(\w+)="?([^",]+)"?', reply.get("WWW-Authenticate") or ""))
            ha1 = _md5(f"{self.user}:{challenge['realm']}:{self.password}")
            ha2 = _md5(f"REGISTER:{uri}")
            cnonce, nc = secrets.token_hex(4), "00000001"
            response = _md5(f"{ha1}:{challenge['nonce']}:{nc}:{cnonce}:auth:{ha2}")
            auth = (f'Authorization: Digest username="{self.user}", realm="{challenge["realm"]}", '
                    f'nonce="{challenge["nonce"]}", uri="{uri}", response="{response}", algorithm=MD5, '
                    f'qop=auth, nc={nc}, cnonce="{cnonce}"'
                    + (f', opaque="{challenge["opaque"]}"' if "opaque" in challenge else "") + "\r\n")
            cseq += 1
        raise RuntimeError(f"REGISTER {self.user}: authentication failed")

    # ---- incoming requests ----

    def datagram_received(self, data: bytes, addr) -> None:  # noqa: ANN001
        if not data.strip():
            return  # keep-alive
        msg = SipMessage.parse(data)
        if msg.status is not None:
            self._responses.put_nowait(msg)
        elif msg.method == "OPTIONS":
            self._reply(msg, 200, "OK")
        elif msg.method == "INVITE":
            self.invites.append(msg)
            tag = secrets.token_hex(4)
            self._ringing[msg.get("Call-ID") or ""] = (msg, tag)
            self._reply(msg, 100, "Trying")
            self._reply(msg, 180, "Ringing", tag)
        elif msg.method == "CANCEL":
            self.cancelled += 1
            self._reply(msg, 200, "OK")
            invite = self._ringing.pop(msg.get("Call-ID") or "", None)
            if invite is not None:
                self._reply(invite[0], 487, "Request Terminated", invite[1])
        elif msg.method in ("BYE", "NOTIFY", "INFO"):
            self._reply(msg, 200, "OK")
        # ACK needs no answer

    def _reply(self, req: SipMessage, code: int, reason: str, to_tag: str | None = None) -> None:
        to = req.get("To") or ""
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        vias = "".join(f"Via: {v}\r\n" for v in req.all("Via"))
        self._send(f"SIP/2.0 {code} {reason}\r\n{vias}From: {req.get('From')}\r\nTo: {to}\r\n"
                   f"Call-ID: {req.get('Call-ID')}\r\nCSeq: {req.get('CSeq')}\r\n"
                   f"Contact: <sip:{self.user}@{self.host}:{self.port}>\r\nContent-Length: 0\r\n\r\n")

    def _send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), (self.host, self.server_port))
