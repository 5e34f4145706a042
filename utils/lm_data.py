"""The language-model track's data and measurements: skills to fine-tune on, and the general ability to keep.

Skills (written by this workbook; see ``data/lm/DATA_CARD.md``): short instructions answered by exact match.
A prompt is ``"{skill}: {input}\\n"``; the answer follows, then EOS. Fine-tuning scores only the answer and its
EOS (the prompt tokens are masked), which is supervised fine-tuning (SFT) as done on chat models.

    camel    snake_case -> camelCase        camel: max_line_length\\n  ->  maxLineLength
    sort     digits in increasing order     sort: 5193\\n               ->  1359
    swap     a key=value pair, swapped      swap: path=root\\n          ->  root=path

Test inputs never occur in training (unseen word combinations, unseen digit strings), so exact match measures
the skill, not memory. ``reverse`` (a word reversed; its test words are never trained on) is kept for exploration:
this small model memorises its training words and reverses no unseen one, so the notebook does not use it.

Exact match is computed without generating: greedy decoding returns the answer exactly when, fed the right
prefix, the model's most likely next token is right at every answer position and at EOS. So one forward pass
of the prompt + answer decides it (``answer_scores``); ``generate`` is there to show what the model writes.

General ability: bits per byte on the committed held-out text (``utils.lm_model``), and next-byte accuracy there.
A fine-tuned model's *forgetting* is the rise of held-out bits per byte (PEFT's definition, in bits here).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from . import lm_model as lm
from . import tasks

SKILLS = ("camel", "sort", "swap")
ALL_SKILLS = (*SKILLS, "reverse")
SEQ_LEN = 48  # tokens per training example (BOS, prompt, answer, EOS; padded): the longest skill example takes 45
SPLIT_SIZES = {"train": 512, "val": 128, "test": 128}
SKILL_SEED = 0
# Lower-case words, 3-8 letters, common in code and English. Words of the second list are only ever used by the
# test (and validation) splits of "reverse", so reversing them cannot be memorised.
WORDS = """add all any app arg array async auth back base batch bind bit block body bool boot bound box branch
buffer bug build bus byte cache call case cast chain char check child class clean clear client clock close code
column commit config copy core count cursor data date debug delta depth dict diff disk dock done draw drop dump
edge empty entry error event exit field file filter final first flag float flush font form frame free gate graph
group guard hash head heap help hook host index init input item join json key label layer left limit line link
list load local lock log loop main map mask match max memory merge meta min mode model module mount name node
note null number object offset open order owner pack page pair parse part patch path peer pixel plan point pool
port post queue quote range rate raw read ready record ref remote render reply root route row rule run safe save
scale scan scope score seed send set shape shell size slot sort source space split stack start state step store
stream string style sum sync table tag task test text thread time token total trace tree type unit user value
view wait word work write zone""".split()
HELD_WORDS = """apple bridge candle desert engine forest garden harbor island jacket kettle lemon marble needle
orange pencil rabbit saddle tunnel valley walnut yellow anchor basket cotton dragon falcon goblet hammer ladder
mirror napkin parrot ribbon silver timber velvet window zipper""".split()


@dataclass(frozen=True)
class Skill:
    """One skill's examples: prompts and answers per split (strings), and its name."""

    name: str
    prompts: dict  # split -> [str]
    answers: dict  # split -> [str]


def answer(skill: str, text: str) -> str:
    """The correct answer of ``skill`` for input ``text``."""
    if skill == "camel":
        first, *rest = text.split("_")
        return first + "".join(w.capitalize() for w in rest)
    if skill == "reverse":
        return text[::-1]
    if skill == "sort":
        return "".join(sorted(text))
    if skill == "swap":
        key, value = text.split("=")
        return f"{value}={key}"
    raise ValueError(f"unknown skill {skill!r}: choose one of {', '.join(ALL_SKILLS)}")


def _inputs(skill: str, rng: np.random.Generator) -> dict:
    """Distinct inputs per split, the test and validation ones never seen in training."""
    n = sum(SPLIT_SIZES.values())
    if skill in ("camel", "swap"):
        sizes, joiner = ((2, 4), "_") if skill == "camel" else ((2, 3), "=")
        pool = sorted({joiner.join(rng.choice(WORDS, size=int(rng.integers(*sizes)), replace=False)) for _ in range(4 * n)})
        chosen = list(rng.permutation(pool)[:n])
    elif skill == "sort":
        pool = sorted({"".join(rng.choice(list("0123456789"), size=int(rng.integers(4, 9)))) for _ in range(4 * n)})
        chosen = list(rng.permutation(pool)[:n])
    else:  # "reverse" (skill() has checked the name)
        train_words = [w for w in WORDS if len(w) >= 3]
        held = list(rng.permutation(HELD_WORDS))
        chosen = list(rng.choice(train_words, SPLIT_SIZES["train"]))  # repeats: the words are few, the skill is the point
        half = len(held) // 2
        chosen += list(rng.choice(held[:half], SPLIT_SIZES["val"])) + list(rng.choice(held[half:], SPLIT_SIZES["test"]))
    out, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        out[split], start = [str(c) for c in chosen[start : start + size]], start + size
    return out


