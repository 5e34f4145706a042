"""The question bank types no measured numbers: a number in prose is a claim, and it goes stale at the next rebuild.

An answer says what was found and where it is measured ("notebook 02, Evidence 2"); the numbers live in the executed
notebooks and ``build/REPORT.md``. Settings stay in ``name=value`` form (``λ=0.01``, ``α=0.25``, ``lr×0.33``) or in
exponent form (``3e-3``), which these patterns leave alone. Pure Python: no TensorFlow, no notebook execution.
"""

import re

import pytest

from utils import interview

# an accuracy-like decimal: 0.527, 0.9852, 1.000 -- 0.xx or 1.00 with two or more decimals, not part of a setting
# written name=value (λ=0.01, α=0.25, lr×0.33), of a longer number (10.04) or of a version (0.16.1, TF 2.16)
MEASURED_DECIMAL = re.compile(r"(?<![\w.=×])(0\.\d{2,}|1\.0{2,})(?![\d.])")
# a timing: 10.04 ms, 2 s, 1.5s
TIMING = re.compile(r"(?<![\w.])\d+(\.\d+)? ?(ms|s)\b")


def _offences(pattern):
    found = []
    for q in interview.QUESTIONS:
        for m in pattern.finditer(q.answer):
            start, end = max(0, m.start() - 30), min(len(q.answer), m.end() + 30)
            found.append(f"{q.id}: {m.group(0)!r} in ...{q.answer[start:end]}...")
    return found


@pytest.mark.parametrize("pattern", [MEASURED_DECIMAL, TIMING], ids=["decimal", "timing"])
def test_no_measured_number_is_typed_into_an_answer(pattern):
    found = _offences(pattern)
    assert not found, ("measured numbers typed into the question bank; state the finding and point to the "
                       "section that measures it instead:\n" + "\n".join(found))


@pytest.mark.parametrize("text", ["task A 0.527", "(0.994 / 0.970)", "scores 0.9852 on", "from 1.000 to 0.942",
                                  "retention 0.90", "within 0.02"])
def test_the_decimal_pattern_catches_accuracies(text):
    assert MEASURED_DECIMAL.search(text)


@pytest.mark.parametrize("text", ["λ=0.01", "α=0.25", "lp-ft(lr×0.33)", "learning rate 3e-3", "dropout(0.5)",
                                  "α = 0.5", "107.2 GB", "tensorflow-hub 0.16.1",
                                  "tensorflow-text 2.21.1 with 2.21.0", "since TF 2.16", "r·(m + n)"])
def test_the_decimal_pattern_leaves_settings_alone(text):
    assert not MEASURED_DECIMAL.search(text)


@pytest.mark.parametrize("text", ["10.04 ms for LoRA", "about 2 s per step", "took 1.5s"])
def test_the_timing_pattern_catches_timings(text):
    assert TIMING.search(text)


@pytest.mark.parametrize("text", ["8 support intents", "10 epochs", "7B's weights", "`[UNK]`s", "3 seeds"])
def test_the_timing_pattern_leaves_counts_alone(text):
    assert not TIMING.search(text)


def test_every_link_names_an_existing_section():
    assert interview.broken_links() == []


def test_the_bank_is_a_data_file_and_a_malformed_one_says_where(tmp_path):
    assert interview.BANK.suffix == ".md" and interview.QUESTIONS == interview.load()
    bad = tmp_path / "questions.md"
    bad.write_text("header\n\n## q-one\ntopic: t\nlink: 01_x.ipynb#A\nzh: 问\n\nthe answer\n")
    with pytest.raises(interview.BankFormatError, match=r"questions.md:7: question 'q-one' needs the line 'en: \.\.\.'"):
        interview.load(bad)
    bad.write_text("## a\ntopic: t\nlink: l\nzh: z\nen: e\n\nanswer\n## a\ntopic: t\nlink: l\nzh: z\nen: e\n\nagain\n")
    with pytest.raises(interview.BankFormatError, match="duplicate ids"):
        interview.load(bad)


def _prose():
    """(where, text) of every notebook's Markdown cells and of the README outside its generated blocks."""
    import json

    from utils.paths import NOTEBOOKS_DIR, ROOT

    for path in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"{path.name} cell {i}", "".join(cell["source"])
    readme = (ROOT / "README.md").read_text()
    yield "README.md", re.sub(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", "", readme, flags=re.S)


def test_no_measured_decimal_is_typed_into_notebook_prose_or_the_readme():
    found = [f"{where}: {m.group(0)!r} in ...{text[max(0, m.start() - 40):m.end() + 20]}..."
             for where, text in _prose() for m in MEASURED_DECIMAL.finditer(text)]
    assert not found, "typed numbers; fill them from a run (a generated block or a Markdown output):\n" + "\n".join(found)
