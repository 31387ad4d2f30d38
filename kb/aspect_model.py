"""What is asked about an item, learned (issue 11): a multinomial logistic regression over cheap features.

The cue rules (kb.aspects) fit the phrasings they were written from; other people ask "要交多少钞票" or "东西要备哪些".
The model reads the question (the item's own name masked, as kb.qa does for the rules) and its asking clause as
hashed character 1–3-grams, plus what the rules heard: every aspect's strongest cue in the whole text and in the last
clause, and the rules' decision one-hot by strength. So the rules stay its strongest evidence, and the n-grams
correct them where other people's words differ. A dot product over ~200 active features: well under 1 ms.

Weights are fitted by benchmarks/kb_train_aspect.py on the corpus tune split only and stored in kb/aspect-model.npz;
without that file `AspectModel.load` returns None and the engine classifies by the rules.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.api import ASPECTS
from kb.aspects import MEDIUM, STRONG, classify, classify_question, cue_scores

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("aspect-model.npz")
HASH_BITS = 14  # 16,384 n-gram buckets (collisions cost nothing measurable at this corpus size: the training script)
NGRAMS = (1, 2, 3)
TAIL = 4  # the question's last characters (吗, 呢, 多少, 几天…) get n-grams of their own: the ask sits at the end
LABELS = tuple(a for a in ASPECTS if a != "none")
_BUCKETS = 4  # rule strength: none, weak, medium, strong
# Dense features after the hashed ones: per aspect its strongest cue (/ STRONG) in the text and in the last clause,
# then one-hot aspect x strength bucket of classify_question, classify(text) and classify(last).
_CUE_TEXT = 0
_CUE_LAST = _CUE_TEXT + len(LABELS)
_RULE_Q = _CUE_LAST + len(LABELS)
_RULE_TEXT = _RULE_Q + len(LABELS) * _BUCKETS
_RULE_LAST = _RULE_TEXT + len(LABELS) * _BUCKETS
DENSE = _RULE_LAST + len(LABELS) * _BUCKETS
_INDEX = {a: i for i, a in enumerate(LABELS)}
# The rules' features count this much more than an n-gram (the same L2 then holds them back less). At 1 the model
# let n-grams of short questions ("某的…是什么" was mostly a bundle's "general") outvote a strong cue such as 流程;
# grouped CV is the same within noise at 1 and 3 (benchmarks/kb_train_aspect.py --cv).
RULE_SCALE = 3.0


def _bucket(strength: float) -> int:
    return 0 if strength <= 0 else 1 if strength < MEDIUM else 2 if strength < STRONG else 3


_BUCKETS_KEPT = 16384  # n-grams whose bucket is remembered (callers' questions repeat most of them)
_bucket_of: dict[str, int] = {}


def _hashed(tag: str, text: str, out: dict[int, float]) -> None:
    size = 1 << HASH_BITS
    padded = f"^{text}$"
    for n in NGRAMS:
        for i in range(len(padded) - n + 1):
            gram = f"{tag}{padded[i:i + n]}"
            h = _bucket_of.get(gram)
            if h is None:
                if len(_bucket_of) >= _BUCKETS_KEPT:
                    _bucket_of.clear()
                h = _bucket_of[gram] = zlib.crc32(gram.encode()) % size  # (crc32: the same bucket in every process)
            out[h] = out.get(h, 0.0) + 1.0


def features(text: str, last: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the active features of a question whose item name is already masked; ``last`` is its
    asking clause ("" or the text itself for one clause)."""
    last = last or text
    hashed: dict[int, float] = {}
    _hashed("t", text, hashed)
    _hashed("l", last, hashed)
    _hashed("e", text[-TAIL:], hashed)
    base = 1 << HASH_BITS
    dense: dict[int, float] = {}
    for offset, part in ((_CUE_TEXT, text), (_CUE_LAST, last)):
        for aspect, w in cue_scores(part):
            dense[base + offset + _INDEX[aspect]] = RULE_SCALE * w / STRONG
    for offset, (aspect, strength) in ((_RULE_Q, classify_question(text, last)), (_RULE_TEXT, classify(text)),
                                       (_RULE_LAST, classify(last))):
        dense[base + offset + _INDEX[aspect] * _BUCKETS + _bucket(strength)] = RULE_SCALE
    # (n-gram counts are damped: a long story repeats characters that say nothing of the ask)
    idx = np.fromiter(list(hashed) + list(dense), dtype=np.int64)
    val = np.concatenate([np.sqrt(np.fromiter(hashed.values(), np.float64, len(hashed))),  # (one vector sqrt)
                          np.fromiter(dense.values(), np.float64, len(dense))])
    return idx, val


N_FEATURES = (1 << HASH_BITS) + DENSE


@dataclass(frozen=True)
class AspectModel:
    weights: np.ndarray  # (N_FEATURES, len(LABELS))
    bias: np.ndarray  # (len(LABELS),)

    def scores(self, text: str, last: str) -> np.ndarray:
        idx, val = features(text, last)
        return self.bias + val @ self.weights[idx]

    def classify(self, text: str, last: str) -> str:
        """The aspect asked about in ``text`` (item name masked), ``last`` its asking clause."""
        return LABELS[int(np.argmax(self.scores(text, last)))]

    def save(self, path: Path = MODEL_PATH) -> None:
        # float16: the file stays small enough to commit; the rounding changes no decision (training script)
        np.savez_compressed(path, weights=self.weights.astype(np.float16), bias=self.bias.astype(np.float32),
                            labels=np.array(LABELS), hash_bits=np.array(HASH_BITS), dense=np.array(DENSE),
                            rule_scale=np.array(RULE_SCALE))

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> AspectModel | None:
        """The fitted model, or None (with a warning) when the file is missing or made for other features."""
        if not path.is_file():
            log.warning("%s missing: aspects by the rules (benchmarks/kb_train_aspect.py --write fits it)", path.name)
            return None
        with np.load(path) as data:
            if ("rule_scale" not in data or tuple(data["labels"]) != LABELS or int(data["hash_bits"]) != HASH_BITS
                    or int(data["dense"]) != DENSE or float(data["rule_scale"]) != RULE_SCALE):
                log.warning("%s was fitted on other features: aspects by the rules", path.name)
                return None
            return cls(data["weights"].astype(np.float32), data["bias"].astype(np.float32))
