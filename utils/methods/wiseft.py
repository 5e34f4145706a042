"""WiSE-FT (Wortsman et al., 2022): average the pretrained and the fine-tuned weights."""

from __future__ import annotations

from .base import Method
from .lpft import LPFT


class WiSEFT(Method):
    """After fine-tuning, set ``theta = (1 - alpha) * theta0 + alpha * theta_ft`` (evaluation only: no extra training).

    Why it works: fine-tuned and pretrained weights of one model are usually linearly connected,
    so points between them keep much of both tasks. alpha = 0 is the pretrained backbone,
    alpha = 1 the fine-tuned one. The new head keeps its fine-tuned weights, unless a head-only phase
    ran first (LP-FT: then it is interpolated from the probed head ``ctx.probed_head``, as in the paper).

    alpha: where the model is left; sweep: alphas evaluated and reported in result.extra["wise_ft"].
    Compose it with another method (e.g. ``[LPFT(), WiSEFT(0.5)]``) to interpolate that method's run.
    """

    key = "wise-ft"
    id_excludes = ("sweep",)  # the sweep only adds measurements; the model left behind is set by alpha
    SUITE_SWEEP = (0.25, 0.5, 0.75, 1.0)

    @classmethod
    def suite(cls):
        """A run of full fine-tuning and one of LP-FT, each evaluated along the dial; alpha = 1 is the plain
        run, reported as "full" and "lp-ft" (so those two declare no run of their own)."""
        return [[cls(0.5, sweep=cls.SUITE_SWEEP)], [LPFT(), cls(0.5, sweep=cls.SUITE_SWEEP)]]

    def __init__(self, alpha: float = 0.5, sweep=(0.0, 0.25, 0.5, 0.75, 1.0)):
        if not 0 <= alpha <= 1 or any(not 0 <= a <= 1 for a in sweep):
            raise ValueError(f"WiSE-FT alphas must be in [0, 1], got alpha={alpha}, sweep={sweep}")
        self.alpha, self.sweep = alpha, tuple(sweep)

    @property
    def label(self):
        return f"wise-ft(α={self.alpha:g})"

    def interpolate(self, ctx, alpha: float, tuned, head_tuned) -> None:
        """Set backbone (and head, when a probe phase left one) to ``(1 - alpha) * start + alpha * tuned``."""
        ctx.set_backbone([(1 - alpha) * w0.numpy() + alpha * w for w0, w in zip(ctx.initial, tuned)])
        if ctx.probed_head is not None:
            for v, w0, w in zip(ctx.head.weights, ctx.probed_head, head_tuned):
                v.assign((1 - alpha) * w0 + alpha * w)

    def after_training(self, ctx):
        tuned = [v.numpy() for v in ctx.backbone_variables]
        head_tuned = [w.numpy() for w in ctx.head.weights]
        sweep = ctx.extra.setdefault("wise_ft", {})
        for a in sorted(set(self.sweep)):
            self.interpolate(ctx, a, tuned, head_tuned)
            sweep[a] = ctx.evaluate()
        self.interpolate(ctx, self.alpha, tuned, head_tuned)
