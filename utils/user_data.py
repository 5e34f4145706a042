"""Your own data as a task the runner trains on, for every bundled model kind, checked before any training
(``python -m utils.finetune_cli --data FILE``).

    language model    JSONL: one {"prompt": ..., "answer": ...} per line, or {"messages": [{"role": ..., "content":
                      ...}, ...]} (roles system, user, assistant; the last message is the answer), rendered with the
                      model's chat template; supervised fine-tuning on the answer's tokens and its end marker
    sentence encoder  CSV with a header text,label: classification with a new head
    image model       a folder of class folders (``tf_keras.utils.image_dataset_from_directory``), resized to the
                      model's input

Splits: the validation split is carved from the training file (``val_fraction`` of it, stratified by label where
there are labels) unless a validation file is given; a test split only from a test file (without one nothing is
reported as test). Each problem raises ``DataError``, one line that names the file, the line and the fix.

Contamination: a training example whose instruction (or text) equals a test one after normalising case and spaces,
or that shares a run of 8 words with one, is counted (``contamination``), against the capability suite's test
prompts (the chat model) and your test file. ``strict`` refuses them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import catalog, image_data, lm_data, models, tasks
from . import lm_model as lm

KINDS = {"language_model": "lm", "text_embedding": "text", "image_feature_vector": "image"}  # model.json kind -> ours
FORMS = {"lm": "a JSONL file", "text": "a CSV file (text,label)", "image": "a folder of class folders"}
DEFAULT_MODELS = {"lm": "byte-lm-chat", "text": "minilm-l6", "image": "digits-convnet"}
ROLES = ("system", "user", "assistant")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
NGRAM = 8  # words: a shared run this long counts as contamination (GPT-3's decontamination used 13 tokens)
VAL_FRACTION = 0.1
SPLITS = ("train", "val", "test")
PROTOCOLS = {"lm": {"epochs": 3, "lr": 1e-3},  # a language model's defaults (notebook 05 trains 2 epochs at 1e-3)
             "text": {"epochs": 4, "lr": 3e-4}}  # the sentence encoder's (notebook 04's); images: utils.common.PROTOCOL


QUICK_SUITE = {"examples": 32, "general_bytes": 8 * 1024}  # --quick-suite: measured in 1.5 s instead of 7.5 s here


class DataError(ValueError):
    """A data file cannot be trained on: the message names the file (and line) and the fix."""


@dataclass
class UserData:
    """What ``load`` returns: the task pair the runner trains on, and what was done to get it.

    kind: "lm" | "text" | "image"; task_a: what replay and the old head draw from (None when the model has no old
    task); task: your data (task B; without a test file its test split is the validation split, ``has_test`` False);
    labels: the class names (classification); counts: examples per split; contamination: {against: {"exact": n,
    "8-gram": n}}; notes: what was changed (truncated, resized), one line each."""

    kind: str
    task_a: tasks.Task | None
    task: tasks.Task
    has_test: bool
    labels: list | None = None
    counts: dict = field(default_factory=dict)
    contamination: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    files: dict = field(default_factory=dict)


def form_of(path) -> str:
    """"lm" for a .jsonl file, "text" for a .csv file, "image" for a folder; DataError otherwise."""
    path = Path(path)
    if path.is_dir():
        return "image"
    if not path.exists():
        raise DataError(f"{path}: no such file or folder: give {', '.join(FORMS.values())}")
    form = {".jsonl": "lm", ".csv": "text"}.get(path.suffix.lower())
    if form is None:
        raise DataError(f"{path}: cannot tell what data this is from its name: use .jsonl (prompt and answer, for a "
                        f"language model), .csv (text,label, for the sentence encoder) or a folder of class folders")
    return form


def _meta(model) -> dict:
    """The model's model.json ({} for a tfhub.dev handle, which has none)."""
    location = models.resolve(model)
    return {} if models.is_hub_handle(location) else catalog.read_meta(location)


def model_kind(model, form: str) -> str:
    """The kind of ``model`` (its model.json), which must be the data's; a model without one (a tfhub.dev handle)
    takes the data's kind."""
    meta = _meta(model)
    kind = KINDS.get(meta.get("kind"), form)
    if kind != form:
        raise DataError(f"{model!r} is a {meta['kind'].replace('_', ' ')} model, which trains on {FORMS[kind]}, but the "
                        f"data is {FORMS[form]}: choose --model {DEFAULT_MODELS[form]} (or another {form} model)")
    return kind


