"""The prompts Asterisk plays itself (queue announcements, callback confirmation, voicemail greeting), in our voice.

``dialplans/sounds/hotline-prompts.tsv`` lists each sound file (``path<TAB>text``). ``render_prompts`` speaks every
line with our synthesiser into ``<sounds dir>/<path>.wav`` — 8 kHz, mono, 16-bit, what Asterisk plays without
resampling — and records ``sha256(voice, text)`` per file in ``<sounds dir>/.rendered.json``, so a later run
re-renders only prompts whose text (or voice) changed. Audio that came from a fallback voice is written but not
recorded, so the primary voice replaces it on the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.errors import IvrError

log = logging.getLogger(__name__)

PROMPT_LIST = Path(__file__).resolve().parent.parent / "dialplans" / "sounds" / "hotline-prompts.tsv"
MANIFEST = ".rendered.json"
SOUNDS_SUBDIR = "asterisk-sounds"  # under settings.var_dir


class PromptListError(IvrError):
    """The prompt list is malformed (the message names the file and line)."""


@dataclass(frozen=True)
class Prompt:
    path: str  # relative to Asterisk's sounds dir, without extension: custom/hotline-queue-periodic
    text: str


@dataclass
class RenderReport:
    rendered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)  # rendered by a fallback voice, re-tried next run


def read_prompt_list(path: Path = PROMPT_LIST) -> list[Prompt]:
    """Parse ``path<TAB>text`` lines after the header; paths must stay inside the sounds dir."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PromptListError(f"{path}: no such prompt list") from None
    if not lines or lines[0].split("\t") != ["path", "text"]:
        raise PromptListError(f"{path}:1: header must be 'path<TAB>text'")
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise PromptListError(f"{path}:{number}: expected 'path<TAB>text'")
        rel, text = parts[0].strip(), parts[1].strip()
        if rel.startswith("/") or ".." in Path(rel).parts or rel.endswith(".wav"):
            raise PromptListError(f"{path}:{number}: path must be relative, without '..' or extension: {rel}")
        if rel in seen:
            raise PromptListError(f"{path}:{number}: duplicate path {rel}")
        seen.add(rel)
        prompts.append(Prompt(rel, text))
    return prompts


def prompt_hash(voice: str, text: str) -> str:
    return hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()


def _voice_of(synthesizer: Any) -> str:
    return f"{synthesizer.name}/{getattr(synthesizer, 'voice', '')}"


def _primary_name(synthesizer: Any) -> str:
    engines = getattr(synthesizer, "engines", None)
    return engines[0].name if engines else synthesizer.name


def _load_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def render_prompts(sounds_dir: Path, make_synthesizer: Callable[[], Any], prompts: Sequence[Prompt] | None = None,
                   force: bool = False) -> RenderReport:
    """Render new or changed prompts to ``<sounds_dir>/<path>.wav``.

    The synthesiser implements ``speech.api.Synthesizer`` (8 kHz slin chunks); a ``FallbackSynthesizer`` tells
    which engine spoke through ``last_engine``.
    """
    from speech.audio import write_wav

    prompts = read_prompt_list() if prompts is None else prompts
    sounds_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = sounds_dir / MANIFEST
    manifest = _load_manifest(manifest_path)
    report = RenderReport()
    # Building the synthesiser is cheap; backends load their models on the first sentence, so an unchanged
    # prompt set never loads TensorFlow.
    synthesizer = make_synthesizer()
    voice = _voice_of(synthesizer)
    for prompt in prompts:
        wav = sounds_dir / f"{prompt.path}.wav"
        key = "sha256:" + prompt_hash(voice, prompt.text)
        if not force and wav.exists() and manifest.get(prompt.path) == key:
            report.unchanged.append(prompt.path)
            continue
        pcm = b"".join(synthesizer.synthesize(prompt.text))
        if not pcm:
            raise IvrError(f"the voice produced no audio for {prompt.path}: {prompt.text}")
        wav.parent.mkdir(parents=True, exist_ok=True)
        tmp = wav.with_name(f".{wav.name}.tmp{os.getpid()}")
        write_wav(tmp, pcm)
        os.replace(tmp, wav)  # Asterisk never plays half a file
        used = getattr(synthesizer, "last_engine", "") or _primary_name(synthesizer)
        if used == _primary_name(synthesizer):
            manifest[prompt.path] = key
            report.rendered.append(prompt.path)
        else:
            manifest.pop(prompt.path, None)
            report.fallback.append(prompt.path)
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return report


def default_sounds_dir(settings: Any) -> Path:
    """``<var_dir>/asterisk-sounds`` (``HOTLINE_SOUNDS_DIR`` overrides it in scripts/asterisk-sandbox)."""
    return Path(settings.var_dir) / SOUNDS_SUBDIR


def render_for_settings(settings: Any, sounds_dir: Path | None = None, force: bool = False) -> tuple[Path, RenderReport]:
    """Render the prompt list with the voice chain of ``settings`` (primary, fallback, espeak)."""
    from speech.engine import make_synthesizer

    target = sounds_dir or default_sounds_dir(settings)
    return target, render_prompts(target, lambda: make_synthesizer(settings), force=force)


def missing_files(sounds_dir: Path, prompts: Iterable[Prompt] | None = None) -> list[str]:
    """Prompt paths with no WAV yet (for doctor-style checks)."""
    prompts = read_prompt_list() if prompts is None else prompts
    return [p.path for p in prompts if not (sounds_dir / f"{p.path}.wav").exists()]
