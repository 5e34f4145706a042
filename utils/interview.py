"""The mock-interview question bank: fine-tuning open-weight models without losing what they know.

The questions live in ``data/interview/questions.md`` (Markdown, one ``## id`` section each); this module reads
them. Each :class:`Question` holds the question in Chinese (``zh``) and English (``en``), a short model answer in
Markdown (``answer``) that says what the workbook measured, the notebook section that proves it (``link``,
``"NN_name.ipynb#Anchor"``, the anchor being the Markdown heading with spaces replaced by "-") and a ``topic``:

    q1, q2, q3        the source article's three questions and their follow-ups (notebooks 01, 02, 03)
    tf-hub            loading open-weight models with TF Hub, Keras 2 vs Keras 3, tensorflow_text (00, 04)
    forgetting        what catastrophic forgetting is and what it looks like (02)
    methods           LP-FT, EWC, L2-SP, LwF, rehearsal, WiSE-FT (02)
    peft              LoRA and parameter-efficient fine-tuning (01, 02, 04)
    compute           parameters and training memory, full fine-tuning vs LoRA (01)
    hyperparameters   learning rate, epochs, regularisation strength, BatchNorm (01, 02, 03)
    evaluation        how to measure forgetting: old head, linear probe, retention, both tasks (02, 03, 04)
    text              the sentence encoder all-MiniLM-L6-v2 (04)

The answers hold no measured numbers: a number in prose is a claim, and measured numbers are never typed (they
go stale whenever a model or the protocol is rebuilt). An answer states each finding qualitatively and names the
notebook section that measures it, where a check cell holds the claim; the numbers themselves are printed by the
executed notebooks (``build/notebooks/``) and ``build/REPORT.md``. What the answers do spell out is not measured:
formulas and what they give (16 bytes per parameter for mixed-precision Adam, r·(m + n) for LoRA, parameter
counts of the bundled model), settings (``λ=0.1``, ``α=0.5``, rank 16, learning rate 3e-3) and numbers that a
cited paper reports. ``tests/test_interview_bank.py`` fails when an accuracy-like decimal or a timing is typed
into an answer.

Notebook 07 (``07_mock_interview.ipynb``) uses the bank like this::

    from IPython.display import Markdown, display
    from utils import interview

    assert interview.broken_links() == []          # every link names an existing notebook section
    for q in interview.draw(k=3, seed=0):           # a mock interview: three questions, answers collapsed
        display(Markdown(interview.as_markdown(q)))
    for q in interview.draw(k=2, topic="peft"):     # drill one topic
        display(Markdown(interview.as_markdown(q, reveal=True)))

Pure Python: importing this module does not import TensorFlow.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import paths

__all__ = ["Question", "QUESTIONS", "TOPICS", "anchor", "headings", "broken_links", "draw", "as_markdown", "get",
           "topics", "load", "BANK"]

@dataclass(frozen=True)
class Question:
    """One interview question: Chinese and English wording, a model answer and the section that proves it."""

    id: str
    zh: str
    en: str
    answer: str
    link: str
    topic: str = ""


BANK = paths.ROOT / "data" / "interview" / "questions.md"
FIELDS = ("topic", "link", "zh", "en")


class BankFormatError(ValueError):
    """The bank file is malformed; the message names the question and the line."""


def load(path: Path = BANK) -> list[Question]:
    """The questions of a bank file: ``## id`` sections with ``topic:``, ``link:``, ``zh:``, ``en:`` lines, a blank
    line and the answer in Markdown (up to the next ``## ``). Lines before the first section are its header."""
    questions = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    sections: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            sections.append((number, [line[3:].strip()]))
        elif sections:
            sections[-1][1].append(line)
    for number, (qid, *body) in sections:
        fields = {}
        for offset, line in enumerate(body[: len(FIELDS)]):
            key, sep, value = line.partition(": ")
            if key != FIELDS[offset] or not sep:
                raise BankFormatError(f"{path}:{number + offset + 1}: question {qid!r} needs the line "
                                      f"'{FIELDS[offset]}: ...' here, got {line!r}")
            fields[key] = value.strip()
        answer = "\n".join(body[len(FIELDS):]).strip()
        if not answer:
            raise BankFormatError(f"{path}:{number}: question {qid!r} has no answer")
        questions.append(Question(id=qid, answer=answer, **fields))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise BankFormatError(f"{path}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return questions


QUESTIONS: list[Question] = load()

TOPICS: tuple[str, ...] = tuple(dict.fromkeys(q.topic for q in QUESTIONS))


def topics() -> dict[str, int]:
    """Number of questions per topic, in the bank's order."""
    return dict(Counter(q.topic for q in QUESTIONS))


def get(question_id: str) -> Question:
    """The question with this ``id``."""
    for q in QUESTIONS:
        if q.id == question_id:
            return q
    raise KeyError(f"no question {question_id!r}; ids: {', '.join(q.id for q in QUESTIONS)}")


def anchor(heading_text: str) -> str:
    """The link anchor of a Markdown heading, as JupyterLab and nbconvert make it from the rendered text:
    leading '#'s and whitespace stripped, backticks (code formatting) dropped, spaces replaced by '-'.

    >>> anchor("## 1 · Data mismatch")
    '1-·-Data-mismatch'
    >>> anchor("## Evidence 3 — every method on `permute`")
    'Evidence-3-—-every-method-on-permute'
    """
    return heading_text.strip().lstrip("#").strip().replace("`", "").replace(" ", "-")


def _markdown_cells(notebook_path):
    import json

    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            yield "".join(source) if isinstance(source, list) else source


def headings(notebook_path) -> set[str]:
    """Anchors of every Markdown heading (a line starting with '#', outside fenced code) in a notebook."""
    found = set()
    for text in _markdown_cells(notebook_path):
        fence = None
        for line in text.splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("```", "~~~")):
                marker = stripped[:3]
                fence = None if fence == marker else (fence or marker)
                continue
            if fence is None and line.startswith("#"):
                found.add(anchor(line))
    return found


def broken_links(questions=QUESTIONS, notebooks_dir=None) -> list[str]:
    """One message per link whose notebook does not exist or whose anchor is not one of its headings.

    ``notebooks_dir`` defaults to ``utils.paths.NOTEBOOKS_DIR``.
    """
    folder = Path(paths.NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir)
    cache: dict[str, set[str]] = {}
    problems = []
    for q in questions:
        name, sep, frag = q.link.partition("#")
        if not sep or not name or not frag:
            problems.append(f"{q.id}: link {q.link!r} is not of the form 'NN_name.ipynb#Anchor'")
            continue
        path = folder / name
        if not path.is_file():
            problems.append(f"{q.id}: notebook {name} does not exist in {folder}")
            continue
        if name not in cache:
            cache[name] = headings(path)
        if frag not in cache[name]:
            problems.append(f"{q.id}: {name} has no heading with anchor {frag!r}")
    return problems


def draw(k: int = 1, seed=None, topic: str | None = None) -> list[Question]:
    """``k`` different questions at random (``random.Random(seed)``), from one ``topic`` if given."""
    pool = [q for q in QUESTIONS if topic is None or q.topic == topic]
    if not pool:
        raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
    if not 0 <= k <= len(pool):
        where = "the bank" if topic is None else f"topic {topic!r}"
        raise ValueError(f"cannot draw {k} questions without replacement: {where} has {len(pool)}")
    return random.Random(seed).sample(pool, k)


def as_markdown(q: Question, reveal: bool = False) -> str:
    """The question (Chinese and English), its evidence link and the model answer, collapsed unless ``reveal``."""
    name, _, frag = q.link.partition("#")
    label = f"{name.removesuffix('.ipynb')} › {frag.replace('`', '')}"  # no backticks: they would open code spans
    head = (f"**{q.zh}**\n\n*{q.en}*\n\n"
            f"Evidence: [{label}]({q.link})" + (f" · topic `{q.topic}`" if q.topic else "") + "\n\n")
    if reveal:
        return head + f"**Model answer.** {q.answer}\n"
    return head + f"<details><summary>Model answer</summary>\n\n{q.answer}\n\n</details>\n"