def _open_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 file; DataError for a missing, empty or non-UTF-8 one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder: give a file") from None
    lines = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{n}: byte 0x{line[e.start]:02x} at column {e.start + 1} is not UTF-8: save the "
                            f"file as UTF-8") from None
        if text.strip():
            lines.append((n, text.lstrip("\ufeff") if n == 1 else text))
    if not lines:
        raise DataError(f"{path} is empty: write {'one JSON object per line' if path.suffix == '.jsonl' else 'a header and rows'}")
    return lines


# --- language models: JSONL ---------------------------------------------------------------------------------------

@dataclass
class Example:
    """One prompt and answer of a JSONL file: ``instruction`` as written (the user's turn), ``prompt`` rendered in the
    chat template, and where it came from."""

    instruction: str
    prompt: str
    answer: str
    line: int


def _text(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        state = "is missing" if key not in obj else "is empty" if isinstance(value, str) else f"is {type(value).__name__}, not text"
        raise DataError(f"{where}: {key!r} {state}: each line needs a non-empty \"prompt\" and \"answer\" (or "
                        f"\"messages\": [{{\"role\": \"user\", \"content\": ...}}, {{\"role\": \"assistant\", ...}}])")
    return value


def _from_messages(messages, template: str, where: str) -> tuple[str, str, str]:
    """(instruction, rendered prompt, answer) of a chat: the earlier turns rendered in ``template``, the last
    (assistant) message the answer; a system message is a line before the first turn."""
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(f"{where}: \"messages\" must be a list of at least a user and an assistant message")
    prompt, instruction = "", ""
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise DataError(f"{where}: message {i} must be an object with \"role\" and \"content\"")
        if m["role"] not in ROLES:
            raise DataError(f"{where}: unknown role {m['role']!r} in message {i}: roles are {', '.join(ROLES)}")
        content = _text(m, "content", f"{where}, message {i}")
        last = i == len(messages) - 1
        if last and m["role"] != "assistant":
            raise DataError(f"{where}: the last message is the answer to learn, so its role must be \"assistant\", "
                            f"not {m['role']!r}")
        if m["role"] == "user":
            prompt, instruction = prompt + template.format(content), content
        elif m["role"] == "system":
            prompt += content + "\n"
        elif not last:
            prompt += content + "\n"
    if not instruction:
        raise DataError(f"{where}: no \"user\" message: the answer must follow a user's turn")
    return instruction, prompt, messages[-1]["content"]


def read_jsonl(path, template: str = "{}") -> list[Example]:
    """The examples of a JSONL file, prompts rendered in ``template`` ("{}" where the instruction goes)."""
    path, out = Path(path), []
    for n, line in _open_lines(path):
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno}): write one JSON object per line, "
                            f"e.g. {{\"prompt\": \"...\", \"answer\": \"...\"}}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: a JSON {type(obj).__name__}, not an object: write {{\"prompt\": ..., \"answer\": ...}}")
        if "messages" in obj:
            instruction, prompt, answer = _from_messages(obj["messages"], template, where)
        else:
            instruction, answer = _text(obj, "prompt", where), _text(obj, "answer", where)
            prompt = template.format(instruction)
        out.append(Example(instruction, prompt, answer, n))
    return out


def _fit(examples: list[Example], ctx: int, truncate: bool, path) -> tuple[list[Example], list[bool], dict]:
    """Examples that fit the context (BOS + prompt + answer <= ctx tokens), cut to fit with ``truncate`` (the answer's
    end; a cut answer is trained without its end marker), and (kept, cut flags, counts)."""
    over = [e for e in examples if 1 + len(e.prompt.encode()) + len(e.answer.encode()) > ctx]
    if over and not truncate:
        e = over[0]
        need = 1 + len(e.prompt.encode()) + len(e.answer.encode())
        raise DataError(f"{path}:{e.line}: prompt + answer take {need} tokens (bytes), more than the model's context of "
                        f"{ctx} (too long: {len(over)} of {len(examples)} examples): shorten them, or pass --truncate to cut the "
                        f"answers' ends")
    kept, cut, dropped, bytes_cut = [], [], 0, 0
    for e in examples:
        room = ctx - 1 - len(e.prompt.encode())
        answer = e.answer.encode()
        if len(answer) <= room:
            kept.append(e)
            cut.append(False)
        elif room < 1:
            dropped += 1
        else:
            short = answer[:room].decode("utf-8", "ignore")
            bytes_cut += len(answer) - len(short.encode())
            kept.append(replace(e, answer=short))
            cut.append(True)
    return kept, cut, {"cut": sum(cut), "dropped": dropped, "bytes_cut": bytes_cut}


