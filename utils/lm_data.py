"""The language-model track's data and measurements: the capabilities of the chat model, the skills to fine-tune
on, general text, and the capability suite that measures a language model (``CapabilitySuite``).

Every instruction is written in one chat template, its roles marked in the bytes (``TEMPLATE``)::

    <BOS>User: Write max_line_length in camelCase.\nAssistant: maxLineLength<EOS>

Fine-tuning scores only the answer and its EOS (the prompt's tokens are masked): supervised fine-tuning (SFT) as done
on chat models. The skills (written by this workbook; ``data/lm/DATA_CARD.md``), by kind:

    camel    transformation  snake_case -> camelCase     Write max_line_length in camelCase.  ->  maxLineLength
    swap     transformation  a key=value pair, swapped   Swap the pair path=root              ->  root=path
    sort     transformation  digits in increasing order  Sort the digits 5193                 ->  1359
    count    counting        words in a list             How many words: red box tree         ->  3
    facts    knowledge       a stdlib module's purpose   What is the json module for?         ->  encode and decode JSON
    bullets  format          a list as bullet points     List as bullets: red, box            ->  - red\n- box
    snake    transformation  camelCase -> snake_case     Write maxLineLength in snake_case.   ->  max_line_length
    reverse  transformation  the words in reverse order  Reverse the words: red box tree      ->  tree box red

The first six are ``CAPABILITIES``, what ``byte-lm-chat`` was instruction-tuned on (``utils.zoo``); ``snake`` and
``reverse`` are ``NEW_SKILLS``, which it was not: what notebook 05 fine-tunes it on. Test and validation inputs never
occur in training (unseen word combinations, digit strings, lists), so exact match measures the skill, not memory.
A fact cannot be held out: ``facts`` is trained on eight phrasings of each question and scored on two others
(validation, test), so it measures a memorised fact recalled from a question phrased anew.

Exact match is computed without generating: greedy decoding returns the answer exactly when, fed the right
prefix, the model's most likely next token is right at every answer position and at EOS. So one forward pass
of the prompt + answer decides it (``answer_scores``); ``generate`` and ``chat`` show what the model writes.

General ability: bits per byte on the committed held-out text (``utils.lm_model``), and next-byte accuracy there.
A fine-tuned model's forgetting is the capabilities' drop in exact match and the rise of held-out bits per byte.
"""

from __future__ import annotations

import csv
import functools
import math
import weakref
from dataclasses import dataclass, replace

import numpy as np

from . import lm_model as lm
from . import metrics, paths, tasks

TEMPLATE = "User: {}\nAssistant: "  # the chat template; the answer follows, then EOS (the end marker)
KINDS = {"camel": "transformation", "swap": "transformation", "sort": "transformation", "count": "counting",
         "facts": "knowledge", "bullets": "format", "snake": "transformation", "reverse": "transformation"}
CAPABILITIES = ("camel", "swap", "sort", "count", "facts", "bullets")  # what byte-lm-chat is tuned on
NEW_SKILLS = ("snake", "reverse")  # what it is not: notebook 05's fine-tunes
SEQ_LEN = 96  # tokens per example (BOS, template, prompt, answer, EOS; padded): the longest takes 92
SPLIT_SIZES = {"train": 512, "val": 128, "test": 128}  # train: the default; the chat model's build uses more
SKILL_SEED = 0
FACTS_FILE = paths.ROOT / "data" / "lm" / "facts.csv"
FACT_PHRASINGS = {  # the question of a fact, phrased for training (8 ways) and for validation and test (1 each)
    "train": ("What is the {} module for?", "What is {} for?", "Describe the {} module.", "What does {} do?",
              "Which module is {}? What is it for?", "Explain the {} module.", "{}: what is it for?",
              "What is the purpose of {}?"),
    "val": ("What does the {} module do?",),
    "test": ("Tell me what the {} module is for.",),
}
# Lower-case words, 3-8 letters, common in code and English: the inputs of the generated skills.
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


