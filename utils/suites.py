"""Experiment designs, by track: which runs a comparison makes, with which settings, and the controls and paper
recipes that isolate what a method does. Methods (``utils.methods``) say what they compute; which of their settings
an experiment runs is written here, once, so no method file knows another.

A suite is a list of entries; an entry is a list of methods (they compose), or ``{"method": [...], **overrides}``
for a run with settings of its own (e.g. a learning rate): ``utils.compare.compare(task, suite=...)`` runs them.
"""

from __future__ import annotations

from . import methods as M
from .common import PROTOCOL

WISE_SWEEP = (0.25, 0.5, 0.75, 1.0)  # the alphas WiSE-FT's dial is measured at (1: the run it wraps)
REHEARSAL_SCHEDULES = ((10, 5e-3), (20, 5e-3))  # (epochs, learning rate) tried beside the protocol's


def lpft_control(ft_lr_scale: float = 1 / 3, learning_rate: float | None = None) -> dict:
    """LP-FT's control: full fine-tuning (a random head, no probe phase) at ``ft_lr_scale`` x the protocol's rate,
    so that "the head is fitted first" is measured apart from "a lower rate"."""
    return {"method": [M.FullFineTuning()], "learning_rate": (learning_rate or PROTOCOL.learning_rate) * ft_lr_scale}


def lwf_paper() -> M.LwF:
    """Li & Hoiem (2016): lambda_o = 1, T = 2, a warm-up of the new head, then joint training of all three parts
    (backbone, new head, old head), the term at the paper's scale (no T^2)."""
    return M.LwF(1.0, 2.0, warmup_epochs=5, old_head_trains=True, t_squared=False)


def rehearsal_schedules(fraction: float = 0.5) -> list[dict]:
    """Rehearsal trained longer and at a higher rate: joint training of two tasks has more to fit. Which schedule is
    best is chosen on the validation split (notebook 02), never on test."""
    return [{"method": [M.Rehearsal(fraction)], "epochs": e, "learning_rate": lr} for e, lr in REHEARSAL_SCHEDULES]


def images() -> list:
    """Notebook 02's comparison on the digits (and ``python -m utils.compare``'s): every method, in this order.

    Full fine-tuning and LP-FT have no run of their own: each is the alpha = 1 end of WiSE-FT's dial around it.
    The order is the order the runs are made in, which fixes their numbers to the last bit on one machine.
    """
    return [
        [M.Augment()],
        [M.EarlyStopping()],
        [M.EWC(0.1)], [M.EWC(0.3)],
        [M.FrozenBackbone()],
        [M.L2SP(0.01)], [M.L2SP(0.1)],
        [M.LoRA(16)],
        lpft_control(),
        [M.LwF(1.0)], [M.LPFT(), M.LwF(1.0)], [lwf_paper()],
        [M.Dropout(0.5)],
        [M.WeightDecay(l2=1e-3)], [M.WeightDecay(l2=0.1, decoupled=True)], [M.WeightDecay(l1=1e-4, l2=0.0)],
        [M.Rehearsal(0.1)], [M.Rehearsal(0.5)], [M.Rehearsal(0.1), M.EWC(0.1)], *rehearsal_schedules(0.5),
        [M.WiSEFT(0.5, sweep=WISE_SWEEP)], [M.LPFT(), M.WiSEFT(0.5, sweep=WISE_SWEEP)],
    ]
