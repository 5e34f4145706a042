"""Figures of the workbook: labelled, readable in a notebook, saved as PNG under ``build/figures/``."""

from __future__ import annotations

import numpy as np

from . import paths


def _plt():
    import matplotlib

    if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "module://ipykernel")):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, name: str):
    """Write ``fig`` to build/figures/<name>.png (150 dpi) and return the path."""
    out = paths.BUILD_DIR / "figures"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def digit_grid(images, labels, predictions=None, ncols: int = 10, title: str = ""):
    """Images float [N, H, W, 1] in a grid; each titled with its label (and prediction, red when wrong)."""
    plt = _plt()
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.3 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i])[..., 0], cmap="gray_r", vmin=0, vmax=1)
        if predictions is None:
            ax.set_title(f"{labels[i]}", fontsize=9)
        else:
            wrong = predictions[i] != labels[i]
            ax.set_title(f"true {labels[i]} / pred {predictions[i]}", fontsize=7, color="crimson" if wrong else "black")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def forgetting_curves(histories: dict, title: str = "Fine-tuning on task B, measured every epoch"):
    """Per-epoch curves for each run: task-A accuracy (original head), task-A linear probe, task-B accuracy.

    histories: {label: result.history (list of per-epoch dicts)}.
    """
    plt = _plt()
    panels = [("A_head", "task A, original head (what users see)"), ("A_probe", "task A, re-fitted linear probe"),
              ("B", "task B (new head)")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    for ax, (key, name) in zip(axes, panels):
        for label, hist in histories.items():
            rows = [r for r in hist if r.get(key) is not None]
            ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker="o", ms=3, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch (0 = pretrained)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].set_ylim(0, 1.02)
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def pareto_front(points: dict) -> list:
    """Names of the non-dominated points of {name: (retention, task_b)} (higher is better on both), by retention."""
    names = []
    for n, (x, y) in points.items():
        if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for m, (x2, y2) in points.items() if m != n):
            names.append(n)
    return sorted(names, key=lambda n: points[n][0])


def pareto(summary: dict, before_a: float, title: str = "Task B gained vs task A kept",
           a_key: str = "A_head", b_key: str = "B", xlabel: str = "task-A retention (original head, after / before)",
           ylabel: str = "task-B accuracy"):
    """Scatter of every method: x = task-A retention, y = task-B accuracy, mean +- std over seeds,
    with the Pareto frontier (no other method is better on both) drawn as a line.

    summary: {method: {a_key: {"mean", "std"}, b_key: {"mean", "std"}}} as written by ``utils.compare``.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 6))
    points = {}
    for name, row in summary.items():
        x, xs = row[a_key]["mean"] / before_a, row[a_key]["std"] / before_a
        y, ys = row[b_key]["mean"], row[b_key]["std"]
        points[name] = (x, y)
        ax.errorbar(x, y, xerr=xs, yerr=ys, fmt="o", ms=5, capsize=2, alpha=0.85)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    front = pareto_front(points)
    ax.plot([points[n][0] for n in front], [points[n][1] for n in front], "k--", lw=1, alpha=0.6, label="Pareto frontier")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
