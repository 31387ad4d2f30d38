"""The one lazy-load helper every backend uses: built once under its lock, warmed once, clear install errors."""

from __future__ import annotations

import threading

import pytest

from speech.api import ModelUnavailableError
from speech.loading import LazyModel, need


def test_built_once_however_many_callers_race_for_it():
    builds, warms = [], []
    gate = threading.Event()

    def build():
        gate.wait(5)
        builds.append(1)
        return object()

    lazy: LazyModel[object] = LazyModel("test model")
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.get(build, warm=warms.append))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert len(builds) == 1 and len(warms) == 1 and len({id(r) for r in results}) == 1
    assert lazy.loaded and warms[0] is results[0]


def test_warm_up_runs_outside_the_lock_so_it_may_use_the_model():
    lazy: LazyModel[str] = LazyModel("test model")
    seen = []

    def warm(value: str) -> None:
        seen.append((lazy.get(lambda: "second build"), lazy.lock.locked()))

    assert lazy.get(lambda: "model", warm=warm) == "model"
    assert seen == [("model", False)]


def test_a_failed_build_leaves_it_unloaded_and_is_tried_again():
    lazy: LazyModel[str] = LazyModel("test model")
    with pytest.raises(ModelUnavailableError):
        lazy.get(lambda: need("no_such_module_here", "The test engine", "pip install it"))
    assert not lazy.loaded
    assert lazy.get(lambda: "fixed") == "fixed"


def test_need_names_the_missing_module_and_the_install_command():
    with pytest.raises(ModelUnavailableError, match=r"^The engine needs no_such_mod: pip install no-such-mod$"):
        need("no_such_mod", "The engine", "pip install no-such-mod")
    assert need("json", "x", "y").dumps([]) == "[]"


@pytest.mark.parametrize(("backend", "args"), [("speech.vosk_asr.VoskRecognizer", ("/nonexistent",)),
                                               ("speech.sherpa_asr.SherpaRecognizer", ("/nonexistent",))])
def test_backends_report_unloaded_until_a_load_succeeds(backend, args):
    import importlib

    module, cls = backend.rsplit(".", 1)
    recognizer = getattr(importlib.import_module(module), cls)(*args)
    with pytest.raises(ModelUnavailableError):
        recognizer.load()
    assert not recognizer.loaded and recognizer.load_s == 0.0
