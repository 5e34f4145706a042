"""What a fine-tuning run returns (``FineTuneResult``, and a warning when it learnt nothing) and where it stands
between epochs (``RunState``, what a checkpoint holds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import methods as methods_lib
from .common import to_jsonable
from .methods.base import Context, reported_rows


class ChanceLevelWarning(UserWarning):
    """The run ended with task-B accuracy at chance level: it learnt nothing (usually a too-high learning rate)."""


CHANCE_MARGIN = 0.02  # a final task-B accuracy within this of 1/num_classes is "chance level"


def chance_level_warning(accuracy: float, num_classes: int, learning_rate: float) -> str | None:
    """The warning line for a run that learnt nothing, or None."""
    chance = 1.0 / num_classes
    if accuracy > chance + CHANCE_MARGIN:
        return None
    return (f"task-B accuracy {accuracy:.3f} is at chance level (1/{num_classes} = {chance:.3f}): the run learnt "
            f"nothing. A learning rate of {learning_rate:g} is probably too high: try {learning_rate / 10:g} (or, if "
            f"the loss was still falling, train longer)")


@dataclass
class FineTuneResult:
    """What one run measured. ``history[0]`` is the pretrained model (epoch 0).

    id: the run's stable ASCII identity (``utils.methods.run_id``); methods: the run's ``Method`` objects;
    reports: what each of them reported after training (``Method.after_training``), in the same order;
    method: the display label (tables and plots only). ``rows()``: the rows the run is reported as.
    """

    id: str
    methods: list
    method: str
    model: str
    task: str
    seed: int
    config: dict
    before: dict
    final: dict
    history: list
    reports: list
    train_seconds: float
    steps: int
    context: Context = field(repr=False, default=None)
    warnings: list = field(default_factory=list)

    def rows(self) -> list:
        """The rows this run is reported as (``utils.methods.base.Row``): its final metrics, rewritten by its methods
        (a WiSE-FT run adds one row per alpha of its dial; early stopping reports the steps of the weights kept)."""
        return reported_rows(self.methods, self.reports, self.final, self.steps)

    def settings(self) -> dict:
        """What decides the trained model, as data: the protocol and phases, model, task, and ``training`` (the run id
        of the weights the run left: a WiSE-FT run left at alpha = 1 is the training it wraps)."""
        left = next(r for r in self.rows() if r.left)
        return {**self.config, "model": self.model, "task": self.task, "training": methods_lib.run_id(left.methods)}

    def to_dict(self) -> dict:
        """JSON-ready summary (no live model objects)."""
        fields = ("id", "method", "model", "task", "seed", "config", "before", "final", "history", "reports",
                  "train_seconds", "steps", "warnings")
        return to_jsonable({"methods": methods_lib.records(self.methods), **{k: getattr(self, k) for k in fields}})


@dataclass
class RunState:
    """Where a run stands at an epoch boundary: what a checkpoint holds, enough to continue it exactly."""

    history: list  # history[0]: the pretrained model's metrics
    epoch: int = 0  # the last completed epoch
    steps: int = 0
    train_seconds: float = 0.0
    stopped: bool = False  # a method asked to stop
    phase_index: int = 0  # the phase the last completed epoch belonged to
    optimizer: list | None = None  # that phase's optimizer variables (arrays)

    @property
    def before(self) -> dict:
        return self.history[0]
