"""Every sentence of the notebooks' prose that compares or explains is either backed by the run or listed.

A practical heuristic, not a proof: a markdown sentence with a comparative word (``COMPARATIVE``) must carry a marker
that says where it comes from (``MARKERS``: "in this run", a printed or observed number, a checked claim, a citation,
a question), or be listed in ``tests/fixtures/prose_claims.txt`` with what it rests on:

    NN => the sentence's first words => check: the start of a claim of that notebook's evidence.check / observe / sanity
    NN => the sentence's first words => definition: why it is true by what the words mean (or what a method computes)
    NN => the sentence's first words => source: the paper, documentation or other notebook it reports

A listed "check:" must name a claim the notebook's code asserts or observes, so a claim that loses its check fails
here; a listed sentence that no longer exists fails too (the list stays true).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tests" / "fixtures" / "prose_claims.txt"
COMPARATIVE = re.compile(r"\b(more|less|fewer|than|keeps?|kept|loses?|lost|forgets?|forgot|beats?|faster|slower|"
                         r"better|worse)\b", re.I)
MARKERS = re.compile(r"in this run|in these runs|\(printed|printed\)|\bprinted\b|\bobserv|\bchecked\b|the checks? |"
                     r"et al\.|\(\d{4}[a-z]?\)|\d{4}[a-z]?[,)]|\?(\*\*)?$", re.I)
SPLIT = re.compile(r"(?<=[.!?])\s+|\n\n|\n(?=[-*|] )|\n(?=\d+\. )")
CLAIM_CALL = re.compile(r"(?:check|observe|sanity)\(\s*f?[\"']([^\"']+)")


def sentences(markdown: str) -> list[str]:
    """The prose sentences of a markdown cell: code blocks, headings and the question's block quote left out."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    out = []
    for part in SPLIT.split(text):
        s = " ".join(part.split())
        if s and not s.startswith(("#", ">")):
            out.append(s)
    return out


def unbacked(cells: list[dict]) -> list[str]:
    """The comparative sentences of a notebook's markdown cells with no marker."""
    return [s for c in cells if c["cell_type"] == "markdown" for s in sentences("".join(c["source"]))
            if COMPARATIVE.search(s) and not MARKERS.search(s)]


def claims(cells: list[dict]) -> list[str]:
    """Every claim the notebook's code checks, observes or sanity-checks (the literal start of an f-string too)."""
    return [m.group(1) for c in cells if c["cell_type"] == "code" for m in CLAIM_CALL.finditer("".join(c["source"]))]


def listed() -> dict[str, list[tuple[str, str]]]:
    out: dict = {}
    for n, line in enumerate(LIST.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        nb, start, reason = (p.strip() for p in line.split(" => ", 2))
        assert reason.startswith(("check:", "definition:", "source:")) and len(reason) > 12, f"{LIST.name}:{n}: say what it rests on"
        out.setdefault(nb, []).append((start, reason))
    return out


def problems(notebook: str, cells: list[dict], entries: list[tuple[str, str]]) -> list[str]:
    """What is wrong with one notebook's prose against its entries of the list (empty: nothing)."""
    found, asserted = unbacked(cells), claims(cells)
    out = [f"{notebook}: unbacked comparison: {s[:160]!r} (check it, word it 'in this run' beside a printed number, or "
           f"list it in {LIST.name})" for s in found if not any(s.startswith(start) for start, _ in entries)]
    for start, reason in entries:
        if not any(s.startswith(start) for s in found):
            out.append(f"{notebook}: {LIST.name} lists {start!r}, which is no longer an unbacked sentence: remove it")
        if reason.startswith("check:"):
            claim = reason.removeprefix("check:").strip()
            if not any(c.startswith(claim) or claim.startswith(c) and len(c) > 20 for c in asserted):
                out.append(f"{notebook}: {start!r} rests on the check {claim!r}, which the notebook no longer makes")
    return out


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem[:2])
def test_every_comparison_in_the_prose_is_backed(path):
    cells = json.loads(path.read_text())["cells"]
    assert problems(path.stem[:2], cells, listed().get(path.stem[:2], [])) == []


def test_a_planted_unchecked_claim_is_caught():
    cells = [{"cell_type": "markdown", "source": ["EWC keeps far more of task A than rehearsal.\n"]},
             {"cell_type": "code", "source": ['evidence.check("ewc keeps task A", x, ">=", 0.5)']}]
    assert problems("99", cells, [])[0].startswith("99: unbacked comparison: 'EWC keeps far more of task A")
    assert problems("99", cells, [("EWC keeps far more", "check: ewc keeps task A")]) == []
    gone = problems("99", cells, [("EWC keeps far more", "check: lora keeps task A")])
    assert gone == ["99: 'EWC keeps far more' rests on the check 'lora keeps task A', which the notebook no longer makes"]
    marked = [{"cell_type": "markdown", "source": ["In this run EWC kept more of task A than rehearsal (printed)."]}]
    assert problems("99", marked, []) == []
