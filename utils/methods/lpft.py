"""LP-FT (Kumar et al., 2022): linear probe first, then fine-tune everything at a lower rate.

It changes two things at once, the probe phase and the rate; its control (full fine-tuning at the same reduced
rate, ``utils.suites.lpft_control``) separates them in the comparison."""

from .base import Method, Phase


class LPFT(Method):
    """Fit the new head on frozen features, then fine-tune backbone and head at ``ft_lr_scale`` x the rate.

    The runner keeps the probed head in ``ctx.training.probed_head`` (the head's start for WiSE-FT).

    Why it forgets less: a random head sends large, arbitrary gradients into the backbone in the
    first steps; a head that already fits task B sends small ones, so the features move less.

    lp_epochs: epochs of the linear-probe phase (added before the run's ``epochs`` of fine-tuning).
    ft_lr_scale: learning-rate multiplier of the fine-tuning phase (e.g. 1/3).
    """

    key = "lp-ft"

    lp_epochs: int = 5
    ft_lr_scale: float = 1 / 3

    def __post_init__(self):
        if self.lp_epochs < 1 or not 0 < self.ft_lr_scale <= 1:
            raise ValueError(f"LPFT needs lp_epochs >= 1 and 0 < ft_lr_scale <= 1, got {self.lp_epochs}, {self.ft_lr_scale}")

    @property
    def label(self):
        return f"lp-ft(lr×{self.ft_lr_scale:.2g})"

    def phases(self, epochs):
        return [
            Phase(self.lp_epochs, train="head", name="linear probe"),
            Phase(epochs, train="all", lr_scale=self.ft_lr_scale, name="fine-tune"),
        ]
