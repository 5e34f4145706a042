"""WiSE-FT (Wortsman et al., 2022): average the pretrained and the fine-tuned weights."""

from __future__ import annotations

from dataclasses import replace

from .base import Method


class WiSEFT(Method):
    """After fine-tuning, set ``theta = (1 - alpha) * theta0 + alpha * theta_ft`` (evaluation only: no extra training).

    Why it works: fine-tuned and pretrained weights of one model are usually linearly connected,
    so points between them keep much of both tasks. alpha = 0 is the pretrained backbone,
    alpha = 1 the fine-tuned one.

    The head. Wortsman et al. interpolate the *whole* model, the head from its zero-shot or linear-probe end:
    here that is ``[LPFT(), WiSEFT(head="auto")]``, whose head moves from the probed head
    (``ctx.training.probed_head``) to the fine-tuned one. A run without a probe phase (plain fine-tuning from a random
    head) has no such end point, so "auto" keeps the fine-tuned head there: backbone-only interpolation.
    ``head="tuned"`` asks for backbone-only interpolation after LP-FT too: the control that shows what interpolating
    the head adds. Both dials come from one training run: after a probe phase, "auto" also evaluates the
    backbone-only dial, reported as the ``head="tuned"`` rows, so the control costs evaluations, not a second run.

    alpha: where the model is left (measured by the run's final evaluation); sweep: the other alphas evaluated
    after training, each reported as a row of its own (``rows``: alpha = 1 is the run it wraps, e.g. "full");
    head: "auto" (from the probed head when a probe phase ran) or "tuned" (the fine-tuned head, always).
    Compose it with another method (e.g. ``[LPFT(), WiSEFT(0.5)]``) to interpolate that method's run.
    """

    key = "wise-ft"
    id_excludes = ("sweep",)  # the sweep only adds measurements; the model left behind is set by alpha
    alpha: float = 0.5
    sweep: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)
    head: str = "auto"

    def __post_init__(self):
        self.sweep = tuple(self.sweep)
        if not 0 <= self.alpha <= 1 or any(not 0 <= a <= 1 for a in self.sweep):
            raise ValueError(f"WiSE-FT alphas must be in [0, 1], got alpha={self.alpha}, sweep={self.sweep}")
        if self.head not in ("auto", "tuned"):
            raise ValueError(f"WiSE-FT head must be 'auto' or 'tuned', got {self.head!r}")

    @property
    def label(self):
        return f"wise-ft(α={self.alpha:g}{',backbone only' if self.head == 'tuned' else ''})"

    def at(self, alpha: float, head: str | None = None):
        """The same interpolation left at ``alpha`` (with ``head``): the row a point of a dial is reported under."""
        return type(self)(alpha, head=head or self.head)

    def interpolate(self, ctx, alpha: float, tuned, head_tuned, head: str | None = None) -> None:
        """Set backbone (and head, when a probe phase left one and ``head`` is "auto") to
        ``(1 - alpha) * start + alpha * tuned``."""
        ctx.set_backbone([(1 - alpha) * w0.numpy() + alpha * w for w0, w in zip(ctx.initial, tuned)])
        probed = ctx.training.probed_head
        whole = probed is not None and (head or self.head) == "auto"
        for v, w0, w in zip(ctx.head.weights, probed if whole else head_tuned, head_tuned):
            v.assign((1 - alpha) * w0 + alpha * w if whole else w)

    def after_training(self, ctx):
        """Measure the dial (and, after a probe phase, the backbone-only control dial) at each alpha of the sweep,
        then leave the model at ``alpha``; the report: {"dial": {alpha: metrics}, "backbone_only": {...}}."""
        tuned = [v.numpy() for v in ctx.backbone_variables]
        head_tuned = [w.numpy() for w in ctx.head.weights]
        dials = {"dial": self.head}
        if ctx.training.probed_head is not None and self.head == "auto":
            dials["backbone_only"] = "tuned"  # the control, from the same run
        report = {}
        for name, head in dials.items():
            report[name] = {}
            # skipped: the control's alpha = 1 (the same model as the dial's), and the dial's own alpha, where the
            # model is left: the run's final measurement is that point (``rows`` reads it there)
            for a in sorted(set(self.sweep) - ({1.0} if head != self.head else {self.alpha})):
                self.interpolate(ctx, a, tuned, head_tuned, head)
                report[name][a] = ctx.evaluate()
        self.interpolate(ctx, self.alpha, tuned, head_tuned)
        return report

    def rows(self, rows, report):
        """One row per alpha of the dial (the run's own alpha is its final measurement, and alpha = 1 is the run it
        wraps, e.g. "full"), then one per alpha of the backbone-only control dial."""
        out = []
        for row in rows:
            base = [m for m in row.methods if m is not self]
            dial = dict(sorted({**report["dial"], self.alpha: row.metrics}.items()))
            for alpha, measured in dial.items():
                methods = (base or [Method()]) if alpha == 1.0 else base + [self.at(alpha)]
                out.append(replace(row, methods=methods, metrics=measured, left=row.left and alpha == self.alpha))
            out += [replace(row, methods=base + [self.at(alpha, head="tuned")], metrics=measured, left=False)
                    for alpha, measured in report.get("backbone_only", {}).items()]
        return out