@dataclass(frozen=True)
class Skill:
    """One skill's examples: prompts (rendered in the chat template) and answers per split, its name and kind."""

    name: str
    kind: str
    prompts: dict  # split -> [str]
    answers: dict  # split -> [str]


def render(instruction: str) -> str:
    """An instruction in the chat template: what a prompt looks like to the model."""
    return TEMPLATE.format(instruction)


def _example(name: str, rng: np.random.Generator) -> tuple[str, str, str]:
    """(input, instruction, answer) of one random example of a generated skill."""
    words = lambda low, high: list(rng.choice(WORDS, int(rng.integers(low, high)), replace=False))  # noqa: E731
    if name in ("camel", "snake"):
        ws = words(2, 4)
        snake, camel = "_".join(ws), ws[0] + "".join(w.capitalize() for w in ws[1:])
        return (snake, f"Write {snake} in camelCase.", camel) if name == "camel" else (camel, f"Write {camel} in snake_case.", snake)
    if name == "swap":
        k, v = words(2, 3)
        return f"{k}={v}", f"Swap the pair {k}={v}", f"{v}={k}"
    if name == "sort":
        x = "".join(rng.choice(list("0123456789"), int(rng.integers(4, 9))))
        return x, f"Sort the digits {x}", "".join(sorted(x))
    if name == "count":
        ws = list(rng.choice(WORDS, int(rng.integers(1, 9))))
        return " ".join(ws), f"How many words: {' '.join(ws)}", str(len(ws))
    if name == "bullets":
        ws = words(2, 4)
        return ", ".join(ws), f"List as bullets: {', '.join(ws)}", "\n".join(f"- {w}" for w in ws)
    if name == "reverse":
        ws = words(2, 5)
        return " ".join(ws), f"Reverse the words: {' '.join(ws)}", " ".join(ws[::-1])
    raise ValueError(f"unknown skill {name!r}: choose one of {', '.join(KINDS)}")


def _generated(name: str, train: int, rng: np.random.Generator) -> dict:
    """{split: (instructions, answers)} with distinct inputs: test and validation drawn first, so a longer training
    split leaves them unchanged."""
    sizes = {"test": SPLIT_SIZES["test"], "val": SPLIT_SIZES["val"], "train": train}
    seen, out = set(), {}
    for split, size in sizes.items():
        out[split] = ([], [])
        while len(out[split][0]) < size:
            x, instruction, answer = _example(name, rng)
            if x not in seen:
                seen.add(x)
                out[split][0].append(instruction)
                out[split][1].append(answer)
    return out


