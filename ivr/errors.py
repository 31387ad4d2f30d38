"""Errors of the `ivr` area. A caller hanging up is not an error: protocols report it as an event or AgiHangup."""

from __future__ import annotations

from hotline.errors import HotlineError


class IvrError(HotlineError):
    """Base for expected failures in call handling."""


class ProtocolError(IvrError):
    """The peer sent bytes that do not follow the wire protocol (AudioSocket, AGI, AMI)."""
