"""Rendered prompt audio, on disk and in a memory LRU, keyed by (engine, voice, sha256(text)).

Changing a prompt's text changes its key, so stale audio is never played; old files are just unused
(`PromptCache.prune` removes them). Files are raw 8 kHz slin so a hit is one read, no decoding.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from speech.api import Synthesizer

# Bump when speech.textnorm changes how text is spoken, so cached audio is re-rendered.
TEXTNORM_VERSION = "3"


def text_key(text: str) -> str:
    return hashlib.sha256(f"{TEXTNORM_VERSION}\n{text.strip()}".encode()).hexdigest()


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", part) or "_"


class PromptCache:
    """Cache for one synthesiser's rendered prompts."""

    def __init__(self, directory: Path, synthesizer: Synthesizer, memory_bytes: int = 64 << 20) -> None:
        self.synthesizer = synthesizer
        voice = str(getattr(synthesizer, "voice", "default"))
        self.directory = Path(directory) / _safe(synthesizer.name) / _safe(voice)
        self.memory_bytes = memory_bytes
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def path_for(self, text: str) -> Path:
        key = text_key(text)
        return self.directory / key[:2] / f"{key}.slin"

    def get(self, text: str) -> bytes | None:
        key = text_key(text)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.hits += 1
                return self._memory[key]
        try:
            pcm = self.path_for(text).read_bytes()
        except FileNotFoundError:
            with self._lock:
                self.misses += 1
            return None
        self._remember(key, pcm)
        with self._lock:
            self.hits += 1
        return pcm

    def put(self, text: str, pcm: bytes) -> None:
        path = self.path_for(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(pcm)
        os.replace(tmp, path)  # readers never see half a file
        self._remember(text_key(text), pcm)

    def _remember(self, key: str, pcm: bytes) -> None:
        with self._lock:
            if key in self._memory:
                return
            self._memory[key] = pcm
            self._used += len(pcm)
            while self._used > self.memory_bytes and len(self._memory) > 1:
                _, old = self._memory.popitem(last=False)
                self._used -= len(old)

    def get_or_render(self, text: str) -> bytes:
        cached = self.get(text)
        if cached is not None:
            return cached
        pcm = b"".join(self.synthesizer.synthesize(text))
        self.put(text, pcm)
        return pcm

    def prerender(self, texts: Iterable[str]) -> int:
        """Render every text not cached yet; returns how many were rendered."""
        rendered = 0
        for text in dict.fromkeys(t for t in texts if t and t.strip()):
            if self.get(text) is None:
                self.get_or_render(text)
                rendered += 1
        return rendered

    def prune(self, keep_texts: Iterable[str]) -> int:
        """Delete cached files whose text is not in keep_texts; returns how many were removed."""
        keep = {self.path_for(t) for t in keep_texts}
        removed = 0
        for path in self.directory.glob("*/*.slin"):
            if path not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        with self._lock:
            self._memory.clear()
            self._used = 0
        return removed
