"""WiSE-FT (Wortsman et al., 2022): average the pretrained and the fine-tuned weights."""

from __future__ import annotations

from .base import Method
from .lpft import LPFT


class WiSEFT(Method):
    """After fine-tuning, set ``theta = (1 - alpha) * theta0 + alpha * theta_ft`` (evaluation only: no extra training).

    Why it works: fine-tuned and pretrained weights of one model are usually linearly connected,
    so points between them keep much of both tasks. alpha = 0 is the pretrained backbone,
    alpha = 1 the fine-tuned one.

    The head. Wortsman et al. interpolate the *whole* model, the head from its zero-shot or linear-probe end:
    here that is ``[LPFT(), WiSEFT(head="auto")]``, whose head moves from the probed head (``ctx.probed_head``)
    to the fine-tuned one. A run without a probe phase (plain fine-tuning from a random head) has no such
    end point, so "auto" keeps the fine-tuned head there: backbone-only interpolation. ``head="tuned"`` asks
    for backbone-only interpolation after LP-FT too: the control that shows what interpolating the head adds.
    Both dials come from one training run: after a probe phase, "auto" also evaluates the backbone-only dial
    (``result.extra["wise_ft_backbone_only"]``, reported as the ``head="tuned"`` rows), so the control costs
    evaluations, not a second run.

    alpha: where the model is left (measured by the run's final evaluation); sweep: the alphas reported, the others
    evaluated after training into result.extra["wise_ft"];
    head: "auto" (from the probed head when a probe phase ran) or "tuned" (the fine-tuned head, always).
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

    def __init__(self, alpha: float = 0.5, sweep=(0.0, 0.25, 0.5, 0.75, 1.0), head: str = "auto"):
        if not 0 <= alpha <= 1 or any(not 0 <= a <= 1 for a in sweep):
            raise ValueError(f"WiSE-FT alphas must be in [0, 1], got alpha={alpha}, sweep={sweep}")
        if head not in ("auto", "tuned"):
            raise ValueError(f"WiSE-FT head must be 'auto' or 'tuned', got {head!r}")
        self.alpha, self.sweep, self.head = alpha, tuple(sweep), head

    @property
    def label(self):
        return f"wise-ft(α={self.alpha:g}{',backbone only' if self.head == 'tuned' else ''})"

    def at(self, alpha: float):
        """The same interpolation left at ``alpha``: the row a sweep point is reported under."""
        return type(self)(alpha, head=self.head)

    def interpolate(self, ctx, alpha: float, tuned, head_tuned, head: str | None = None) -> None:
        """Set backbone (and head, when a probe phase left one and ``head`` is "auto") to
        ``(1 - alpha) * start + alpha * tuned``."""
        ctx.set_backbone([(1 - alpha) * w0.numpy() + alpha * w for w0, w in zip(ctx.initial, tuned)])
        whole = ctx.probed_head is not None and (head or self.head) == "auto"
        for v, w0, w in zip(ctx.head.weights, ctx.probed_head if whole else head_tuned, head_tuned):
            v.assign((1 - alpha) * w0 + alpha * w if whole else w)

    def after_training(self, ctx):
        tuned = [v.numpy() for v in ctx.backbone_variables]
        head_tuned = [w.numpy() for w in ctx.head.weights]
        dials = {"wise_ft": self.head}
        if ctx.probed_head is not None and self.head == "auto":
            dials["wise_ft_backbone_only"] = "tuned"  # the control, from the same run
        for name, head in dials.items():
            sweep = ctx.extra.setdefault(name, {})
            # skipped: the control's alpha = 1 (the same model as the dial's), and the dial's own alpha, where the
            # model is left: the run's final measurement is that point (``compare.rows_of`` reads it there)
            for a in sorted(set(self.sweep) - ({1.0} if head != self.head else {self.alpha})):
                self.interpolate(ctx, a, tuned, head_tuned, head)
                sweep[a] = ctx.evaluate()
        self.interpolate(ctx, self.alpha, tuned, head_tuned)
