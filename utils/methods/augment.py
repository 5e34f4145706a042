"""Image data augmentation of the task-B inputs: random translations and pixel noise."""

from __future__ import annotations

from ..image_data import translate_and_noise
from .base import Method


class Augment(Method):
    """Shift each training image by up to ``shift`` pixels (zeros fill in) and add Gaussian noise of
    standard deviation ``noise``, clipped to [0, 1]. Inputs are float32 [N, H, W, C].

    More varied task-B data reduces overfitting to the few task-B examples; it does not tell the
    model anything about task A, so expect it to help task B more than it protects task A.
    """

    distributable = False  # it draws random shifts

    key = "augment"
    inputs = "images"

    shift: int = 1
    noise: float = 0.05

    def __post_init__(self):
        if self.shift < 0 or self.noise < 0:
            raise ValueError(f"Augment needs shift >= 0 and noise >= 0, got {self.shift}, {self.noise}")
        self.shift, self.noise = int(self.shift), float(self.noise)

    @property
    def label(self):
        return f"augment(shift={self.shift},noise={self.noise:g})"

    def augment(self, ctx, x):
        return translate_and_noise(x, self.shift, self.noise, ctx.rng)
