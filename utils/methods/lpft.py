"""LP-FT (Kumar et al., 2022): linear probe first, then fine-tune everything at a lower rate.

It changes two things at once, the probe phase and the rate; ``LPFT.control()`` (full fine-tuning at the same
reduced rate) separates them in the comparison."""

from .base import Method, Phase


class LPFT(Method):
    """Fit the new head on frozen features, then fine-tune backbone and head at ``ft_lr_scale`` x the rate.

    The runner keeps the probed head in ``ctx.probed_head`` (the head's start for WiSE-FT).

    Why it forgets less: a random head sends large, arbitrary gradients into the backbone in the
    first steps; a head that already fits task B sends small ones, so the features move less.

    lp_epochs: epochs of the linear-probe phase (added before the run's ``epochs`` of fine-tuning).
    ft_lr_scale: learning-rate multiplier of the fine-tuning phase (e.g. 1/3).
    """

    key = "lp-ft"

    def __init__(self, lp_epochs: int = 5, ft_lr_scale: float = 1 / 3):
        if lp_epochs < 1 or not 0 < ft_lr_scale <= 1:
            raise ValueError(f"LPFT needs lp_epochs >= 1 and 0 < ft_lr_scale <= 1, got {lp_epochs}, {ft_lr_scale}")
        self.lp_epochs, self.ft_lr_scale = lp_epochs, ft_lr_scale

    @property
    def label(self):
        return f"lp-ft(lr×{self.ft_lr_scale:.2g})"

    def phases(self, epochs):
        return [
            Phase(self.lp_epochs, train="head", name="linear probe"),
            Phase(epochs, train="all", lr_scale=self.ft_lr_scale, name="fine-tune"),
        ]

    @classmethod
    def suite(cls):
        """Its own row is the alpha = 1 end of WiSE-FT's run from LP-FT (utils.methods.wiseft). Here: its control,
        full fine-tuning at the same reduced rate, which separates "the head is fitted first" from "a lower rate"."""
        return [cls.control()]

    @classmethod
    def control(cls, ft_lr_scale: float = 1 / 3, learning_rate: float | None = None) -> dict:
        """Full fine-tuning (random head, no probe phase) at ``ft_lr_scale`` x the protocol's rate: LP-FT's control."""
        from ..common import PROTOCOL

        return {"method": [Method()], "learning_rate": (learning_rate or PROTOCOL.learning_rate) * ft_lr_scale}
