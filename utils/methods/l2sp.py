"""L2-SP (Li et al., 2018): an L2 penalty toward the pretrained weights, not toward zero."""

from .base import Method, squared_distance


class L2SP(Method):
    """Add ``strength / 2 * sum((theta - theta0)^2)`` over the backbone's variables.

    Why it works: every weight is pulled back to where pretraining left it, so the backbone only
    moves as far as task B pays for. It treats all weights alike (compare EWC).
    """

    key = "l2-sp"

    strength: float = 1.0

    def __post_init__(self):
        if self.strength < 0:
            raise ValueError(f"L2SP strength must be >= 0, got {self.strength}")

    @property
    def label(self):
        return f"l2-sp(λ={self.strength:g})"

    def penalty(self, ctx, x, features, logits):
        return 0.5 * self.strength * squared_distance(ctx.backbone_variables, ctx.initial)
