"""Runs of the language-model track (notebook 06): supervised fine-tuning on a skill, a sequence of skills with
or without replay, and the measurement of merged weights. Data and measurements live in ``utils.lm_tasks``;
training is ``utils.train.finetune``, the one runner."""

from __future__ import annotations

from . import methods as M
from .lm_tasks import LMBench, general_task, replay_task, skill_task
from .methods import FullFineTuning, Rehearsal
from .train import finetune


def measure_weights(bench: LMBench, context, weights, trained: str | None = None) -> dict:
    """``bench.measure`` of a run's model (``run.context``) with ``weights`` (arrays aligned with its backbone's
    trainable variables) put in place; the run's own weights are restored afterwards. For merged models
    (``utils.merging``)."""
    now = [v.numpy() for v in context.backbone_variables]
    try:
        context.set_backbone(weights)
        return bench.measure(context.features, trained)
    finally:
        context.set_backbone(now)


def sft(task, model="byte-lm", method=None, bench: LMBench | None = None, old=None, **kw):
    """Supervised fine-tuning of ``model`` on ``task`` (a skill name or an lm Task) through the runner; ``old`` is task A,
    what replay and KL-to-reference draw from (default: general text). kw go to ``utils.train.finetune``."""
    bench = bench or LMBench()
    task = skill_task(task) if isinstance(task, str) else task
    return finetune(model=model, task=(old or general_task(), task), method=method,
                    evaluator=bench.evaluator(), **{"eval_every": 0, "progress": False, **kw})


def sequence(skills, bench: LMBench, model="byte-lm", replay: float = 0.0, first=None, **kw) -> list[dict]:
    """Fine-tune on ``skills`` one after the other, each stage training further the last stage's model.
    replay: share of each batch drawn from general text and the skills of the earlier stages (``replay_task``).
    first: a finished run that *is* stage one (same skill, training and settings, e.g. the SFT run already measured):
    the sequence continues from it instead of training it again; its weights are put back at the end.
    Returns, after each stage, {"stage": skill, **bench.measure(...)}. kw go to ``sft``."""
    method = Rehearsal(replay) if replay else FullFineTuning()
    if first is not None:
        _check_first_stage(first, skills[0], method, model, kw)
        kept = [v.numpy() for v in first.context.backbone_variables]
    rows, current = [], model
    try:
        for i, name in enumerate(skills):
            r = first if i == 0 and first is not None else sft(name, current, method, bench, old=replay_task(skills[:i]), **kw)
            rows.append({"stage": name, **r.final})
            current = r.context.backbone  # a loaded layer: the next stage trains it further (hub.load returns it)
    finally:
        if first is not None:
            first.context.set_backbone(kept)
    return rows


def _check_first_stage(run, skill: str, method, model, kw: dict) -> None:
    """Refuse a ``first`` run that is not the sequence's first stage: another skill, model, setting or training
    (WiSE-FT at alpha = 1 leaves the fine-tuned weights as they are: it counts as the training it wraps)."""
    trained = "+".join(M.build(m["method"], **m["options"]).id for m in run.methods
                       if not (m["method"] == "wise-ft" and m["options"]["alpha"] == 1)) or FullFineTuning().id
    expected = {"task": skill_task(skill).name, "training": method.id, "model": str(model), **kw}
    got = {**run.config, "task": run.task, "training": trained, "model": run.model}
    diff = {k: (got[k], v) for k, v in expected.items() if k in got and got[k] != v}
    if diff:
        raise ValueError(f"the run given as the sequence's first stage differs from it; (run, sequence): {diff}")
