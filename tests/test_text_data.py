"""data/text/: sizes, balance, fixed splits and no duplicates (DATA_CARD.md promises each of these)."""

import collections
import re

from utils import text_data


def words(text):
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def test_intents_are_balanced_with_a_fixed_split():
    rows = text_data.read_csv("intents")
    counts = collections.Counter((r["label"], r["split"]) for r in rows)
    labels = {r["label"] for r in rows}
    assert len(rows) >= 800 and len(labels) >= 6
    assert {counts[(c, "train")] for c in labels} == {95} and {counts[(c, "test")] for c in labels} == {30}
    xtr, ytr, xte, yte, names = text_data.labelled("intents", "label")
    assert (len(xtr), len(xte), len(names)) == (760, 240, 8) and set(ytr) == set(range(8))


def test_no_duplicates_within_or_across_splits_even_after_normalising():
    rows = text_data.read_csv("intents")
    keys = [" ".join(words(r["text"])) for r in rows]
    assert len(set(keys)) == len(keys)
    train = [set(words(r["text"])) for r in rows if r["split"] == "train"]
    for r in (r for r in rows if r["split"] == "test"):
        t = set(words(r["text"]))
        assert all(len(t & s) / len(t | s) <= 0.8 for s in train), r["text"]


def test_general_ability_sets_are_large_enough_and_independent():
    a, b, topics = text_data.paraphrase_pairs()
    assert len(a) >= 200 and len(set(topics)) >= 10
    assert all(x != y for x, y in zip(a, b)) and len(set(a + b)) == len(a + b)
    rows = text_data.read_csv("topics")
    counts = collections.Counter((r["topic"], r["split"]) for r in rows)
    assert set(counts.values()) <= {40, 20} and len({r["topic"] for r in rows}) == 8
    intents = {r["text"] for r in text_data.read_csv("intents")}
    topic_texts = {r["text"] for r in rows}
    assert not intents & set(a + b) and not topic_texts & set(a + b) and not intents & topic_texts


def test_smaller_sets_stay_balanced():
    a, _, topics = text_data.paraphrase_pairs(fraction=0.5)
    assert len(a) == 120 and set(collections.Counter(topics).values()) == {10}
    xtr, ytr, xte, yte, _ = text_data.labelled("topics", "topic", fraction=0.5)
    assert set(collections.Counter(ytr).values()) == {20} and set(collections.Counter(yte).values()) == {10}


def _all_sentences_but(skip: str) -> set:
    """Every sentence of data/text/ outside the file ``skip``."""
    out = set()
    if skip != "paraphrases":
        a, b, _ = text_data.paraphrase_pairs()
        out |= set(a + b)
    for name in ("intents", "topics"):
        out |= {r["text"] for r in text_data.read_csv(name)}
    if skip != "distractors":
        out |= set(text_data.distractors()[0])
    if skip != "similarity":
        a, b, _ = text_data.similarity_pairs()
        out |= set(a + b)
    return out


def test_distractors_share_topic_and_words_with_their_pair_but_are_new_sentences():
    rows = text_data.read_csv("distractors")
    pairs = {r["id"]: r for r in text_data.read_csv("paraphrases")}
    assert len(rows) == 48 and set(collections.Counter(r["topic"] for r in rows).values()) == {4}
    assert all(r["id"] in pairs and pairs[r["id"]]["topic"] == r["topic"] for r in rows)
    shared = [len(set(words(r["distractor"])) & set(words(pairs[r["id"]]["sentence_a"]))) for r in rows]
    assert sum(n >= 2 for n in shared) >= 40  # most reuse words of the sentence they imitate: lexically hard
    others = _all_sentences_but("distractors")
    assert not {r["distractor"] for r in rows} & others
    for r in rows:  # a distractor must not be a paraphrase of another sentence of the data
        t = set(words(r["distractor"]))
        assert all(len(t & set(words(s))) / len(t | set(words(s))) <= 0.6 for s in others), r["distractor"]


def test_graded_pairs_cover_every_score_evenly_and_are_new_sentences():
    a, b, scores = text_data.similarity_pairs()
    assert len(a) == 60 and collections.Counter(scores.tolist()) == {float(s): 10 for s in range(6)}
    others = _all_sentences_but("similarity")
    assert len(set(a + b)) == 120 and not set(a + b) & others
    for x in a + b:
        t = set(words(x))
        assert all(len(t & set(words(s))) / len(t | set(words(s))) <= 0.6 for s in others), x
    for x, y, s in zip(a, b, scores):  # unrelated pairs share no content word; same-meaning pairs differ in wording
        if s == 0:
            assert len(set(words(x)) & set(words(y)) - {"the", "a", "of", "on", "in", "at", "is", "for"}) == 0, x
        if s == 5:
            assert x.lower() != y.lower()
