"""English prose lines written by synthetic hands, for the LM and search benchmarks.

The text is real running English that no part of keras-htr was built from: the license texts
every Debian system ships in `/usr/share/common-licenses` (base-files). The shipped language
model is estimated from `wordfreq` word frequencies only, and `keras_htr.data.synthetic.text`
draws its lines from wordfreq too, so lines from that generator would flatter the LM; these do
not. Two disjoint groups of files: `TEST_TEXTS` for measuring, `TUNE_TEXTS` for choosing the LM
weights (with training designs), so the numbers on held-out writers are never tuned on.

Lines are rendered like `LineSynthesizer.line` (a writer sampled per line, crop, full scan
degradation), with a text we choose; reserved evaluation sources are refused.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

LICENSES = Path("/usr/share/common-licenses")
TEST_TEXTS = ("GPL-3", "GFDL-1.3", "LGPL-2.1")
TUNE_TEXTS = ("Apache-2.0", "MPL-2.0", "Artistic", "CC0-1.0")
_WORD = re.compile(r"^[(\"']?[A-Za-z]+(?:'[a-z]+)?[.,;:)\"']*$")


def prose_lines(files, width: int = 48) -> list:
    """Text lines of about `width` characters, mostly words (headings of numbers, URLs and
    addresses left out), in file order."""
    lines = []
    for name in files:
        path = LICENSES / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (Debian's base-files ships it)")
        text = path.read_text(encoding="utf-8", errors="replace")
        for paragraph in re.split(r"\n\s*\n", text):
            words = paragraph.split()
            if len(words) < 6:
                continue
            for line in textwrap.wrap(" ".join(words), width=width):
                tokens = line.split()
                if len(line) >= 20 and sum(bool(_WORD.match(t)) for t in tokens) >= 0.85 * len(tokens):
                    lines.append(line)
    return lines


def held_out_designs():
    """The held-out writers found on this machine (whole designs never trained on)."""
    from keras_htr.data import synthetic

    found = {d.name: d for d in synthetic.list_designs()}
    designs = [found[n] for n in synthetic.HELD_OUT_DESIGNS if n in found]
    _check_not_reserved(designs)
    return designs


def training_designs(count: int = 4):
    from keras_htr.data import synthetic

    held = set(synthetic.HELD_OUT_DESIGNS)
    designs = sorted((d for d in synthetic.list_designs() if d.name not in held), key=lambda d: d.name)
    designs = designs[:: max(1, len(designs) // count)][:count]
    _check_not_reserved(designs)
    return designs


def _check_not_reserved(designs) -> None:
    from keras_htr.data import synthetic

    reserved = [r.lower().replace("fonts-", "") for r in synthetic.RESERVED]
    bad = [d.name for d in designs if any(r in f"{d.name} {d.source}".lower() for r in reserved)]
    if bad:
        raise ValueError(f"reserved evaluation sources must not be rendered, got {bad}")


def render(texts, designs, seed: int, count: int):
    """`count` (uint8 image, text, design name) lines: texts taken in a seeded random order,
    each written by a writer sampled from `designs`; texts a design cannot draw are skipped."""
    from keras_htr.data.synthetic.scan import scan
    from keras_htr.data.synthetic.writer import Writer, crop_to_ink

    order = np.random.default_rng(seed).permutation(len(texts))
    out = []
    for k, i in enumerate(order):
        if len(out) == count:
            break
        rng = np.random.default_rng([seed, int(k)])
        design = designs[int(rng.integers(len(designs)))]
        text = texts[i].upper() if design.caps_only else texts[i]
        if not set(text) <= set(design.covered):
            continue
        writer = Writer.sample(rng, design)
        try:
            rendered = crop_to_ink(writer.write(text, rng), rng)
        except ValueError:  # longer than this writer's line
            continue
        image = scan(rendered.ink, rng, ink_tone=writer.style.ink_tone, strength=1.0)
        out.append((image, text, design.name))
    return out
