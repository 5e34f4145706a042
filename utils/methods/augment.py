"""Image data augmentation of the task-B inputs: random translations and pixel noise."""

from __future__ import annotations

from .base import Method


class Augment(Method):
    """Shift each training image by up to ``shift`` pixels (zeros fill in) and add Gaussian noise of
    standard deviation ``noise``, clipped to [0, 1]. Inputs are float32 [N, H, W, C].

    More varied task-B data reduces overfitting to the few task-B examples; it does not tell the
    model anything about task A, so expect it to help task B more than it protects task A.
    """

    distributable = False  # it draws random shifts

    name = "augment"

    def __init__(self, shift: int = 1, noise: float = 0.05):
        if shift < 0 or noise < 0:
            raise ValueError(f"Augment needs shift >= 0 and noise >= 0, got {shift}, {noise}")
        self.shift, self.noise = int(shift), float(noise)

    @property
    def label(self):
        return f"augment(shift={self.shift},noise={self.noise:g})"

    def augment(self, ctx, x):
        return translate_and_noise(x, self.shift, self.noise, ctx.rng)


def translate_and_noise(x, shift: int, noise: float, rng):
    """Random integer translation of each image by up to ``shift`` pixels, then N(0, noise^2) noise, clipped to [0, 1]."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    if shift:
        d = tf.cast(rng.uniform([n, 2], -shift, shift + 1, dtype=tf.int32), tf.float32)
        ones, zeros = tf.ones([n, 1]), tf.zeros([n, 1])
        # projective transform maps output (x, y) to input (x + dx, y + dy): a shift by (-dx, -dy)
        transforms = tf.concat([ones, zeros, d[:, :1], zeros, ones, d[:, 1:], zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
            fill_value=0.0, interpolation="NEAREST", fill_mode="CONSTANT",
        )
    if noise:
        x = tf.clip_by_value(x + noise * rng.normal(tf.shape(x)), 0.0, 1.0)
    return x
