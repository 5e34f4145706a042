"""The language-model track's experiments (notebook 05): supervised fine-tuning on a skill, a sequence of skills
with or without replay, and the measurement of merged weights. The model is ``utils.lm_model``, its data and
measurements ``utils.lm_data``; training is ``utils.train.finetune``, the one runner."""

from __future__ import annotations

from . import methods as methods_lib
from .common import differences
from .lm_data import CapabilitySuite, general_task, replay_task, skill_task
from .train import finetune


def measure_weights(bench: CapabilitySuite, context, weights, trained: str | None = None, split: str = "test") -> dict:
    """``bench.measure`` of a run's model (``run.context``) with ``weights`` (arrays aligned with its backbone's
    trainable variables) put in place; the run's own weights are restored afterwards. For merged models
    (``utils.merging``)."""
    now = [v.numpy() for v in context.backbone_variables]
    try:
        context.set_backbone(weights)
        return bench.measure(context.features, trained, split)
    finally:
        context.set_backbone(now)


def sft(task, model="byte-lm-chat", method=None, bench: CapabilitySuite | None = None, old=None, train: int = 512, **kw):
    """Supervised fine-tuning of ``model`` on ``task`` (a skill name or an lm Task) through the runner; ``old`` is task A,
    what replay and distillation on old text draw from (default: general text); train: training prompts of a skill
    named. kw go to ``utils.train.finetune``."""
    bench = bench or CapabilitySuite()
    task = skill_task(task, train) if isinstance(task, str) else task
    return finetune(model=model, task=(old or general_task(), task), method=method,
                    evaluator=bench.evaluator(), **{"eval_every": 0, "progress": False, **kw})


def sequence(skills, bench: CapabilitySuite, model="byte-lm-chat", method=None, first=None, train: int = 512,
             **kw) -> list[dict]:
    """Fine-tune on ``skills`` one after the other, each stage training further the last stage's model.
    method: what every stage trains with (default full SFT). Each stage's task A is ``replay_task`` of the skills
    before it (general text, then the earlier stages' skills), what a replaying method (``Rehearsal(0.25)``: a
    quarter of each batch) draws from.
    first: a finished run that *is* stage one (same skill, training and settings, e.g. the SFT run already measured):
    the sequence continues from it instead of training it again; its weights are put back at the end.
    Returns, after each stage, {"stage": skill, **bench.measure(...)}. kw go to ``sft``."""
    method = methods_lib.as_list(method)
    if first is not None:
        _check_first_stage(first, skills[0], method, model, kw)
        kept = [v.numpy() for v in first.context.backbone_variables]
    rows, current = [], model
    try:
        for i, name in enumerate(skills):
            r = first if i == 0 and first is not None else sft(name, current, method, bench, old=replay_task(skills[:i]),
                                                               train=train, **kw)
            rows.append({"stage": name, **r.final})
            current = r.context.backbone  # a loaded layer: the next stage trains it further (models.load returns it)
    finally:
        if first is not None:
            first.context.set_backbone(kept)
    return rows


def _check_first_stage(run, skill: str, method, model, kw: dict) -> None:
    """Refuse a ``first`` run that is not the sequence's first stage: another skill, model, setting or training
    (the training of the weights the run left: ``FineTuneResult.settings``)."""
    expected = {"task": skill_task(skill).name, "training": methods_lib.run_id(method), "model": str(model), **kw}
    got = run.settings()
    diff = differences(expected, got, keys=expected.keys() & got.keys())
    if diff:
        raise ValueError(f"the run given as the sequence's first stage differs from it; (run, sequence): {diff}")
