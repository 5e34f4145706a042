"""The head policies of the runner, one per ``Task.kind``: what sits on top of the fine-tuned model for the new
task, and what measures the old one. ``HEADS[task.kind]`` is chosen by ``utils.train.Run``; no track lives here."""

from __future__ import annotations

from . import models


class NewHead:
    """Classification: a new dense head for task B on the backbone's features (seeded Glorot), beside the frozen
    task-A head shipped with the model (``head.npz``), which measures what a user of the old capability sees."""

    warns_at_chance = True
    group = 1  # training rows that belong together in a batch (the runner shuffles whole groups)
    loss_required = None  # what kind of method must bring the loss (``Method.example_loss``), or None

    def heads(self, run, features):
        import tf_keras as keras

        task_a, task_b = run.task_a, run.task_b
        old_head = models.load_head(run.model) if run.old_head == "auto" else run.old_head
        if old_head is not None and task_a is not None and old_head.units != task_a.num_classes:
            hint = f" (for {task_b.name!r}: {task_b.base_model})" if task_b.base_model else ""
            raise ValueError(f"the head of {run.model!r} has {old_head.units} classes but task A ({task_a.name}) has "
                             f"{task_a.num_classes}: use the model pretrained on task A{hint}")
        head = keras.layers.Dense(task_b.num_classes, name="new_head",
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=run.protocol.seed))
        head.build((None, int(features(task_b.x_train[:1]).shape[-1])))
        return head, old_head


class SharedOutput:
    """A language model: its own output layer serves every task, so nothing is added and the "features" are the
    next-token logits; task A (general text) is scored through the same layer."""

    warns_at_chance = False
    group = 1
    loss_required = None

    def heads(self, run, features):
        import tf_keras as keras

        head = keras.layers.Activation("linear", name="lm_output")
        return head, head if run.old_head == "auto" else run.old_head


class PairedOutput(SharedOutput):
    """Preference pairs for a language model: its own output layer, each (chosen, rejected) pair kept in one batch,
    and no cross-entropy of its own (it would train the rejected answers too): a pairwise loss must come with it."""

    group = 2
    loss_required = "a preference loss (utils.methods.DPO)"


HEADS = {"classification": NewHead(), "lm": SharedOutput(), "preference": PairedOutput()}  # Task.kind -> head policy