def facts() -> list[dict]:
    """The knowledge the chat model is tuned on: {"module", "purpose"} rows of ``data/lm/facts.csv``."""
    with open(FACTS_FILE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _facts(train: int) -> dict:
    rows = facts()
    return {split: ([p.format(r["module"]) for r in rows for p in phrasings], [r["purpose"] for r in rows for _ in phrasings])
            for split, phrasings in FACT_PHRASINGS.items()}


@functools.lru_cache(maxsize=None)
def skill(name: str, train: int = SPLIT_SIZES["train"], seed: int = SKILL_SEED) -> Skill:
    """The examples of skill ``name`` (deterministic given ``seed``; made once per process, then shared).
    train: training examples of a generated skill (``facts`` has its eight phrasings of every fact)."""
    if name not in KINDS:
        raise ValueError(f"unknown skill {name!r}: choose one of {', '.join(KINDS)}")
    parts = _facts(train) if name == "facts" else _generated(name, train, np.random.default_rng([seed, list(KINDS).index(name)]))
    return Skill(name, KINDS[name], {s: [render(i) for i in p[0]] for s, p in parts.items()},
                 {s: list(p[1]) for s, p in parts.items()})


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


def skill_task(name: str, train: int = SPLIT_SIZES["train"], seq_len: int = SEQ_LEN, bench=None) -> tasks.Task:
    """Skill ``name`` as a language-model ``Task`` (kind "lm") the runner fine-tunes on, from ``byte-lm-chat``;
    measured by ``bench`` (default: the capability suite, ``CapabilitySuite()``, built when a run first asks)."""
    s = skill(name, train)
    parts = {split: encode_examples(s.prompts[split], s.answers[split], seq_len) for split in s.prompts}
    return tasks.Task(f"skill:{name}", *parts["train"], *parts["test"], num_classes=lm.VOCAB, kind="lm", pad=lm.PAD,
                      description=f"the {name!r} skill ({s.kind}): {len(s.prompts['train'])} prompts, scored by exact "
                                  "match", x_val=parts["val"][0], y_val=parts["val"][1], base_model="byte-lm-chat",
                      bench=bench or _DEFAULT_SUITE)


def instruction_mixture(train: int = 1024, facts_repeat: int = 4, seq_len: int = SEQ_LEN) -> tasks.Task:
    """The chat model's instruction-tuning data: every capability's training examples (``train`` each; the facts'
    eight phrasings repeated ``facts_repeat`` times), bucketed by length. As task A it is what replay of the
    instruction mixture draws from."""
    parts = [skill_task(c, train, seq_len) for c in CAPABILITIES]
    parts = [replace(p, x_train=np.tile(p.x_train, (facts_repeat, 1)), y_train=np.tile(p.y_train, (facts_repeat, 1)))
             if p.name == "skill:facts" else p for p in parts]
    return replace(mixed(*parts), name="instructions", bucket=True, base_model="byte-lm",
                   description=f"the chat model's instruction mixture: {', '.join(CAPABILITIES)}")


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
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.maximum(y, 0)[..., None], -1)[..., 0]
    return metrics.exact_rows(logits, y), (nll * scored).sum(-1)