def encode(examples: list[Example], cut: list[bool], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) token ids of the examples (``lm_data.encode_examples``); a cut answer's end marker is not scored."""
    x, y = lm_data.encode_examples([e.prompt for e in examples], [e.answer for e in examples], seq_len)
    for i in np.flatnonzero(cut):
        y[i, np.flatnonzero(y[i] == lm.EOS)[-1]] = -1
    return x, y


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _ngrams(text: str, n: int = NGRAM) -> set:
    w = _words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def contamination(train: list[str], reference: list[str], n: int = NGRAM) -> tuple[dict, list[int]]:
    """({"exact": examples equal to a reference text after normalising case and spaces, "8-gram": others sharing a
    run of ``n`` words with one}, the indices of every contaminated training text)."""
    exact_ref = {" ".join(_words(t)) for t in reference}
    grams = set().union(*(_ngrams(t, n) for t in reference)) if reference else set()
    exact, ngram, hits = 0, 0, []
    for i, t in enumerate(train):
        if " ".join(_words(t)) in exact_ref:
            exact += 1
        elif _ngrams(t, n) & grams:
            ngram += 1
        else:
            continue
        hits.append(i)
    return {"exact": exact, f"{n}-gram": ngram}, hits


def _check_contamination(found: dict, lines: dict, strict: bool, path) -> None:
    """Refuse contaminated training examples under ``strict``; found: {against: (counts, indices)}."""
    if not strict:
        return
    for against, (counts, hits) in found.items():
        if hits:
            raise DataError(f"{path}:{lines[hits[0]]}: the training example overlaps {against} ({counts['exact']} "
                            f"exact, {counts[f'{NGRAM}-gram']} by a shared run of {NGRAM} words): remove them, or drop "
                            f"--strict to train anyway (they are counted in results.json)")


def _instruction(rendered: str) -> str:
    head, tail = lm_data.TEMPLATE.split("{}")
    return rendered[len(head) : len(rendered) - len(tail)]


def suite_test_texts() -> list[str]:
    """The capability suite's test items as instruction + answer: what a chat model's training data must not hold."""
    out = []
    for name in lm_data.CAPABILITIES:
        s = lm_data.skill(name)
        out += [f"{_instruction(p)} {a}" for p, a in zip(s.prompts["test"], s.answers["test"])]
    return out


def _carve(n: int, labels, fraction: float, seed: int, path) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: ``fraction`` held out, of each label when there are labels."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-fraction must be in (0, 1), got {fraction}")
    if labels is None:
        val = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, int(round(fraction * n)))])
        train = np.setdiff1d(np.arange(n), val)
    else:
        train, val = tasks.stratified_split(np.asarray(labels), fraction, seed)
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"{path} has {n} examples: too few to hold {fraction:g} of them out for validation: add "
                        f"examples, or give --val FILE")
    return train, val


