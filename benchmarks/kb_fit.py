"""Refit the QA confidence model (kb/confidence.py WEIGHTS, BIAS) and suggest the abstention threshold.

    .venv/bin/python benchmarks/kb_fit.py [--data DIR] [--corpus DIR] [--write]

Uses the tuning split of the caller corpus (tests/kb/corpus, ``split: tune`` only: phrasings written by people who
never saw the engine), the tuning part of tests/kb/questions.yaml and of its recorded ASR transcripts
(tests/kb/asr_transcripts.yaml, benchmarks/asr_transcripts.py; kb.evaluation.own_tuning_cases). Held-out
questions are never read here, so the confidence is calibrated for outsiders' phrasing and for what the recogniser
really returns as well as for our own typed text.
One example per non-follow-up question: the features of its top-ranked target, label 1 when that target is the
labelled answer (for AMBIGUOUS questions: one of its alternatives), 0 otherwise (out of scope, centre-wide,
or a wrong item). L2-regularised logistic regression; then a sweep of the abstention threshold over the tuning
questions with an out-of-scope answer counted as three errors (the issue allows at most 5% of them).
``--write`` puts the fitted coefficients into kb/confidence.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb.confidence as confidence_module  # noqa: E402
from kb.confidence import Features  # noqa: E402
from kb.evaluation import corpus_split, evaluate, load_corpus, own_tuning_cases  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.qa import QAEngine, Thresholds  # noqa: E402

L2 = 0.5  # ridge strength (on the sum of squared weights; bias not penalised)
OOS_COST = 3.0


def examples(engine: QAEngine, cases: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, labels, weights = [], [], []
    for case in cases:
        if case.get("context"):
            continue
        cands, feats = engine.assess(case["q"])
        if feats is None:
            continue
        expected = case.get("item")
        top = cands[0].code
        ok = top == expected or (expected == "AMBIGUOUS" and top in case.get("alternatives", []))
        rows.append(dataclasses.astuple(feats))
        labels.append(1.0 if ok else 0.0)
        # An out-of-scope question answered costs OOS_COST errors (the sweep's cost): weigh them so in the fit too.
        weights.append(OOS_COST if expected is None else 1.0)
    return np.array(rows), np.array(labels), np.array(weights)


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        z = x @ w + b
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        nll = -np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        grad_z = weight * (p - y)
        grad = np.append(x.T @ grad_z + 2 * L2 * w, grad_z.sum())
        return nll + L2 * np.sum(w * w), grad

    # Signs fixed where the meaning is one-directional (more unexplained words, an off-topic cue or a name heard
    # only by sound can never make the item more likely), so the model stays monotone on data it has not seen.
    signs = {"phrase": 1, "partial": 1, "coverage": 1, "unexplained": -1, "off_topic": -1, "by_sound": -1,
             "clause": 1}
    names = [f.name for f in dataclasses.fields(Features)]
    bounds = [((0, None) if signs.get(n) == 1 else (None, 0) if signs.get(n) == -1 else (None, None)) for n in names]
    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds + [(None, None)])
    return res.x[:-1], float(res.x[-1])


def sweep(engine: QAEngine, cases: list[dict]) -> list[tuple[float, float, str]]:
    out = []
    for abstain in np.arange(0.30, 0.81, 0.05):
        engine.thresholds = dataclasses.replace(engine.thresholds, abstain=round(float(abstain), 2))
        scores = evaluate(engine, cases, key="group")
        errors = sum(s.total - s.item_ok for k, s in scores.items() if k != "oos")
        oos = scores["oos"]
        cost = errors + OOS_COST * (oos.total - oos.item_ok)
        summary = ", ".join(f"{k} {s.item_ok}/{s.total}" for k, s in scores.items())
        out.append((cost, round(float(abstain), 2), summary))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default=str(ROOT / "tests/kb/questions.yaml"))
    parser.add_argument("--transcripts", default=str(ROOT / "tests/kb/asr_transcripts.yaml"))
    parser.add_argument("--data", default=str(default_data_dir()), help="a KB source dir (default: kb/data)")
    parser.add_argument("--corpus", default=str(ROOT / "tests/kb/corpus"), help="caller corpus dir (tune split used)")
    parser.add_argument("--write", action="store_true", help="write the coefficients into kb/confidence.py")
    parser.add_argument("--no-sweep", action="store_true", help="fit only, skip the abstention threshold sweep")
    args = parser.parse_args()
    tuning = own_tuning_cases(Path(args.questions), Path(args.transcripts))
    for case in tuning:
        case["group"] = "oos" if case["kind"] == "oos" else "own"
    kb = load_dir(args.data)
    targets = {i.code for i in kb.items()} | {b.code for b in kb.bundles} | {"CENTRE", None, "AMBIGUOUS"}
    if Path(args.corpus).is_dir():
        corpus = [c for c in corpus_split(load_corpus(args.corpus), "tune") if c.get("item") in targets]
        for case in corpus:
            case["group"] = "oos" if case["style"] == "oos" else "corpus"
        tuning += corpus
    engine = QAEngine.from_kb(kb)
    x, y, weight = examples(engine, tuning)
    w, b = fit(x, y, weight)
    names = [f.name for f in dataclasses.fields(Features)]
    print(f"{len(y)} tuning examples, {int(y.sum())} positive")
    for name, value in zip(names, w, strict=True):
        print(f"  {name:<12} {value:+.3f}")
    print(f"  {'bias':<12} {b:+.3f}")
    weights = tuple(round(float(v), 3) for v in w)
    confidence_module.WEIGHTS, confidence_module.BIAS = weights, round(b, 3)

    if not args.no_sweep:
        print("\nabstain threshold sweep on the tuning questions (cost = errors + 3 x out-of-scope answered):")
        engine.thresholds = Thresholds()
        results = sweep(engine, tuning)
        for cost, abstain, summary in results:
            print(f"  abstain {abstain:.2f}: cost {cost:5.1f}  {summary}")
        best = min(results)[1]
        print(f"lowest cost at abstain = {best:.2f} (kb.qa.Thresholds.abstain is {Thresholds().abstain})")

    if args.write:
        path = ROOT / "kb/confidence.py"
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"^WEIGHTS = \(.*\)$", f"WEIGHTS = {weights}", text, flags=re.M)
        text = re.sub(r"^BIAS = .*$", f"BIAS = {round(b, 3)}", text, flags=re.M)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
