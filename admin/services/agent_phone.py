"""WebRTC phones in the browser: SIP credentials derived from one shared secret, and the pjsip sections for them.

Asterisk and the panel share ``HOTLINE_WEBRTC_SECRET``; each agent's SIP password is an HMAC of their username, so
no password is stored anywhere and a new agent of the panel's user list needs only ``pjsip_webrtc.conf`` rewritten
(``pjsip_conf``) and ``module reload res_pjsip.so``. The guest endpoint of the public web caller page has its own
derived password: it is handed to anyone who opens the page, which is fine because Asterisk lets that endpoint dial
86909000 and nothing else ([from-webcall]).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

GUEST_ENDPOINT = "webcall-guest"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class AgentPhoneError(ValueError):
    """A username that cannot be a SIP endpoint name, or no shared WebRTC secret configured."""


def endpoint_name(username: str) -> str:
    """The agent's WebRTC endpoint (and queue interface PJSIP/<this>).

    SIP endpoint names are ASCII, panel usernames are often Chinese (张伟): those are spelled in Punycode behind
    "xn-", a prefix plain names may not take, so two users never share an endpoint (and so a password)."""
    if _SAFE_NAME.match(username) and not username.startswith("xn-"):
        return f"webrtc-{username}"
    coded = "xn-" + username.encode("punycode").decode("ascii")
    if not username or not _SAFE_NAME.match(coded):
        raise AgentPhoneError(f"用户名不能用作话机名：{username}")
    return f"webrtc-{coded}"


def _derive(secret: str, label: str) -> str:
    if not secret:
        raise AgentPhoneError("未配置 HOTLINE_WEBRTC_SECRET，浏览器话机不可用")
    digest = hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sip_password(secret: str, username: str) -> str:
    return _derive(secret, f"agent:{endpoint_name(username)}")


def guest_password(secret: str) -> str:
    return _derive(secret, f"guest:{GUEST_ENDPOINT}")


@dataclass(frozen=True)
class PhoneConfig:
    """What a browser needs to register/call: the WebSocket URL, its SIP identity and password."""

    ws_url: str
    uri: str
    username: str
    password: str

    def to_json_dict(self) -> dict[str, str]:
        return {"ws_url": self.ws_url, "uri": self.uri, "username": self.username, "password": self.password}


def sip_host(ws_url: str) -> str:
    """The SIP domain for URIs: the WebSocket's host (wss://127.0.0.1:8089/ws -> 127.0.0.1)."""
    rest = ws_url.split("://", 1)[-1]
    host = rest.split("/", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def agent_config(ws_url: str, secret: str, username: str) -> PhoneConfig:
    name = endpoint_name(username)
    return PhoneConfig(ws_url, f"sip:{name}@{sip_host(ws_url)}", name, sip_password(secret, username))


def guest_config(ws_url: str, secret: str) -> PhoneConfig:
    return PhoneConfig(ws_url, f"sip:{GUEST_ENDPOINT}@{sip_host(ws_url)}", GUEST_ENDPOINT, guest_password(secret))


def pjsip_conf(secret: str, usernames: Iterable[str]) -> str:
    """pjsip_webrtc.conf: the guest's auth and one endpoint/aor/auth per agent (templates in dialplans/pjsip.conf)."""
    out = ["; generated from the admin panel's user list and HOTLINE_WEBRTC_SECRET, never committed",
           f"[{GUEST_ENDPOINT}-auth]\ntype = auth\nauth_type = userpass\nusername = {GUEST_ENDPOINT}\n"
           f"password = {guest_password(secret)}\n"]
    for username in sorted(set(usernames)):
        name = endpoint_name(username)
        out.append(f"[{name}](webrtc-agent-template)\nauth = {name}-auth\naors = {name}\n"
                   f"[{name}](webrtc-agent-aor-template)\n"
                   f"[{name}-auth]\ntype = auth\nauth_type = userpass\nusername = {name}\n"
                   f"password = {sip_password(secret, username)}\n")
    return "\n".join(out)


def asterisk_reachable(ws_url: str, timeout_s: float = 1.0) -> bool:
    """Does Asterisk's WebSocket port answer a TLS handshake? Tells "Asterisk is down" apart from "the browser does
    not trust the certificate" when the browser's WebSocket fails. The handshake is completed and closed cleanly
    (a bare TCP connect makes Asterisk log an SSL ERROR); the certificate is not judged here, only reachability."""
    parts = urlsplit(ws_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            if parts.scheme != "wss":
                return True
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                tls.unwrap()
            return True
    except (OSError, ssl.SSLError):
        return False


def certificate_url(ws_url: str) -> str:
    """Asterisk's HTTPS address to open once so the browser can accept its certificate (it then answers
    "Bad Request": the path only speaks WebSocket)."""
    parts = urlsplit(ws_url)
    return f"https://{parts.netloc}{parts.path}"
