"""Fit the learned aspect classifier (kb/aspect_model.py, kb/aspect-model.npz) and print its cross-validated figures.

    .venv/bin/python benchmarks/kb_train_aspect.py [--cv] [--write]

Data: the ``split: tune`` entries of the caller corpus (tests/kb/corpus) with an item (a code, CENTRE or AMBIGUOUS)
and an aspect label, and what the recogniser heard for some of them (tests/kb/asr_corpus_tune.yaml, the same labels);
held-out questions are never read. Each question's item name is masked as kb.qa does at answer
time, with the phrase the lexical engine matched for the labelled item (its first candidate if the item is not in
its pool).

``--cv``: the rules' accuracy on the same questions (in-sample: the cues were written looking at these phrasings),
then 5-fold cross-validation of the learned model for each ridge strength in L2_GRID and each way of combining it
with the rules, folds grouped by corpus file (one writer's and department's phrasings never in train and test at
once) and random folds. ``--write``: fit with L2 on every tune question and write kb/aspect-model.npz.
Deterministic: fixed folds and seed, L-BFGS from zeros.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.aspect_model import LABELS, MODEL_PATH, N_FEATURES, AspectModel, features  # noqa: E402
from kb.aspects import MEDIUM, STRONG, classify, classify_question, cue_scores  # noqa: E402
from kb.evaluation import corpus_split, heard_tune_cases, written  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.qa import QAEngine, clause_texts, mask_name  # noqa: E402
from kb.text import normalise  # noqa: E402

SEED = 11
FOLDS = 5
L2 = 1.0  # chosen by grouped CV (--cv prints the grid)
L2_GRID = (1.0, 3.0)
# How the model and the rules combine: the model everywhere, or only where the rules' cue is weaker than this.
BLENDS = {"learned": float("inf"), "learned<strong": STRONG, "learned<medium": MEDIUM}


def tune_cases(corpus: Path, heard: Path | None = None) -> list[dict]:
    """Tune-split entries with an item and an aspect, tagged with their corpus file (``group``), and what the
    recogniser heard for some of them (``heard``, tests/kb/asr_corpus_tune.yaml), each with its question's group."""
    cases = []
    for path in sorted(corpus.glob("*.yaml")):
        for case in corpus_split(yaml.safe_load(path.read_text(encoding="utf-8")) or [], "tune"):
            if case.get("item") is not None and case.get("aspect") in LABELS:
                cases.append({**case, "group": path.stem})
    if heard is not None:
        cases += heard_tune_cases(heard, {c["q"]: c["group"] for c in cases})
    return cases


def masked_texts(engine: QAEngine, cases: list[dict]) -> list[tuple[str, str]]:
    """(text, last clause) of each question with its item's matched name masked, as QAEngine._aspect sees them."""
    out = []
    for case in cases:
        text = normalise(case["q"])
        parts = clause_texts(case["q"])
        last = parts[-1] if parts else ""
        cands, _ = engine.assess(case["q"])
        wanted = set(case.get("alternatives", [])) | {case["item"]}
        top = next((c for c in cands if c.code in wanted), cands[0] if cands else None)
        phrase = top.phrase if top is not None else ""
        out.append((mask_name(text, phrase), mask_name(last, phrase)))
    return out


def design(texts: list[tuple[str, str]]) -> sparse.csr_matrix:
    rows = [features(t, last) for t, last in texts]
    indptr = np.cumsum([0] + [len(i) for i, _ in rows])
    return sparse.csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([i for i, _ in rows]), indptr),
                             shape=(len(rows), N_FEATURES))