def lm_data_task(path, model, val=None, test=None, val_fraction: float = VAL_FRACTION, seed: int = 0,
                 truncate: bool = False, strict: bool = False, quick: bool = False) -> UserData:
    """Your JSONL as a language-model task for ``model`` (SFT on the answers), measured by a ``CapabilitySuite`` of the
    chat model's capabilities (a chat model) or of bits per byte alone, and the KL from the model as loaded (before
    fine-tuning) on your prompts. quick: the suite on its first ``QUICK_SUITE`` test prompts per capability and
    held-out bytes (about 5x faster to measure, noisier)."""
    meta = _meta(model)
    template, ctx = meta.get("chat_template", "{}"), int(meta.get("ctx", 128))
    chat = "chat_template" in meta
    parts = {"train": read_jsonl(path, template)}
    for split, f in (("val", val), ("test", test)):
        if f is not None:
            parts[split] = read_jsonl(f, template)
    if val is None:
        tr, va = _carve(len(parts["train"]), None, val_fraction, seed, path)
        parts["val"], parts["train"] = [parts["train"][i] for i in va], [parts["train"][i] for i in tr]
    files = {"train": str(path), "val": str(val) if val else f"{val_fraction:g} of {path}", "test": str(test) if test else None}
    notes, fitted = [], {}
    for split, examples in parts.items():
        kept, cut, counts = _fit(examples, ctx, truncate, files[split] if split != "val" or val else path)
        if counts["cut"] or counts["dropped"]:
            notes.append(f"{split}: {counts['cut']} answers cut to the context of {ctx} tokens ({counts['bytes_cut']} "
                         f"bytes), {counts['dropped']} examples dropped (the prompt alone fills it)")
        if not kept:
            raise DataError(f"{files[split]}: no example fits the model's context of {ctx} tokens")
        fitted[split] = (kept, cut)
    train = fitted["train"][0]
    texts = [f"{e.instruction} {e.answer}" for e in train]
    found = {}
    if chat:
        found["the capability suite's test prompts"] = contamination(texts, suite_test_texts())
    if "test" in fitted:
        found[f"your test file {test}"] = contamination(texts, [f"{e.instruction} {e.answer}" for e in fitted["test"][0]])
    _check_contamination(found, {i: e.line for i, e in enumerate(train)}, strict, path)
    longest = max(1 + len(e.prompt.encode()) + len(e.answer.encode()) for kept, _ in fitted.values() for e in kept)
    seq_len = max(longest, lm_data.SEQ_LEN)  # replay's rows and yours share a batch: one width (padding is trimmed)
    arrays = {s: encode(*fitted[s], seq_len) for s in SPLITS if s in fitted}
    test_split = arrays.get("test", arrays["val"])
    suite = lm_data.CapabilitySuite(skills=lm_data.CAPABILITIES if chat else (), reference=models.load(model),
                                    **(QUICK_SUITE if quick else {}))
    task = tasks.Task("data", *arrays["train"], *test_split, num_classes=lm.VOCAB, kind="lm", pad=lm.PAD, bucket=True,
                      description=f"your data ({path}): {len(train)} prompts, scored by exact match", x_val=arrays["val"][0],
                      y_val=arrays["val"][1], bench=suite)
    suite.add_task(task)
    task_a = lm_data.replay_task(lm_data.CAPABILITIES, seq_len=seq_len) if chat else lm_data.general_task(seq_len)
    return UserData("lm", task_a, task, "test" in arrays, counts={s: len(a[0]) for s, a in arrays.items()},
                    contamination={k: c for k, (c, _) in found.items()}, notes=notes, files=files)


# --- the sentence encoder: CSV --------------------------------------------------------------------------------------

def read_labelled_csv(path) -> list[tuple[str, str, int]]:
    """(text, label, line) rows of a CSV file whose header has the columns text and label."""
    path = Path(path)
    lines = _open_lines(path)
    rows = list(csv.reader(io.StringIO("\n".join(t for _, t in lines))))
    header = [h.strip().lower() for h in rows[0]]
    if "text" not in header or "label" not in header:
        raise DataError(f"{path}:{lines[0][0]}: the first line must be a header naming the columns text and label, "
                        f"got {','.join(rows[0])[:80]!r}: add the line text,label at the top")
    t, lab = header.index("text"), header.index("label")
    out = []
    for (n, _), row in zip(lines[1:], rows[1:]):
        if len(row) != len(header) or not row[t].strip() or not row[lab].strip():
            raise DataError(f"{path}:{n}: expected {len(header)} columns with a non-empty text and label, got {row!r}: "
                            f"quote a text that holds commas (\"a, b\")")
        out.append((row[t].strip(), row[lab].strip(), n))
    if not out:
        raise DataError(f"{path}: a header but no rows: add one row per example, text,label")
    return out


def _labels_known(rows, labels: list, path) -> None:
    for _, label, n in rows:
        if label not in labels:
            raise DataError(f"{path}:{n}: label {label!r} does not occur in the training file, so the new head cannot "
                            f"predict it (labels: {', '.join(labels)}): fix the label or add training examples of it")


