"""Frozen backbone (feature extraction): only the new head trains; the old capability cannot change."""

from .base import Method, Phase


class FrozenBackbone(Method):
    """Train a new head on the pretrained features; the backbone stays bit-identical.

    Keeps task A exactly, but task B can only use what the old features already encode.
    """

    key = "frozen"

    def phases(self, epochs):
        return [Phase(epochs, train="head", name="linear probe")]