def fit(x: sparse.csr_matrix, y: np.ndarray, l2: float) -> AspectModel:
    """Multinomial logistic regression, L2 on the weights (not the biases), L-BFGS from zeros."""
    n, d = x.shape
    k = len(LABELS)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    used = np.unique(x.indices)  # only the features some question has (the rest stay 0 under L2)
    xu = x[:, used]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w = params[: len(used) * k].reshape(len(used), k)
        b = params[len(used) * k:]
        z = xu @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.sum(np.log(p[np.arange(n), y] + 1e-300))
        g = p - onehot
        return nll + l2 * np.sum(w * w), np.concatenate([(xu.T @ g + 2 * l2 * w).ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(len(used) * k + k), jac=True, method="L-BFGS-B",
                   options={"maxiter": 3000, "gtol": 1e-4})
    weights = np.zeros((d, k), dtype=np.float32)
    weights[used] = res.x[: len(used) * k].reshape(len(used), k)
    return AspectModel(weights, res.x[len(used) * k:].astype(np.float32))


def predict(model: AspectModel, x: sparse.csr_matrix) -> np.ndarray:
    return np.asarray(x @ model.weights + model.bias).argmax(axis=1)


def grouped_folds(cases: list[dict]) -> list[int]:
    """Fold of each case: whole corpus files, largest first into the emptiest fold (deterministic)."""
    sizes = Counter(c["group"] for c in cases)
    load = [0] * FOLDS
    fold_of = {}
    for group, size in sorted(sizes.items(), key=lambda t: (-t[1], t[0])):
        f = min(range(FOLDS), key=lambda i: (load[i], i))
        fold_of[group] = f
        load[f] += size
    return [fold_of[c["group"]] for c in cases]


def random_folds(cases: list[dict]) -> list[int]:
    """Random folds of the written questions; a transcript goes with the question it was read from."""
    order = list(dict.fromkeys(written(c) for c in cases))
    random.Random(SEED).shuffle(order)
    fold_of = {t: rank % FOLDS for rank, t in enumerate(order)}
    return [fold_of[written(c)] for c in cases]


def cross_validate(x: sparse.csr_matrix, y: np.ndarray, folds: list[int], l2: float) -> np.ndarray:
    """Out-of-fold predictions."""
    folds_a = np.array(folds)
    out = np.zeros(len(y), dtype=int)
    for f in range(FOLDS):
        test = folds_a == f
        model = fit(x[~test], y[~test], l2)
        out[test] = predict(model, x[test])
    return out


def blended(learned: np.ndarray, rules: np.ndarray, strengths: np.ndarray, below: float) -> np.ndarray:
    return np.where(strengths < below, learned, rules)


def pct(ok: np.ndarray, mask: np.ndarray | None = None) -> str:
    sel = ok if mask is None else ok[mask]
    return f"{100 * sel.mean():5.1f}% ({int(sel.sum())}/{len(sel)})"


def per_aspect(y: np.ndarray, rules: np.ndarray, learned: np.ndarray) -> None:
    print(f"  {'aspect':13} {'n':>4} {'rules':>7} {'learned':>8}")
    for k, aspect in enumerate(LABELS):
        m = y == k
        if m.any():
            print(f"  {aspect:13} {int(m.sum()):4d} {100 * (rules[m] == k).mean():6.1f}% {100 * (learned[m] == k).mean():7.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "tests/kb/corpus"))
    ap.add_argument("--heard", default=str(ROOT / "tests/kb/asr_corpus_tune.yaml"),
                    help="transcripts of tune corpus questions ('' for none)")
    ap.add_argument("--cv", action="store_true", help="cross-validated figures (grouped by corpus file, and random)")
    ap.add_argument("--write", action="store_true", help=f"fit on all tune questions and write {MODEL_PATH.name}")
    args = ap.parse_args()

    engine = QAEngine.from_kb(load_dir(default_data_dir()))
    cases = tune_cases(Path(args.corpus), Path(args.heard) if args.heard else None)
    texts = masked_texts(engine, cases)
    y = np.array([LABELS.index(c["aspect"]) for c in cases])
    items = np.array([c["item"] not in ("CENTRE", "AMBIGUOUS") for c in cases])
    rule_out = [classify_question(t, last) for t, last in texts]
    rules = np.array([LABELS.index(a) for a, _ in rule_out])
    strengths = np.array([s for _, s in rule_out])
    x = design(texts)
    print(f"{len(cases)} tune questions ({int(items.sum())} about an item), {x.nnz / len(cases):.0f} active features "
          "each")
    print(f"rules (in-sample: the cues were tuned on these): all {pct(rules == y)}  items {pct(rules == y, items)}")

    if args.cv:
        for name, folds in (("grouped by corpus file", grouped_folds(cases)), ("random", random_folds(cases))):
            print(f"\n5-fold CV, {name}:")
            best = None
            for l2 in L2_GRID:
                learned = cross_validate(x, y, folds, l2)
                for blend, below in BLENDS.items():
                    pred = blended(learned, rules, strengths, below)
                    print(f"  L2 {l2:<5} {blend:15} all {pct(pred == y)}  items {pct(pred == y, items)}")
                if l2 == L2:
                    best = learned
            assert best is not None
            print(f"  per aspect (L2 {L2}, learned everywhere):")
            per_aspect(y, rules, best)

    if args.write:
        model = fit(x, y, L2)
        model.save()
        loaded = AspectModel.load()
        assert loaded is not None
        again = np.array([LABELS.index(loaded.classify(t, last)) for t, last in texts])
        print(f"\nwrote {MODEL_PATH} ({MODEL_PATH.stat().st_size // 1024} KB); as stored (float16), in-sample "
              f"{pct(again == y)}, same decisions as in memory: {pct(again == predict(model, x))}")
        t0 = time.perf_counter()
        for t, last in texts:
            loaded.classify(t, last)
        cached = time.perf_counter() - t0
        classify.cache_clear()
        cue_scores.cache_clear()
        t0 = time.perf_counter()
        for t, last in texts:
            loaded.classify(t, last)
        print(f"per question: {1000 * cached / len(texts):.3f} ms with the rules' cues cached (the engine has just "
              f"classified the question by the rules), {1000 * (time.perf_counter() - t0) / len(texts):.3f} ms "
              "with the rules run afresh")


if __name__ == "__main__":
    main()