def text_data_task(path, model, val=None, test=None, val_fraction: float = VAL_FRACTION, seed: int = 0,
                   strict: bool = False, **_) -> UserData:  # truncate and quick: a language model's
    """Your CSV as a classification task for the sentence encoder ``model`` (its preprocessor from its model.json),
    measured by a ``TextBench`` (graded similarity, paraphrase ranking, topic probe, and how much of the model's
    similarity geometry, as loaded, is kept)."""
    from . import text_data

    meta = _meta(model)
    if "preprocessor" not in meta:
        raise DataError(f"{model!r} does not name its preprocessor (model.json \"preprocessor\"), so the text cannot "
                        f"be tokenised for it: use --model minilm-l6, or add the key to its model.json")
    rows = {"train": read_labelled_csv(path)}
    labels = sorted({r[1] for r in rows["train"]})
    if len(labels) < 2:
        raise DataError(f"{path}: every row has the label {labels[0]!r}: classification needs at least two labels")
    for split, f in (("val", val), ("test", test)):
        if f is not None:
            rows[split] = read_labelled_csv(f)
            _labels_known(rows[split], labels, f)
    if val is None:
        counts = {lab: [r for r in rows["train"] if r[1] == lab] for lab in labels}
        once = next((c[0] for c in counts.values() if len(c) < 2), None)
        if once is not None:
            raise DataError(f"{path}:{once[2]}: label {once[1]!r} occurs once, so a stratified validation split cannot "
                            f"hold it out and train on it: add examples of it, or give --val FILE")
        tr, va = _carve(len(rows["train"]), [r[1] for r in rows["train"]], val_fraction, seed, path)
        rows["val"], rows["train"] = [rows["train"][i] for i in va], [rows["train"][i] for i in tr]
    found = {}
    if "test" in rows:
        found[f"your test file {test}"] = contamination([r[0] for r in rows["train"]], [r[0] for r in rows["test"]])
    _check_contamination(found, {i: r[2] for i, r in enumerate(rows["train"])}, strict, path)
    pre = models.load(meta["preprocessor"])
    ids = {s: text_data.tokenize(pre, [r[0] for r in rs]) for s, rs in rows.items()}
    longest = max(int(tasks.row_lengths(a, 0).max()) for a in ids.values())
    x = {s: a[:, :longest] for s, a in ids.items()}
    y = {s: np.array([labels.index(r[1]) for r in rs], np.int32) for s, rs in rows.items()}
    bench = text_data.TextBench.build(pre, models.load(model))
    task = tasks.Task("data", x["train"], y["train"], x.get("test", x["val"]), y.get("test", y["val"]), len(labels),
                      f"your data ({path}): {len(labels)} labels", x_val=x["val"], y_val=y["val"], pad=0, bucket=True,
                      bench=bench)
    bench.intents, bench.intent_names = task, labels
    return UserData("text", None, task, "test" in rows, labels, {s: len(y[s]) for s in SPLITS if s in y},
                    {k: c for k, (c, _) in found.items()}, files={"train": str(path), "val": str(val) if val else
                    f"{val_fraction:g} of {path}", "test": str(test) if test else None})


# --- images: a folder of class folders ---------------------------------------------------------------------------

def _check_image_folder(folder: Path) -> list[str]:
    """The class names of an image folder, each file decoded once: DataError for a folder with fewer than two
    classes, an empty class, a file that is not an image or does not decode."""
    import tensorflow as tf

    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder: give a folder with one subfolder of images per class")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{folder} holds {len(classes)} class folder{'s' if len(classes) != 1 else ''}: classification "
                        f"needs at least two, one subfolder of images per class (cats/, dogs/)")
    for c in classes:
        files = [p for p in sorted((folder / c).iterdir()) if not p.name.startswith(".")]
        if not files:
            raise DataError(f"{folder / c} is empty: put the class's images in it, or remove the folder")
        for f in files:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{f}: not an image ({', '.join(IMAGE_SUFFIXES)}): move it out of the class folder")
            try:
                tf.io.decode_image(tf.io.read_file(str(f)), expand_animations=False)
            except tf.errors.OpError:
                raise DataError(f"{f}: cannot be read as an image (damaged or not what its name says): replace or "
                                f"remove it") from None
    return classes


