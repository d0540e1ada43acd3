"""Text normalization cost per sentence, per language, against references measured in the same run.

Each sentence carries an amount, a date, a time, a percentage, a phone number and an ordinal, with
different numbers in every sentence (so the number-word caches help only as much as real text lets
them). Printed per language: microseconds per sentence, and that cost as a ratio to
1. the Unicode clean-up alone (what a language outside the table gets: NFC, spaces), and
2. `str.split` of the same sentence (about the cheapest thing one can do with it).
Target: well under a millisecond per sentence.

Run: python bench/text_normalize.py [--sentences N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tts_engine.text import LANGUAGES, normalize_text  # noqa: E402
from tts_engine.text.dates import month_name  # noqa: E402


def sentences(code: str, count: int) -> list[str]:
    rng = random.Random(7)
    word = month_name(3, LANGUAGES[code].months)  # a word of the language around the numbers
    out = []
    for _ in range(count):
        amount = f"{rng.randint(1, 99)},{rng.randint(10, 99)},{rng.randint(100, 999)}"
        out.append(
            f"{word} ₹{amount} {word} {rng.randint(1, 28)}/{rng.randint(1, 12)}/20{rng.randint(10, 30)} "
            f"{rng.randint(1, 12)}:{rng.randint(10, 59)} {word} {rng.randint(1, 99)}.{rng.randint(1, 9)}% "
            f"+91 9{rng.randint(1000, 9999)} {rng.randint(10000, 99999)} {rng.randint(1, 30)}nd {word}।"
        )
    return out


def per_sentence_us(run: Callable[[str], object], texts: list[str]) -> float:
    best = float("inf")
    for _ in range(3):  # best of three: the least disturbed by other work on the machine
        started = time.perf_counter()
        for text in texts:
            run(text)
        best = min(best, time.perf_counter() - started)
    return best / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=400)
    args = parser.parse_args()
    print(f"{'language':<10}{'us/sentence':>12}{'x clean-up':>12}{'x str.split':>13}")
    worst = 0.0
    for code in sorted(LANGUAGES):
        texts = sentences(code, args.sentences)
        normalize_text(texts[0], code)  # the language's patterns compile on first use
        cost = per_sentence_us(lambda t, code=code: normalize_text(t, code), texts)
        clean = per_sentence_us(lambda t: normalize_text(t, "xx"), texts)
        split = per_sentence_us(str.split, texts)
        worst = max(worst, cost)
        print(f"{code:<10}{cost:>12.1f}{cost / clean:>12.1f}{cost / split:>13.1f}")
    print(f"slowest language: {worst:.1f} us per sentence ({worst / 1000:.3f} ms)")


if __name__ == "__main__":
    main()
