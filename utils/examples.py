"""The small example files of "Fine-tune on your own data" (``data/examples/``), written by this module, reproducibly:

    shout.jsonl, shout_test.jsonl   a new skill for the chat model, "Shout: red box tree" -> "RED BOX TREE"
                                    (a fifth of the lines in the chat form {"messages": [...]})
    feedback.csv, feedback_test.csv feedback about a software tool, labelled praise / complaint / question
    flipped_digits/CLASS/*.png      8x8 grey digits 0, 1 and 7 turned upside down (the UCI digits of scikit-learn)

    python -m utils.examples        # writes them again (the committed files are its output: tests/test_user_data.py)
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from . import image_data, lm_data, paths

FOLDER = paths.ROOT / "data" / "examples"
SEED = 0
FLIPPED = (0, 1, 7)  # the digits of flipped_digits/, 30 images each
PRAISE = ["I love how fast the {} is", "the new {} is a real time saver", "great work on the {}, it just works",
          "the {} is so much clearer now", "thanks for the {}, it saved my afternoon", "the {} feels smooth and quick"]
COMPLAINT = ["the {} crashes every time I open it", "the {} is far too slow since the update", "I cannot find the {} anymore",
             "the {} lost my changes again", "why is the {} so confusing now", "the {} keeps freezing on large files"]
QUESTION = ["how do I turn off the {}?", "where can I change the {} settings?", "can the {} work offline?",
            "is there a shortcut for the {}?", "does the {} support dark mode?", "how do I reset the {}?"]
THINGS = ["search bar", "editor", "file browser", "terminal", "sync feature", "settings page", "preview pane", "plugin manager",
          "spell checker", "export dialog"]


def shout(rng: np.random.Generator, n: int, seen: set) -> list[dict]:
    """n lines of the shout skill with word lists not in ``seen`` (which they join); every fifth in the chat form."""
    out = []
    while len(out) < n:
        ws = " ".join(rng.choice(lm_data.WORDS, int(rng.integers(2, 5)), replace=False))
        if ws in seen:
            continue
        seen.add(ws)
        prompt, answer = f"Shout: {ws}", ws.upper()
        out.append({"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}
                   if len(out) % 5 == 4 else {"prompt": prompt, "answer": answer})
    return out


def feedback(rng: np.random.Generator) -> tuple[list, list]:
    """(train rows, test rows) of text,label: every template with every thing, shuffled; the test rows use templates
    and things in other pairs than the training rows."""
    rows = [(t.format(thing), label) for label, templates in (("praise", PRAISE), ("complaint", COMPLAINT),
                                                               ("question", QUESTION))
            for t in templates for thing in THINGS]
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    return rows[:150], rows[150:180]


def _csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "label"])
    w.writerows(rows)
    return buf.getvalue().encode()


def files() -> dict[str, bytes]:
    """{path under data/examples: bytes} of every example file."""
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    seen: set = set()
    test, train = shout(rng, 48, seen), shout(rng, 240, seen)
    jsonl = lambda lines: "".join(json.dumps(x) + "\n" for x in lines).encode()  # noqa: E731
    tr, te = feedback(rng)
    out = {"shout.jsonl": jsonl(train), "shout_test.jsonl": jsonl(test), "feedback.csv": _csv(tr),
           "feedback_test.csv": _csv(te)}
    x, y, _ = image_data._digits_arrays()
    for digit in FLIPPED:
        for i, row in enumerate(np.flatnonzero(y == digit)[:30]):
            pixels = np.round(x[row, ::-1, ::-1] * 255).astype(np.uint8)
            out[f"flipped_digits/{digit}/{i:02d}.png"] = tf.io.encode_png(pixels).numpy()
    return out


def write(folder: Path = FOLDER) -> list[Path]:
    """Write every example file under ``folder``; returns their paths."""
    written = []
    for name, data in files().items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    print(f"wrote {len(write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))} files under data/examples/")