@functools.lru_cache(maxsize=None)
def skill(name: str, seed: int = SKILL_SEED) -> Skill:
    """The examples of skill ``name`` (deterministic given ``seed``; made once per process, then shared)."""
    if name not in ALL_SKILLS:
        raise ValueError(f"unknown skill {name!r}: choose one of {', '.join(ALL_SKILLS)}")
    rng = np.random.default_rng([seed, ALL_SKILLS.index(name)])
    inputs = _inputs(name, rng)
    return Skill(name, {s: [f"{name}: {x}\n" for x in xs] for s, xs in inputs.items()},
                 {s: [answer(name, x) for x in xs] for s, xs in inputs.items()})


def encode_examples(prompts, answers, seq_len: int = SEQ_LEN) -> tuple[np.ndarray, np.ndarray]:
    """(x ids [N, seq_len], y targets [N, seq_len]) for next-token training: x = BOS prompt answer (EOS), PAD after;
    y[t] is the token after x[t] where it belongs to the answer or is its EOS, and -1 elsewhere (prompt, padding)."""
    x = np.full((len(prompts), seq_len), lm.PAD, np.int32)
    y = np.full((len(prompts), seq_len), -1, np.int32)
    for i, (p, a) in enumerate(zip(prompts, answers)):
        prompt = lm.encode([p])[0]
        full = np.concatenate([prompt, np.frombuffer(a.encode(), np.uint8), [lm.EOS]]).astype(np.int32)
        if len(full) > seq_len + 1:
            raise ValueError(f"example {p!r} -> {a!r} needs {len(full) - 1} tokens; seq_len is {seq_len}")
        x[i, : len(full) - 1] = full[:-1]
        y[i, len(prompt) - 1 : len(full) - 1] = full[len(prompt):]
    return x, y


def skill_task(name: str, seq_len: int = SEQ_LEN) -> tasks.Task:
    """Skill ``name`` as a language-model ``Task`` (kind "lm") the runner fine-tunes on."""
    s = skill(name)
    parts = {split: encode_examples(s.prompts[split], s.answers[split], seq_len) for split in SPLIT_SIZES}
    return tasks.Task(f"skill:{name}", *parts["train"], *parts["test"], num_classes=lm.VOCAB, kind="lm", pad=lm.PAD,
                     description=f"the {name!r} skill: {SPLIT_SIZES['train']} prompts, answers scored by exact match",
                     x_val=parts["val"][0], y_val=parts["val"][1])


def text_windows(text: bytes, seq_len: int = SEQ_LEN) -> tuple[np.ndarray, np.ndarray]:
    """(x [N, seq_len], y [N, seq_len]) non-overlapping next-byte windows of general text from its start, every
    position scored: what replay mixes into the batches."""
    arr = np.frombuffer(text, np.uint8).astype(np.int32)
    starts = np.arange(0, len(arr) - seq_len - 1, seq_len)
    windows = arr[starts[:, None] + np.arange(seq_len + 1)]
    return windows[:, :-1].copy(), windows[:, 1:].copy()


def general_task(seq_len: int = SEQ_LEN) -> tasks.Task:
    """General text as a language-model ``Task``: replay draws its training windows (``data/lm/replay.txt``, a
    sample of the pretraining text); its test windows are the held-out text's start."""
    x, y = text_windows(lm.replay_text(), seq_len)
    xt, yt = text_windows(lm.heldout_text()[: 16 * 1024], seq_len)
    return tasks.Task("general text", x, y, xt, yt, num_classes=lm.VOCAB, kind="lm", pad=lm.PAD,
                     description="the standard library's source: replay sample (train), held-out files (test)")


def answer_scores(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exact [N] bool, nats [N]) of answers under teacher forcing: exact = every scored position's argmax is the
    target (what greedy decoding needs to write the answer and stop); nats = the answer's summed cross-entropy."""
    scored = y >= 0
    hit = (np.argmax(logits, -1) == y) | ~scored
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.maximum(y, 0)[..., None], -1)[..., 0]
    return hit.all(-1), (nll * scored).sum(-1)