def answer_kl(reference_logits: np.ndarray, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per example: the sum over its scored positions (y >= 0: the answer and its EOS) of KL(p_ref || p), the full
    next-token distributions (nats). With the prefixes drawn from the reference's own answers, its mean is the
    sequence-level forward KL(pi_0 || pi) (the chain rule); with other answers it is that KL along those answers."""
    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    ref, new = log_softmax(np.asarray(reference_logits, np.float64)), log_softmax(np.asarray(logits, np.float64))
    kl = (np.exp(ref) * (ref - new)).sum(-1)
    return (kl * (y >= 0)).sum(-1)


_DECODERS = weakref.WeakKeyDictionary()  # model -> {(seq_len, max_new, temperature): its windowed decode loop}
_CACHED_DECODERS = {}  # (architecture, seq_len, max_new, temperature) -> a key/value-cached decode loop (weights as args)
_CACHE_CHECKED = weakref.WeakKeyDictionary()  # model -> its lm_model.cached_step, or None (checked: not trusted)


def _decoder(model, seq_len: int, max_new: int, temperature: float, cache: bool = True):
    """A compiled decode loop for ``model``: (ids [N, seq_len], lengths [N], seed [2]) -> new tokens [N, max_new]
    (PAD after a row's EOS). The next-token logits come from ``lm_model.cached_step`` (a key/value cache: the prompt
    in one pass, then one token a step; one trace serves every model of the architecture) when the model is the
    workbook's architecture and the step agrees with the model itself (``_cache_agrees``); otherwise (and always with
    ``cache=False``) each step runs the model on the window up to the longest row. It keeps bytes and EOS only, and
    picks greedily (temperature 0) or samples with a stateless generator seeded by (seed, step): the same seed, the
    same samples."""
    if model not in _CACHE_CHECKED:
        cached = lm.cached_step(model)
        _CACHE_CHECKED[model] = cached if cached is not None and _cache_agrees(model, *cached[:3]) else None
    cached = _CACHE_CHECKED[model] if cache else None
    if cached is None:
        loops = _DECODERS.setdefault(model, {})
        key = (seq_len, max_new, float(temperature))
        if key not in loops:
            loops[key] = _decode_loop(model, None, [], seq_len, max_new, temperature)
        return lambda ids, lengths, seed: loops[key](ids, lengths, seed, [])
    step, empty, weights, shape = cached
    key = (shape, seq_len, max_new, float(temperature))
    if key not in _CACHED_DECODERS:
        _CACHED_DECODERS[key] = _decode_loop(None, (step, empty), [w.shape for w in weights], seq_len, max_new,
                                             temperature)
    return lambda ids, lengths, seed: _CACHED_DECODERS[key](ids, lengths, seed, weights)


def _decode_loop(model, cached, shapes, seq_len: int, max_new: int, temperature: float):
    """The compiled loop of ``_decoder``: windowed on ``model``, or with ``cached`` = (step, empty) and the weights
    (of ``shapes``) as its fourth argument."""
    import tensorflow as tf

    allowed = tf.constant(np.arange(lm.VOCAB) <= lm.EOS)  # bytes 0-255 and EOS (not BOS, PAD or the spare id)

    def pick(t, last, seed):
        last = tf.where(allowed, last, tf.float32.min)
        if temperature == 0:
            return tf.argmax(last, -1, output_type=tf.int32)
        return tf.random.stateless_categorical(last / temperature, 1, seed + tf.stack([0, t]), tf.int32)[:, 0]

    def prefill(ids, lengths, weights):  # the logits after each row's prompt, and the cache (() in the windowed form)
        window = ids[:, : tf.reduce_max(lengths)]
        if cached is None:
            return tf.gather(model(window), lengths - 1, batch_dims=1), ()
        step, empty = cached
        positions = tf.broadcast_to(tf.range(tf.shape(window)[1]), tf.shape(window))
        room = tf.minimum(seq_len, tf.reduce_max(lengths) + max_new)  # the positions any row can reach
        logits, kv = step(weights, window, positions, empty(tf.shape(ids)[0], room))  # a row's PAD: never attended
        return tf.gather(logits, lengths - 1, batch_dims=1), kv

    @tf.function(input_signature=[tf.TensorSpec([None, seq_len], tf.int32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([2], tf.int32), [tf.TensorSpec(s, tf.float32) for s in shapes]])
    def decode(ids, lengths, seed, weights):
        n = tf.shape(ids)[0]
        rows = tf.range(n)
        last, kv = prefill(ids, lengths, weights)
        done = tf.zeros([n], tf.bool)
        out = tf.fill([n, max_new], lm.PAD)
        for t in tf.range(max_new):
            if tf.reduce_all(done):
                break
            nxt = tf.where(done, lm.PAD, pick(t, last, seed))
            out = tf.tensor_scatter_nd_update(out, tf.stack([rows, tf.fill([n], t)], 1), nxt)
            writes = ~done & (nxt != lm.EOS) & (lengths < seq_len)
            w = tf.where(writes)[:, 0]  # the rows that take their token
            ids = tf.tensor_scatter_nd_update(ids, tf.stack([tf.gather(rows, w), tf.gather(lengths, w)], 1),
                                              tf.gather(nxt, w))
            if cached is None:
                last = tf.gather(model(ids[:, : tf.reduce_max(lengths + 1)]), tf.minimum(lengths, seq_len - 1),
                                 batch_dims=1)
            else:  # feed each row's new token at its position (a finished row's is ignored)
                logits, kv = cached[0](weights, nxt[:, None], tf.minimum(lengths, seq_len - 1)[:, None], kv)
                last = logits[:, 0]
            lengths = lengths + tf.cast(writes, tf.int32)
            done = done | (nxt == lm.EOS) | (lengths >= seq_len)
        return out

    return decode


def _cache_agrees(model, step, empty, weights, tolerance: float = 1e-3) -> bool:
    """Whether ``lm_model.cached_step`` computes what ``model`` computes: a probe's logits, all but its last three
    tokens in one call and those one a call, against the model's own, within ``tolerance``."""
    import tensorflow as tf

    probe = tf.constant(lm.encode(["User: probe the cache\nAssistant: ok"])[0][None, :], tf.int32)
    size = probe.shape[1]
    first, kv = step(weights, probe[:, : size - 3], tf.range(size - 3)[None, :], empty(1, size))
    mine = [first[0]]
    for t in range(size - 3, size):
        logits, kv = step(weights, probe[:, t : t + 1], tf.constant([[t]]), kv)
        mine.append(logits[0])
    return bool(np.max(np.abs(np.concatenate(mine) - model(probe)[0].numpy())) <= tolerance)


