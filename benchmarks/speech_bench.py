"""Speech benchmark (same as `hotline speech bench`): CER, item accuracy through speech, latency, RSS.

    .venv/bin/python benchmarks/speech_bench.py [-n 100] [--questions tests/kb/questions.yaml]
"""

from __future__ import annotations

import argparse
import sys

from hotline.config import load_settings
from speech.bench import run_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--questions")
    args = parser.parse_args()
    return run_bench(load_settings(), n=args.n, questions_file=args.questions)


if __name__ == "__main__":
    sys.exit(main())