def _image_arrays(folder: Path, shape: tuple, input_range) -> tuple[np.ndarray, np.ndarray, list, set]:
    """(x float32 [N, H, W, C] scaled to ``input_range``, y, class names, the sizes found) of an image folder."""
    import tensorflow as tf
    import tf_keras as keras

    h, w, c = shape
    sizes = set()
    for p in folder.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            sizes.add(tuple(tf.io.decode_image(tf.io.read_file(str(p)), expand_animations=False).shape[:2]))
    with contextlib.redirect_stdout(io.StringIO()):  # not its "Found N files belonging to K classes."
        ds = keras.utils.image_dataset_from_directory(str(folder), image_size=(h, w), batch_size=None, shuffle=False,
                                                      color_mode="grayscale" if c == 1 else "rgb")
    x, y = zip(*[(a.numpy(), b.numpy()) for a, b in ds])
    lo, hi = input_range
    x = np.stack(x).astype(np.float32) / 255.0 * (hi - lo) + lo
    return x, np.asarray(y, np.int32), list(ds.class_names), sizes


def image_data_task(path, model, val=None, test=None, val_fraction: float = VAL_FRACTION, seed: int = 0,
                    **_) -> UserData:
    """Your image folder as a classification task for ``model``, resized to its input; task A is the model's own
    pretraining task where it has one (the bundled digits convnets: measured with its original head)."""
    meta = _meta(model)
    spec = meta.get("input_shape") or list(models.input_signature(models.load(model)).shape)
    h, w, c = (d or s for d, s in zip(spec[1:], (224, 224, 3)))
    folders = {"train": Path(path), **{s: Path(f) for s, f in (("val", val), ("test", test)) if f is not None}}
    names = {s: _check_image_folder(f) for s, f in folders.items()}
    arrays, notes = {}, []
    for split, f in folders.items():
        if names[split] != names["train"]:
            raise DataError(f"{f}: its classes ({', '.join(names[split])}) are not the training folder's "
                            f"({', '.join(names['train'])}): give every split the same class folders")
        x, y, _, sizes = _image_arrays(f, (h, w, c), meta.get("input_range", (0.0, 1.0)))
        if sizes != {(h, w)}:
            found = ", ".join(f"{a}x{b}" for a, b in sorted(sizes))
            notes.append(f"{split}: images of {found} resized to the model's input {h}x{w}"
                         + (" (the bundled convnet was trained on 8x8 digits: larger pictures lose their detail)"
                            if meta.get("task") == "digits" else ""))
        arrays[split] = (x, y)
    if val is None:
        x, y = arrays["train"]
        once = next((names["train"][k] for k in range(len(names["train"])) if (y == k).sum() < 2), None)
        if once is not None:
            raise DataError(f"{folders['train'] / once} holds one image, so a stratified validation split cannot hold "
                            f"it out and train on it: add images, or give --val FOLDER")
        tr, va = _carve(len(y), y, val_fraction, seed, path)
        arrays["val"], arrays["train"] = (x[va], y[va]), (x[tr], y[tr])
    test_split = arrays.get("test", arrays["val"])
    task_a = image_data.digits(meta["classes"]) if meta.get("task") == "digits" else None
    task = tasks.Task("data", *arrays["train"], *test_split, len(names["train"]), f"your images ({path})",
                      *arrays["val"], bench=image_data.IMAGES)
    return UserData("image", task_a, task, "test" in arrays, names["train"], {s: len(arrays[s][1]) for s in SPLITS if s in arrays},
                    notes=notes, files={s: str(f) for s, f in folders.items()})


READERS = {"lm": lm_data_task, "text": text_data_task, "image": image_data_task}


def load(path, model=None, **kw) -> tuple[str, UserData]:
    """(the model to fine-tune, your data as a ``UserData``): the kind read from the model (default: the bundled model
    of the data's kind); kw go to the kind's reader (val, test, val_fraction, seed, truncate, strict)."""
    form = form_of(path)
    model = model or DEFAULT_MODELS[form]
    kind = model_kind(model, form)
    return model, READERS[kind](path, model, **kw)
