"""The text track's data and measurements: intents to fine-tune on, and the general ability to keep.

Data (``data/text/``, written for this workbook, see its DATA_CARD.md):
    intents.csv      customer-support messages, 8 intents, 95 train / 30 test each (the fine-tuning task)
    paraphrases.csv  240 paraphrase pairs over 12 topics unrelated to support (retrieval of the paraphrase)
    distractors.csv  48 hard distractors: same topic and words as a paraphrase pair's sentence, another meaning
    similarity.csv   60 sentence pairs with a similarity score 0-5 written for each (graded similarity)
    topics.csv       480 sentences over 8 topics, 40 train / 20 test each (a linear probe of the embeddings)

``TextBench`` tokenises everything once and ``evaluator()`` returns the function the runner
(``utils.train.finetune(evaluator=...)``) calls before and after fine-tuning:

    B            intent accuracy of the new head (the new task); B_val on the validation split
    retrieval    paraphrase retrieval top-1: for each sentence a, is its own b the nearest of all b's?
    para_mrr     mean reciprocal rank of each a's own b among the b's and the hard distractors of its topic
    sts          Spearman correlation of the cosine similarity of the graded pairs with their 0-5 scores
    topic_probe  accuracy of a ridge probe re-fitted on the topic sentences' embeddings
    spearman     Spearman correlation between all pairwise cosine similarities of the paraphrase
                 sentences now and under the original model (1.0 = the geometry is unchanged)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import metrics, paths, tasks

EVAL_BATCH = 128
VAL_FRACTION = 0.2  # of each intent's training messages: the validation split
VAL_SEED = 0


def read_csv(name: str, folder: Path | None = None) -> list[dict]:
    """Rows of ``data/text/NAME.csv`` as dicts."""
    path = Path(folder or paths.TEXT_DIR) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it ships with the workbook (git checkout data/text)")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def labelled(name: str, label_key: str, folder: Path | None = None, fraction: float = 1.0):
    """(train texts, train labels, test texts, test labels, class names) of a labelled CSV with a split column
    (``fraction``: the first share of every class in each split)."""
    rows = _first_of_each(read_csv(name, folder), label_key, fraction)
    classes = sorted({r[label_key] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    parts = {}
    for split in ("train", "test"):
        chosen = [r for r in rows if r["split"] == split]
        parts[split] = ([r["text"] for r in chosen], np.array([index[r[label_key]] for r in chosen], np.int32))
    return (*parts["train"], *parts["test"], classes)


def _first_of_each(rows: list, key: str, fraction: float) -> list:
    """The first ``fraction`` of the rows of every group ``key`` (order kept): a smaller, still balanced set."""
    if fraction >= 1:
        return rows
    groups: dict = {}
    for r in rows:
        groups.setdefault((r[key], r.get("split")), []).append(r)
    keep = {id(r) for g in groups.values() for r in g[: max(1, int(round(fraction * len(g))))]}
    return [r for r in rows if id(r) in keep]


def paraphrase_pairs(folder: Path | None = None, fraction: float = 1.0):
    """(sentences a, sentences b, topics) of the paraphrase set (``fraction`` of each topic's pairs)."""
    rows = _first_of_each(read_csv("paraphrases", folder), "topic", fraction)
    return [r["sentence_a"] for r in rows], [r["sentence_b"] for r in rows], [r["topic"] for r in rows]


def distractors(folder: Path | None = None):
    """(distractor sentences, their topics): same topic and many of the words of a paraphrase pair, another meaning."""
    rows = read_csv("distractors", folder)
    return [r["distractor"] for r in rows], [r["topic"] for r in rows]


def similarity_pairs(folder: Path | None = None):
    """(sentences a, sentences b, scores float [N]) of the graded-similarity set (0 unrelated ... 5 same meaning)."""
    rows = read_csv("similarity", folder)
    return [r["sentence_a"] for r in rows], [r["sentence_b"] for r in rows], np.array([float(r["score"]) for r in rows])


def tokenize(preprocessor, texts) -> np.ndarray:
    """int32 ids [N, L] from a preprocessor (``utils.models.load("minilm-l6-preprocess")``), in batches."""
    import tensorflow as tf

    out = [preprocessor(tf.constant(texts[i : i + 512])).numpy() for i in range(0, len(texts), 512)]
    return np.concatenate(out).astype(np.int32)


def embed(encoder, ids, batch: int = EVAL_BATCH) -> np.ndarray:
    """Embeddings of ids [N, L] in the original order, computed on batches of similar length, each cut to its
    longest sentence: padding costs time (attention and every dense layer run on it) and changes nothing."""
    ids = np.asarray(ids)
    lengths = tasks.row_lengths(ids, 0)
    order = np.argsort(lengths, kind="stable")
    out = np.empty((len(ids), 0), np.float32)
    parts = []
    for i in range(0, len(ids), batch):
        rows = order[i : i + batch]
        parts.append(np.asarray(encoder(ids[rows, : int(lengths[rows].max())])))
    out = np.concatenate(parts) if parts else out
    result = np.empty_like(out)
    result[order] = out
    return result


def retrieval_top1(a, b) -> float:
    """Share of rows of ``a`` whose most cosine-similar row of ``b`` is their own pair (same index)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(np.argmax(a @ b.T, axis=1) == np.arange(len(a))))


def mean_reciprocal_rank(a, b, topics_ab, distractors, topics_d) -> float:
    """For each row of ``a``: 1 / the rank of its own row of ``b`` by cosine similarity among the rows of ``b`` and
    of ``distractors`` with the same topic; the mean over ``a``. 1.0: every paraphrase ranked first."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    a, b, d = unit(np.asarray(a)), unit(np.asarray(b)), unit(np.asarray(distractors))
    topics_ab, topics_d = np.asarray(topics_ab), np.asarray(topics_d)
    others = np.arange(len(a))
    ranks = np.empty(len(a))
    for i, topic in enumerate(topics_ab):
        rivals = np.concatenate([b[(topics_ab == topic) & (others != i)] @ a[i], d[topics_d == topic] @ a[i]])
        ranks[i] = 1 + np.sum(rivals > b[i] @ a[i])
    return float(np.mean(1.0 / ranks))


def pairwise_similarities(x) -> np.ndarray:
    """Cosine similarities of every unordered pair of rows (the upper triangle, flattened)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    i, j = np.triu_indices(len(x), k=1)
    return np.einsum("nd,nd->n", x[i], x[j])


def intent_task(preprocessor, folder=None, fraction: float = 1.0, test_fraction: float = 1.0,
                val_fraction: float = VAL_FRACTION) -> tuple[tasks.Task, list]:
    """(the intents as a Task of token ids, the intent names); see ``TextBench.build`` for the fractions."""
    xtr, ytr, xte, yte, names = labelled("intents", "label", folder)
    if test_fraction < 1:
        _, _, xte, yte, _ = labelled("intents", "label", folder, test_fraction)
    task = tasks.Task("intents", tokenize(preprocessor, xtr), ytr, tokenize(preprocessor, xte), yte, len(names),
                      "customer-support intents (data/text/intents.csv)")
    if fraction < 1:
        task = task.subset(fraction)
    longest = int(max((task.x_train != 0).sum(1).max(), (task.x_test != 0).sum(1).max()))
    val = tasks.stratified_sample(task.y_train, val_fraction, seed=VAL_SEED)
    fit = np.setdiff1d(np.arange(len(task.y_train)), val)
    x = task.x_train[:, :longest]  # no column of padding only: faster, same results
    task = tasks.Task(task.name, x[fit], task.y_train[fit], task.x_test[:, :longest], task.y_test, task.num_classes,
                      task.description, x_val=x[val], y_val=task.y_train[val], pad=0, bucket=True, base_model="minilm-l6")
    return task, names


@dataclass
class TextBench:
    """The tokenised intent task and general-ability sets, plus the original model's similarities."""

    intents: tasks.Task
    intent_names: list
    para_a: np.ndarray
    para_b: np.ndarray
    topic_train: np.ndarray
    topic_train_y: np.ndarray
    topic_test: np.ndarray
    topic_test_y: np.ndarray
    para_topics: np.ndarray = field(default=None, repr=False)
    distractors: np.ndarray = field(default=None, repr=False)
    distractor_topics: np.ndarray = field(default=None, repr=False)
    sts_a: np.ndarray = field(default=None, repr=False)
    sts_b: np.ndarray = field(default=None, repr=False)
    sts_scores: np.ndarray = field(default=None, repr=False)
    reference: np.ndarray = field(default=None, repr=False)

    @classmethod
    def build(cls, preprocessor, encoder=None, folder: Path | None = None, intent_fraction: float = 1.0,
              general_fraction: float = 1.0, intent_test_fraction: float = 1.0,
              val_fraction: float = VAL_FRACTION) -> TextBench:
        """Tokenise the CSVs; with ``encoder`` (the original model) also record the reference similarities.

        intent_fraction: share of the intent training examples kept (stratified); general_fraction: share of
        the paraphrase pairs and topic sentences kept (the first of each group): smaller is faster to measure;
        intent_test_fraction: share of the intent test messages kept (the first of each intent);
        val_fraction: share of the kept training messages of each intent held out as the validation split
        (``x_val``, ``y_val``: for early stopping and every choice; the test split is only reported).
        The intents task is padded with 0 and bucketed (``tasks.Task.pad``, ``bucket``): the runner batches messages
        of similar length and trims each batch to its longest.
        """
        task, names = intent_task(preprocessor, folder, intent_fraction, intent_test_fraction, val_fraction)
        a, b, topics = paraphrase_pairs(folder, general_fraction)
        ttr, ttr_y, tte, tte_y, _ = labelled("topics", "topic", folder, general_fraction)
        d, d_topics = distractors(folder)
        sa, sb, scores = similarity_pairs(folder)
        bench = cls(task, names, tokenize(preprocessor, a), tokenize(preprocessor, b), tokenize(preprocessor, ttr),
                    ttr_y, tokenize(preprocessor, tte), tte_y, np.array(topics), tokenize(preprocessor, d),
                    np.array(d_topics), tokenize(preprocessor, sa), tokenize(preprocessor, sb), scores)
        bench.intents = replace(task, bench=bench)  # a run on the intents is measured by this bench
        if encoder is not None:
            bench.reference = pairwise_similarities(bench.general_embeddings(encoder)[0])
        return bench

    def general_embeddings(self, encoder):
        """(paraphrase sentences a+b, topic train, topic test, distractors, graded pairs a+b) embeddings under
        ``encoder``, computed in one pass (batches of similar length)."""
        parts = [np.concatenate([self.para_a, self.para_b]), self.topic_train, self.topic_test, self.distractors,
                 np.concatenate([self.sts_a, self.sts_b])]
        width = max(p.shape[1] for p in parts)
        flat = embed(encoder, np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in parts]))
        return tuple(np.split(flat, np.cumsum([len(p) for p in parts])[:-1]))

    def general_ability(self, encoder) -> dict:
        """retrieval, para_mrr, sts, topic_probe and spearman (the latter needs ``reference``) of an encoder
        (callable on ids)."""
        para, ttr, tte, dis, sts = self.general_embeddings(encoder)
        n, m = len(self.para_a), len(self.sts_a)
        unit = sts / np.linalg.norm(sts, axis=1, keepdims=True)
        out = {"retrieval": retrieval_top1(para[:n], para[n:]),
               "para_mrr": mean_reciprocal_rank(para[:n], para[n:], self.para_topics, dis, self.distractor_topics),
               "sts": metrics.spearman(np.einsum("nd,nd->n", unit[:m], unit[m:]), self.sts_scores),
               "topic_probe": metrics.linear_probe_accuracy(ttr, self.topic_train_y, tte, self.topic_test_y)}
        if self.reference is not None:
            out["spearman"] = metrics.spearman(pairwise_similarities(para), self.reference)
        return out

    def evaluator(self):
        """evaluate(ctx) -> {B, B_val, retrieval, para_mrr, sts, topic_probe, spearman} for ``utils.train.finetune(evaluator=...)``.

        The encoder's part (its embeddings of the intents, its general ability) is measured once per set of encoder
        weights: a measurement of weights seen among the last two (a frozen run's before and after, WiSE-FT's
        whole-model and backbone-only dials at one α) reuses it, and only the head is applied again.
        """
        memo: list = []  # [(encoder weights, their measurements)], the most recent last, two at most

        def encoder_part(ctx) -> dict:
            weights = [v.numpy() for v in ctx.backbone_variables]
            for i, (seen, measured) in enumerate(memo):
                if len(seen) == len(weights) and all(np.array_equal(a, b) for a, b in zip(seen, weights)):
                    memo.append(memo.pop(i))
                    return measured
            measured = {"test": embed(ctx.features, self.intents.x_test), "val": embed(ctx.features, self.intents.x_val),
                        "general": self.general_ability(ctx.features)}
            memo[:] = [*memo[-1:], (weights, measured)]
            return measured

        def evaluate(ctx) -> dict:
            encoder = encoder_part(ctx)
            logits, val = (ctx.head(encoder[s]).numpy() for s in ("test", "val"))
            return {"B": metrics.accuracy(logits, self.intents.y_test), "B_val": metrics.accuracy(val, self.intents.y_val),
                    **encoder["general"]}

        return evaluate