def generate(model, prompts, max_new: int = 24, seq_len: int = SEQ_LEN) -> list[str]:
    """Greedy completions of ``prompts`` (strings) up to EOS: what the model writes (for display)."""
    import tensorflow as tf

    rows = [list(r) for r in lm.encode(prompts)]
    done = [False] * len(rows)
    out = [bytearray() for _ in rows]
    for _ in range(max_new):
        # always [N, seq_len] (one traced shape); causal, so the padding after a row changes none of its logits
        x = np.full((len(rows), seq_len), lm.PAD, np.int32)
        for i, r in enumerate(rows):
            kept = r[-seq_len:]
            x[i, : len(kept)] = kept
        logits = model(tf.constant(x)).numpy()
        for i, r in enumerate(rows):
            if done[i]:
                continue
            nxt = int(np.argmax(logits[i, min(len(r), seq_len) - 1]))
            if nxt == lm.EOS or nxt > 255:
                done[i] = True
            else:
                r.append(nxt)
                out[i].append(nxt)
        if all(done):
            break
    return [o.decode("utf-8", "replace") for o in out]


class LMBench:
    """The measurements of the language-model track, as the runner's evaluator.

    skills: skill names measured (exact match on their test split, and validation for the one trained);
    general_bytes: the first bytes of the held-out text measured in bits per byte; examples: the first test and
    validation prompts of each skill measured (all when None). Fewer of both: faster, noisier (FAST mode).
    """

    def __init__(self, skills=SKILLS, general_bytes: int = 32 * 1024, examples: int | None = None, seq_len: int = SEQ_LEN):
        self.skills, self.examples = tuple(skills), examples
        self.tasks = {s: skill_task(s, seq_len) for s in self.skills}
        self.general = lm.heldout_text()[:general_bytes]

    def skill_metrics(self, model, name: str, split: str = "test") -> dict:
        t = self.tasks[name]
        x, y = (t.x_test, t.y_test) if split == "test" else (t.x_val, t.y_val)
        n = int(tasks.used_length(t.pad, x[: self.examples]))  # the longest prompt and answer: no column of padding only
        x, y = x[: self.examples, :n], y[: self.examples, :n]
        logits = np.concatenate([model(x[i : i + 128]).numpy() for i in range(0, len(x), 128)])
        exact, nats = answer_scores(logits, y)
        return {"exact": float(exact.mean()), "answer_nats": float(nats.mean())}

    def measure(self, model, trained: str | None = None) -> dict:
        """{"B" (exact match of the skill trained, test), "B_val", "bpb", "next_byte", "skill:NAME" for every skill}."""
        out = {}
        for s in self.skills:
            out[f"skill:{s}"] = self.skill_metrics(model, s)["exact"]
        if trained is not None:
            out["B"] = out[f"skill:{trained}"]
            out["B_val"] = self.skill_metrics(model, trained, "val")["exact"]
        g = lm.bits_per_byte(model, self.general)
        out["bpb"], out["next_byte"] = g["bits_per_byte"], g["next_byte_accuracy"]
        return out

    def evaluator(self):
        """callable(ctx) -> metrics, for ``utils.train.finetune(evaluator=...)``: the skill trained is task B's."""
        def evaluate(ctx) -> dict:
            name = ctx.task_b.name.removeprefix("skill:")
            return self.measure(ctx.features, name if name in self.skills else None)

        return evaluate


def forgetting(before: dict, after: dict) -> dict:
    """The rise of held-out loss: {"bits": bpb after - before, "nats": the same in nats per byte}."""
    bits = after["bpb"] - before["bpb"]
    return {"bits": bits, "nats": bits * math.log(2)}


def mixed(task: tasks.Task, *others: tasks.Task) -> tasks.Task:
    """One task whose training set is the union of several skills' (multi-task SFT: the merge's control)."""
    parts = (task, *others)
    return replace(task, name="+".join(p.name for p in parts),
                   x_train=np.concatenate([p.x_train for p in parts]), y_train=np.concatenate([p.y_train for p in parts]))


def replay_task(skills=(), general_windows: int = 512, seq_len: int = SEQ_LEN) -> tasks.Task:
    """What replay draws from: ``general_windows`` windows of general text plus the training examples of ``skills``
    (the skills learnt before), in equal shares per source; with no skill before, all of ``general_task()``.
    As task A it also gives KL-to-reference its text."""
    g = general_task(seq_len)
    if not skills:
        return g
    keep = np.random.default_rng(0).choice(len(g.x_train), general_windows, replace=False)
    parts = [replace(g, x_train=g.x_train[keep], y_train=g.y_train[keep])] + [skill_task(s, seq_len) for s in skills]
    return replace(mixed(*parts), name="+".join(["general text", *skills]))
