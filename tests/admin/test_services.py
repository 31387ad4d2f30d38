"""Small pure services: number masking, audio path checks, the login limiter, keyset cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from admin.services.calls import CallQueryError, decode_cursor, encode_cursor
from admin.services.login_limit import LoginLimiter
from admin.services.masking import mask_number
from admin.services.recordings import resolve_audio


@pytest.mark.parametrize(("number", "masked"), [
    ("13812345678", "138****5678"), ("057186909000", "057****9000"), ("12345", "****45"), ("110", "****"),
    ("", ""), (None, ""),
])
def test_mask_number(number, masked):
    assert mask_number(number) == masked


def test_resolve_audio_only_inside_the_directory(tmp_path):
    root = tmp_path / "rec"
    root.mkdir()
    (root / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "secret").write_text("x")
    assert resolve_audio(root, "a.wav") == (root / "a.wav").resolve()
    assert resolve_audio(root, str(root / "a.wav")) == (root / "a.wav").resolve()
    for bad in ("../secret", str(tmp_path / "secret"), "nope.wav", "", None, "."):
        assert resolve_audio(root, bad) is None


def test_login_limiter_counts_per_user_and_per_ip():
    limiter = LoginLimiter(per_user=3, per_ip=5, window_s=60)
    for _ in range(3):
        assert not limiter.blocked("1.2.3.4", "boss")
        limiter.failed("1.2.3.4", "boss")
    assert limiter.blocked("1.2.3.4", "BOSS")  # usernames compared case-insensitively
    assert not limiter.blocked("5.6.7.8", "boss")
    limiter.failed("1.2.3.4", "a")
    limiter.failed("1.2.3.4", "b")
    assert limiter.blocked("1.2.3.4", "c")  # the IP as a whole hit its limit
    limiter.succeeded("5.6.7.8", "boss")
    expired = LoginLimiter(per_user=1, per_ip=9, window_s=0)
    expired.failed("ip", "u")
    assert not expired.blocked("ip", "u")


def test_cursor_round_trip_and_rejection():
    at = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 42)) == (at, 42)
    for bad in ("x", "20260302T010203.000000_x", "_1"):
        with pytest.raises(CallQueryError):
            decode_cursor(bad)