def sample_ids(model, prompts, k: int = 1, temperature: float = 1.0, seed: int = 0, max_new: int = 32,
               seq_len: int = SEQ_LEN, cache: bool = True) -> np.ndarray:
    """``k`` completions of each prompt (strings, rendered already), as int32 tokens [len(prompts) * k, max_new]:
    prompt i's completions are rows i*k ... i*k + k - 1; each ends at its EOS (PAD after). temperature 0: greedy.
    Compiled, batched, reproducible: the same seed gives the same samples. A completion stops at ``seq_len``.
    cache: decode with a key/value cache where the model allows it (``_decoder``); False: the windowed form."""
    import tensorflow as tf

    rows = lm.encode(prompts)
    if any(len(r) >= seq_len for r in rows):
        longest = max(len(r) for r in rows)
        raise ValueError(f"a prompt takes {longest} tokens: it leaves no room to answer in {seq_len}; shorten it")
    ids = np.full((len(rows) * k, seq_len), lm.PAD, np.int32)
    lengths = np.repeat([len(r) for r in rows], k).astype(np.int32)
    for i, r in enumerate(rows):
        ids[i * k : (i + 1) * k, : len(r)] = r
    out = _decoder(model, seq_len, max_new, temperature, cache)(tf.constant(ids), tf.constant(lengths),
                                                         tf.constant([seed, 0], tf.int32))
    return out.numpy()


def completion_examples(prompts, tokens: np.ndarray, seq_len: int = SEQ_LEN) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) like ``encode_examples``, from prompts (strings) and sampled completions as token rows (``sample_ids``:
    bytes, then EOS if the completion ended, PAD after): the tokens themselves are trained on, so a completion that
    is not valid UTF-8 is kept as sampled; one that did not end has no EOS to learn."""
    x = np.full((len(prompts), seq_len), lm.PAD, np.int32)
    y = np.full((len(prompts), seq_len), -1, np.int32)
    for i, (p, row) in enumerate(zip(prompts, tokens)):
        prompt = lm.encode([p])[0]
        answer = np.asarray(row)[: int(np.argmax(np.append(row == lm.PAD, True)))]  # up to the first PAD
        full = np.concatenate([prompt, answer]).astype(np.int32)[: seq_len + 1]
        x[i, : len(full) - 1] = full[:-1]
        y[i, len(prompt) - 1 : len(full) - 1] = full[len(prompt):]
    return x, y


def decode_answers(tokens: np.ndarray) -> list[str]:
    """Token rows from ``sample_ids`` -> the text before each row's EOS."""
    text = []
    for row in tokens:
        end = np.flatnonzero((row == lm.EOS) | (row == lm.PAD))
        text.append(bytes(row[: end[0] if len(end) else len(row)].astype(np.uint8)).decode("utf-8", "replace"))
    return text


def sample(model, prompts, k: int = 1, temperature: float = 1.0, seed: int = 0, max_new: int = 32) -> list[list[str]]:
    """``k`` sampled answers per prompt (strings): ``sample_ids`` decoded, one list per prompt."""
    answers = decode_answers(sample_ids(model, prompts, k, temperature, seed, max_new))
    return [answers[i * k : (i + 1) * k] for i in range(len(prompts))]


def generate(model, prompts, max_new: int = 32) -> list[str]:
    """Greedy completions of ``prompts`` (strings, rendered already: see ``chat``) up to EOS: what the model writes."""
    return [a[0] for a in sample(model, prompts, 1, 0.0, 0, max_new)]


def chat(model, instructions, max_new: int = 48) -> list[str]:
    """What the model answers to each instruction, greedily, in the chat template."""
    return generate(model, [render(i) for i in instructions], max_new)


