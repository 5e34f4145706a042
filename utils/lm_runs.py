"""Runs of the language-model track (notebook 06): supervised fine-tuning on a skill, a sequence of skills with
or without replay, and the measurement of merged weights. Data and measurements live in ``utils.lm_tasks``;
training is ``utils.train.finetune``, the one runner."""

from __future__ import annotations

import tempfile
from pathlib import Path

from . import hub
from .lm_tasks import LMBench, general_task, replay_task, skill_task
from .methods import Rehearsal
from .train import finetune


def measure_weights(bench: LMBench, backbone, weights, trained: str | None = None) -> dict:
    """``bench.measure`` of ``backbone`` with ``weights`` (arrays aligned with its trainable variables) put in
    place; the backbone's own weights are restored afterwards. For merged models (``utils.merging``)."""
    now = [v.numpy() for v in backbone.trainable_variables]
    try:
        for v, w in zip(backbone.trainable_variables, weights):
            v.assign(w)
        return bench.measure(backbone, trained)
    finally:
        for v, w in zip(backbone.trainable_variables, now):
            v.assign(w)


def sft(task, model="byte-lm", method=None, bench: LMBench | None = None, old=None, **kw):
    """Supervised fine-tuning of ``model`` on ``task`` (a skill name or an lm Task) through the runner; ``old`` is task A,
    what replay and KL-to-reference draw from (default: general text). kw go to ``utils.train.finetune``."""
    bench = bench or LMBench()
    task = skill_task(task) if isinstance(task, str) else task
    return finetune(model=model, task=(old or general_task(), task), method=method,
                    evaluator=bench.evaluator(), **{"eval_every": 0, "progress": False, **kw})


def sequence(skills, bench: LMBench, model="byte-lm", replay: float = 0.0, folder=None, **kw) -> list[dict]:
    """Fine-tune on ``skills`` one after the other, each stage from the last stage's weights (saved to ``folder``).
    replay: share of each batch drawn from general text and the skills of the earlier stages (``replay_task``).
    Returns, after each stage, {"stage": skill, **bench.measure(...)}. kw go to ``sft``."""
    folder = Path(folder or tempfile.mkdtemp(prefix="lm-sequence-"))
    rows, current = [], model
    for i, name in enumerate(skills):
        method = Rehearsal(replay) if replay else None
        r = sft(name, current, method, bench, old=replay_task(skills[:i]), **kw)
        rows.append({"stage": name, **r.final})
        current = folder / f"stage{i}-{name}"
        hub.save(r.context.backbone, current)
    return rows
