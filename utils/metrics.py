"""How forgetting is measured, the same way in every notebook, script and benchmark.

    accuracy(logits, labels)       fraction correct, in [0, 1]
    forgetting(before, after)      before - after (accuracy points lost; negative = improved)
    retention(before, after)       after / before (1.0 = nothing lost)
    linear_probe_accuracy(...)     accuracy of a linear classifier re-fitted on frozen features:
                                   "is the information still in the features?"
    spearman(x, y)                 rank correlation of two equally long vectors (1.0 = same order)
    mean_std(values)               {"mean", "std", "n", "values"} over seeds (sample std, ddof=1)
    pca(x, k)                      projection on the first k principal components (numpy SVD)
"""

from __future__ import annotations

import numpy as np


def accuracy(logits, labels) -> float:
    """Fraction of rows of ``logits`` [N, C] whose argmax equals ``labels`` [N]."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be [N, C] and labels [N], got {logits.shape} and {labels.shape}")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def exact_rows(logits, targets) -> np.ndarray:
    """bool [N]: whether every scored position of a sequence (``targets`` >= 0; -1: not scored) has its argmax right,
    a language model's answers under teacher forcing; logits [N, T, V], targets [N, T] (cut to the logits' length)."""
    logits, targets = np.asarray(logits), np.asarray(targets)[:, : np.shape(logits)[1]]
    if logits.ndim != 3 or logits.shape[:2] != targets.shape:
        raise ValueError(f"logits must be [N, T, V] and targets [N, T], got {logits.shape} and {targets.shape}")
    return ((np.argmax(logits, -1) == targets) | (targets < 0)).all(-1)


def exact_match(logits, targets) -> float:
    """The fraction of sequences ``exact_rows`` finds right."""
    return float(np.mean(exact_rows(logits, targets)))


def forgetting(before: float, after: float) -> float:
    """Accuracy lost on the old task: ``before - after`` (in accuracy units, 0.1 = 10 points)."""
    return float(before) - float(after)


def retention(before: float, after: float) -> float:
    """Share of the old accuracy kept: ``after / before`` (1.0 = nothing lost)."""
    if before <= 0:
        raise ValueError(f"retention needs a positive 'before' accuracy, got {before}")
    return float(after) / float(before)


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, l2: float = 1e-2) -> float:
    """Test accuracy of a ridge-regression linear probe fitted on ``train_features`` [N, D].

    Closed form (standardised features, one-hot targets, ridge penalty ``l2`` times N): exact,
    deterministic and a few milliseconds, so it can be re-fitted after every epoch.
    """
    xtr = np.asarray(train_features, dtype=np.float64)
    xte = np.asarray(test_features, dtype=np.float64)
    ytr = np.asarray(train_labels)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    xtr = np.hstack([xtr, np.ones((len(xtr), 1))])
    xte = np.hstack([xte, np.ones((len(xte), 1))])
    classes = int(max(ytr.max(), np.max(test_labels)) + 1)
    targets = np.eye(classes)[ytr]
    reg = l2 * len(xtr) * np.eye(xtr.shape[1])
    reg[-1, -1] = 0.0  # do not shrink the bias
    w = np.linalg.solve(xtr.T @ xtr + reg, xtr.T @ targets)
    return accuracy(xte @ w, test_labels)


def logistic_probe(train_features, train_labels, val_features, val_labels, test_features, test_labels,
                   strengths=(0.01, 0.1, 1.0, 10.0, 100.0)) -> dict:
    """A multinomial logistic-regression probe on frozen features: fitted on the training features for each inverse
    penalty C in ``strengths``, the C with the best validation accuracy kept: the strong frozen baseline.
    Returns {"test": its test accuracy, "val": its validation accuracy, "C": the C chosen}."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.asarray(train_features, np.float64), np.asarray(train_labels)
    fits = {c: LogisticRegression(C=c, max_iter=2000).fit(x, y) for c in strengths}
    score = lambda m, f, t: float(np.mean(m.predict(np.asarray(f, np.float64)) == np.asarray(t)))  # noqa: E731
    val = {c: score(m, val_features, val_labels) for c, m in fits.items()}
    best = max(strengths, key=lambda c: (val[c], -c))  # ties: the stronger penalty
    return {"test": score(fits[best], test_features, test_labels), "val": val[best], "C": best}


def layer_drift(variables, initial) -> dict:
    """{kernel name: ||theta - theta0|| / ||theta0||} for each variable of rank >= 2 (kernels, not biases).

    variables: tf variables (or objects with ``name`` and ``numpy()``); initial: their pretrained values, aligned."""
    out = {}
    for v, w0 in zip(variables, initial):
        w0 = np.asarray(w0)
        if w0.ndim >= 2:
            name = v.name.split(":")[0]
            out[name] = float(np.linalg.norm(np.asarray(v.numpy()) - w0) / (np.linalg.norm(w0) + 1e-12))
    return out


def spearman(x, y) -> float:
    """Spearman rank correlation of ``x`` and ``y`` [N]; tied values share their average rank (graded scores)."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"spearman needs two vectors of the same length >= 2, got {x.shape} and {y.shape}")
    rx, ry = rankdata(x), rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def mean_std(values) -> dict:
    """``{"mean", "std", "n", "values"}`` of per-seed numbers: the sample standard deviation (ddof=1, the
    honest one for 3 seeds; 0 for one value) and the values themselves, so a check can use all of them."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "n": int(v.size), "values": [float(x) for x in v]}


def pca(x, k: int = 2, fit_on=None):
    """Project ``x`` [N, D] on the first ``k`` principal components of ``fit_on`` (default ``x``): [N, k]."""
    x = np.asarray(x, dtype=np.float64)
    ref = x if fit_on is None else np.asarray(fit_on, dtype=np.float64)
    mu = ref.mean(0)
    _, _, vt = np.linalg.svd(ref - mu, full_matrices=False)
    return (x - mu) @ vt[:k].T