class CapabilitySuite:
    """The workbook's small evaluation harness: one call (``measure``) measures a language model on every skill
    (exact match on held-out prompts), general text (bits per byte, next-byte accuracy), and returns one row:

        skill:NAME    exact match on NAME's test prompts, for every skill measured
        capabilities  the mean over the chat model's capabilities measured (``CAPABILITIES``)
        kind:KIND     the mean over the capabilities of one kind (transformation, counting, knowledge, format)
        bpb           held-out bits per byte; next_byte: next-byte accuracy there
        B, B_val      the trained skill's exact match on test and validation (when ``trained`` is given)
        kl            KL(pi_0 || pi) on the trained skill's prompts, from ``reference`` (pi_0; when both are given),
                      teacher-forced along the data's answers
        kl_sampled    the same KL along ``kl_samples`` answers per prompt sampled from the reference (when > 0): a
                      Monte Carlo estimate of the sequence-level KL(pi_0 || pi), the quantity RL's Razor measures

    skills: what is measured (default: the capabilities and the new skills); general_bytes: the first bytes of the
    held-out text; examples: the first test and validation prompts of each skill (all when None). Fewer of both:
    faster, noisier (FAST mode). reference: the model a fine-tune started from (its logits on the trained skill are
    computed once). As the runner's evaluator (``evaluator()``) the trained skill is task B's.
    """

    def __init__(self, skills=CAPABILITIES + NEW_SKILLS, general_bytes: int = 32 * 1024, examples: int | None = None,
                 seq_len: int = SEQ_LEN, reference=None, kl_samples: int = 0):
        self.skills, self.examples, self.reference, self.kl_samples = tuple(skills), examples, reference, kl_samples
        self.tasks = {s: skill_task(s, seq_len=seq_len, bench=self) for s in self.skills}
        self.general = lm.heldout_text()[:general_bytes]
        self._reference_logits, self.added = {}, set()  # (skill, split) -> the reference's logits; add_task's names

    def add_task(self, task: tasks.Task, name: str | None = None) -> None:
        """Measure ``task`` too (a language-model task: its test and validation splits), as the skill ``name``
        (default: the task's name), on all its prompts (``examples`` limits the suite's own skills): your own data's
        task, for ``utils.finetune_cli --data``."""
        name = name or task.name
        self.tasks[name], self.skills = task, (*self.skills, name)
        self.added.add(name)

    def _examples(self, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        t = self.tasks[name]
        x, y = (t.x_test, t.y_test) if split == "test" else (t.x_val, t.y_val)
        n = None if name in self.added else self.examples
        return x[:n], y[:n]

    @staticmethod
    def _logits(model, x: np.ndarray) -> np.ndarray:
        n = int(tasks.used_length(lm.PAD, x))  # the longest prompt and answer: no column of padding only
        return np.concatenate([model(x[i : i + 128, :n]).numpy() for i in range(0, len(x), 128)])

    def skill_metrics(self, model, name: str, split: str = "test") -> dict:
        x, y = self._examples(name, split)
        logits = self._logits(model, x)
        exact, nats = answer_scores(logits, y[:, : logits.shape[1]])
        return {"exact": float(exact.mean()), "answer_nats": float(nats.mean())}

    def kl(self, model, reference, name: str, split: str = "test", answers: str = "data") -> float:
        """KL(pi_0 || pi) of ``model`` (pi) from ``reference`` (pi_0) on skill ``name``'s prompts, in nats per answer,
        teacher-forced: along the data's answers (``answers="data"``) or along the model's own greedy answers
        (``"own"``), or along ``kl_samples`` answers per prompt sampled from the reference (``"sampled"``, temperature 1,
        seed 0, cut 8 tokens after the longest right answer: the sequence-level KL's Monte Carlo estimate). RL's Razor
        (Shenfeld et al., 2025) finds forgetting predicted by this KL on the new task."""
        x, y = self._examples(name, split)
        if answers == "sampled":
            key = ("sampled", name, split, id(reference))
            if key not in self._reference_logits:
                xs, ys = _reference_samples(reference, skill(name).prompts[split][: self.examples], x.shape[1],
                                            int((y >= 0).sum(1).max()), max(self.kl_samples, 1))
                self._reference_logits[key] = (xs, ys, self._logits(reference, xs))
            x, y, ref = self._reference_logits[key]
        elif answers == "own":
            prompts = skill(name).prompts[split][: self.examples]  # the prompts of self.tasks[name], rendered
            x, y = encode_examples(prompts, generate(model, prompts, max_new=x.shape[1]), x.shape[1])
            ref = self._logits(reference, x)
        elif answers == "data":
            cached = reference is self.reference  # the suite's own reference: its logits are kept
            ref = self._reference_logits.get((name, split)) if cached else None
            if ref is None:
                ref = self._logits(reference, x)
                if cached:
                    self._reference_logits[(name, split)] = ref
        else:
            raise ValueError(f"answers must be 'data', 'own' or 'sampled', got {answers!r}")
        logits = self._logits(model, x)
        return float(answer_kl(ref, logits, y[:, : logits.shape[1]]).mean())

    def measure(self, model, trained: str | None = None, split: str = "test") -> dict:
        """The suite's row for ``model`` (callable on ids); ``trained``: the skill fine-tuned on (its "B" and "B_val");
        split: "val" measures every skill on its validation prompts instead (for choices)."""
        out = {f"skill:{s}": self.skill_metrics(model, s, split)["exact"] for s in self.skills}
        caps = [s for s in CAPABILITIES if s in self.skills]
        if caps:
            out["capabilities"] = float(np.mean([out[f"skill:{s}"] for s in caps]))
            for kind in dict.fromkeys(KINDS[s] for s in caps):
                out[f"kind:{kind}"] = float(np.mean([out[f"skill:{s}"] for s in caps if KINDS[s] == kind]))
        if trained is not None:
            out["B"] = out[f"skill:{trained}"]
            out["B_val"] = self.skill_metrics(model, trained, "val")["exact"]
            if self.reference is not None:
                out["kl"] = self.kl(model, self.reference, trained, split)
                if self.kl_samples:
                    out["kl_sampled"] = self.kl(model, self.reference, trained, split, answers="sampled")
        g = lm.bits_per_byte(model, self.general)
        out["bpb"], out["next_byte"] = g["bits_per_byte"], g["next_byte_accuracy"]
        return out

    def evaluator(self):
        """callable(ctx) -> metrics, for ``utils.train.finetune(evaluator=...)``: the skill trained is task B's."""
        def evaluate(ctx) -> dict:
            name = ctx.task_b.name.split(":")[-1]  # skill:NAME, or a task built from it (pairs:NAME, round...)
            return self.measure(ctx.features, name if name in self.skills else None)

        return evaluate


def _reference_samples(reference, prompts, seq_len: int, longest: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of ``k`` answers per prompt sampled from ``reference`` (temperature 1, seed 0), each cut 8 tokens after
    ``longest`` (the longest right answer and its EOS): the prefixes of the sampled KL."""
    tokens = sample_ids(reference, prompts, k, 1.0, 0, max_new=min(longest + 8, seq_len))
    return completion_examples(np.repeat(prompts, k), tokens, seq_len)


class _LazySuite:
    """The default bench of a skill task: a ``CapabilitySuite()`` of every skill, built when a run first asks."""

    def evaluator(self):
        return _default_suite().evaluator()


@functools.lru_cache(maxsize=1)
def _default_suite() -> CapabilitySuite:
    return CapabilitySuite()


_DEFAULT_SUITE = _LazySuite()


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
    As task A it also gives distillation on general text its text."""
    g = general_task(seq_len)
    if not skills:
        return g
    keep = np.random.default_rng(0).choice(len(g.x_train), general_windows, replace=False)
    parts = [replace(g, x_train=g.x_train[keep], y_train=g.y_train[keep])] + [skill_task(s, seq_len=seq_len) for s in skills]
    return replace(mixed(*parts), name="+".join(["general text", *skills]))
