"""On-policy fine-tuning of a language model, and the preference pairs DPO trains on, through the one runner.

Supervised fine-tuning (SFT) trains on answers someone wrote: *off-policy* data. On-policy fine-tuning trains on the
model's own samples, scored by a reward (here exact match with the right answer), in rounds; each round samples
from the model as it is now (``lm_data.sample_ids``: batched, compiled, seeded), builds a ``Task`` of what it
sampled, and fine-tunes one epoch on it with ``utils.train.finetune``:

    rft    rejection-sampling fine-tuning: keep the samples that earned the reward, SFT on them (weights 1). It is a
           policy gradient with a 0/1 reward and no baseline: RL's Razor's "1-0 REINFORCE".
    grpo   group-relative policy gradient (Shao et al., 2024): k samples per prompt, each weighted by its advantage,
           its reward normalised within its prompt's group, (r - mean) / (std + eps); a group whose samples all
           scored alike teaches nothing and is left out. Each round's samples are used for one epoch, so every update
           is on-policy up to the epoch's few steps and the clipped ratio of PPO/GRPO is 1 (omitted); no KL penalty.

The loss of a sample is its mean token cross-entropy times its weight (``Task.weights``): the gradient of GRPO's
objective at ratio 1, -A * (1/|o|) * sum_t log pi(o_t | ...). The rounds need rewards: a model that never samples a
right answer gets none, so notebook 06 starts them from a short SFT warm start.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from . import lm_data, lm_model, tasks
from .train import finetune


def exact_reward(answers, targets) -> np.ndarray:
    """1.0 where the sampled answer (a string) equals the target, else 0.0."""
    return np.array([float(a == t) for a, t in zip(answers, targets)], np.float32)


def group_advantages(rewards: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """GRPO's advantages: ``rewards`` [P, k] (k samples of each of P prompts) normalised within each prompt's group,
    (r - mean) / (std + eps); 0 for a group whose rewards are all equal."""
    r = np.asarray(rewards, np.float64)
    std = r.std(axis=1, keepdims=True)
    return np.where(std > 0, (r - r.mean(axis=1, keepdims=True)) / (std + eps), 0.0).astype(np.float32)


def _round_task(skill: str, prompts, tokens, weights, keep, label: str) -> tasks.Task:
    """A language-model Task of sampled completions (the kept rows, with their weights), and the skill's own
    validation and test splits (what the bench scores)."""
    x, y = lm_data.completion_examples(np.asarray(prompts)[keep], tokens[keep])
    return replace(lm_data.skill_task(skill), name=f"{label}:{skill}", x_train=x, y_train=y,
                   weights=np.asarray(weights, np.float32)[keep],
                   description=f"{label}: {len(x)} sampled answers to {skill!r} prompts")


def on_policy(model, skill: str, algorithm: str = "rft", rounds: int = 3, k: int = 4, temperature: float = 1.0,
              train: int = 512, bench: lm_data.CapabilitySuite | None = None, old=None, seed: int = 0,
              max_new: int = 32, **kw) -> list[dict]:
    """``rounds`` rounds of on-policy fine-tuning of ``model`` (a name, path or loaded layer: trained in place) on
    ``skill``'s ``train`` training prompts, ``k`` samples each at ``temperature``. ``algorithm``: "rft" or "grpo"
    (module docstring). ``old``: task A (what a replaying method draws from). kw go to ``finetune`` (learning_rate,
    method, batch_size...; epochs is 1 a round).
    Returns one row per round: {"round", "reward" (the mean reward of its samples), "trained" (rows trained on),
    "sample_seconds", "sampled_tokens" (written, EOS included), "train_seconds", **the bench's measurement after
    it}. A layer passed in is trained in place."""
    from . import models

    if algorithm not in ("rft", "grpo"):
        raise ValueError(f"algorithm must be 'rft' or 'grpo', got {algorithm!r}")
    bench = bench or lm_data.CapabilitySuite()
    s = lm_data.skill(skill, train)
    prompts, answers = s.prompts["train"], s.answers["train"]
    layer, rows, before = models.load(model, trainable=True), [], kw.pop("before", None)
    for r in range(rounds):
        t0 = time.perf_counter()
        tokens = lm_data.sample_ids(layer, prompts, k, temperature, seed=seed * 1000 + r, max_new=max_new)
        reward = exact_reward(lm_data.decode_answers(tokens), np.repeat(answers, k))
        if algorithm == "rft":
            weights, keep = np.ones_like(reward), reward > 0
        else:
            weights = group_advantages(reward.reshape(len(prompts), k)).reshape(-1)
            keep = weights != 0
        sampled = time.perf_counter() - t0
        row = {"round": r + 1, "reward": float(reward.mean()), "trained": int(keep.sum()), "sample_seconds": sampled,
               "sampled_tokens": int((tokens != lm_model.PAD).sum())}
        if not keep.any():  # nothing to learn from this round: the model is unchanged
            before = before if before is not None else bench.measure(layer, skill)
            rows.append({**row, "train_seconds": 0.0, **before})
            continue
        task = _round_task(skill, np.repeat(prompts, k), tokens, weights, keep, algorithm)
        run = finetune(model=layer, task=(old or lm_data.general_task(), task), evaluator=bench.evaluator(),
                       epochs=1, seed=seed * 1000 + r, eval_every=0, progress=False, before=before, **kw)
        before = run.final
        rows.append({**row, "train_seconds": run.train_seconds, **run.final})
    return rows


def preference_task(model, skill: str, train: int = 512, k: int = 4, seed: int = 0, max_new: int = 32) -> tasks.Task:
    """DPO's pairs for ``skill``: for each training prompt, chosen = the right answer, rejected = one of ``k`` answers
    sampled from ``model`` (a loaded layer; temperature 1) that is wrong: the model's own plausible mistakes. A prompt
    whose samples are all right gives no pair. A "preference" task (rows 2i, 2i + 1: chosen, rejected), with the
    skill's validation and test splits."""
    s = lm_data.skill(skill, train)
    prompts, answers = s.prompts["train"], s.answers["train"]
    tokens = lm_data.sample_ids(model, prompts, k, 1.0, seed=seed, max_new=max_new)
    right = exact_reward(lm_data.decode_answers(tokens), np.repeat(answers, k)).reshape(len(prompts), k) > 0
    pairs = [(i, i * k + int(np.argmin(right[i]))) for i in range(len(prompts)) if not right[i].all()]
    chosen = lm_data.encode_examples([prompts[i] for i, _ in pairs], [answers[i] for i, _ in pairs])
    rejected = lm_data.completion_examples([prompts[i] for i, _ in pairs], tokens[[j for _, j in pairs]])
    x = np.stack([chosen[0], rejected[0]], 1).reshape(-1, lm_data.SEQ_LEN)
    y = np.stack([chosen[1], rejected[1]], 1).reshape(-1, lm_data.SEQ_LEN)
    return replace(lm_data.skill_task(skill), name=f"pairs:{skill}", x_train=x, y_train=y, kind="preference",
                   description=f"{len(pairs)} preference pairs on {skill!r}: the right answer over a wrong sample")


def at_matched_skill(path, skill: float) -> float | None:
    """What a training path kept where it first reached ``skill``: ``path`` is [(new-skill score, capabilities kept),
    ...] in training order (its start first); linear between two points, None if the path never reaches ``skill``.
    The frontier's question: at the same new-skill accuracy, which method kept more?"""
    for (s0, c0), (s1, c1) in zip(path, path[1:]):
        if s0 == skill:
            return float(c0)
        if min(s0, s1) < skill <= max(s0, s1):
            return float(c0 + (c1 - c0) * (skill - s0) / (s1 - s0))
    return float(path[-1][1]) if path and path[-1][0] == skill else None
