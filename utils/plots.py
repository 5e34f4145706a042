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


def forgetting_curves(histories: dict, title: str = "Fine-tuning on task B, measured every epoch",
                      keys=("A_head", "A_probe", "B")):
    """Per-epoch curves for each run: task-A accuracy (original head), task-A linear probe, task-B accuracy.

    histories: {label: result.history (list of per-epoch dicts)}; keys: the panels to draw.
    """
    plt = _plt()
    names = {"A_head": "task A, original head (what users see)", "A_probe": "task A, re-fitted linear probe",
             "B": "task B (new head)", "A_head_val": "task A, original head (validation)",
             "B_val": "task B, new head (validation)"}
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise ValueError(f"unknown history keys {unknown}: choose from {', '.join(names)}")
    panels = [(k, names[k]) for k in keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.7 * len(panels), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (key, name) in zip(axes, panels):
        for label, hist in histories.items():
            rows = [r for r in hist if r.get(key) is not None]
            ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker="o", ms=3, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch (0 = pretrained)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy" if all(k.endswith("_val") for k in keys) else "accuracy")
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


def _spread_labels(ax, points: dict, fontsize=7, min_gap=0.045, side: str = "right"):
    """Label points beside the axes (``side`` "right" or "left"), spaced at least ``min_gap`` (axes fraction) apart
    and kept inside the axes' height, with leader lines: labels never overlap."""
    if not points:
        return
    to_axes = ax.transAxes.inverted().transform
    order = sorted(points.items(), key=lambda kv: kv[1][1])
    wanted = [to_axes(ax.transData.transform(p))[1] for _, p in order]
    placed = []
    for ay in wanted:
        placed.append(max(ay, placed[-1] + min_gap) if placed else max(ay, 0.0))
    overflow = placed[-1] - 1.0 if placed else 0  # pushed above the top: shift the whole column down
    if overflow > 0:
        placed = [y - overflow for y in placed]
        for i in range(1, len(placed)):  # and keep the gaps at the bottom
            placed[i] = max(placed[i], placed[i - 1] + min_gap)
    x_text, align = (1.02, "left") if side == "right" else (-0.12, "right")
    for (name, (x, y)), ay in zip(order, placed):
        ax.annotate(name, (x, y), xytext=(x_text, ay), textcoords="axes fraction", fontsize=fontsize, va="center",
                    ha=align, arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5"), annotation_clip=False)


def pareto(summary: dict, before_a: float, title: str = "Task B gained vs task A kept",
           a_key: str = "A_head", b_key: str = "B", xlabel: str = "task-A retention (original head, after / before)",
           ylabel: str = "task-B accuracy", zoom: tuple = (0.85, 0.85), label=None):
    """Every method: x = task-A retention, y = task-B accuracy, mean ± std over seeds, in two panels
    (all methods; a zoom on the top-right corner where the good ones are), with two Pareto frontiers:
    all methods, and the methods that need no task-A data.

    summary: ``utils.compare``'s rows, {id: {"label", "needs_task_a_data", "metrics": {a_key: {"mean", "std"}, ...}}};
    points are labelled with each row's label, or with ``label(record)`` (e.g. to leave out a part every run shares).
    zoom: lower limits (retention, task B) of the zoom panel.
    """
    plt = _plt()
    fig, (ax, zx) = plt.subplots(1, 2, figsize=(17, 7), gridspec_kw={"width_ratios": [1, 1.15], "wspace": 0.75})
    points, data_free = {}, {}
    for record in summary.values():
        name, row = label(record) if label else record["label"], record["metrics"]
        x, y = row[a_key]["mean"] / before_a, row[b_key]["mean"]
        points[name] = (x, y)
        if not record.get("needs_task_a_data", False):
            data_free[name] = (x, y)
        for axis in (ax, zx):
            axis.errorbar(x, y, xerr=row[a_key]["std"] / before_a, yerr=row[b_key]["std"], fmt="o", ms=5, capsize=2,
                          color="tab:blue" if name in data_free else "tab:orange", alpha=0.85)
    for pts, style, label, width in ((points, "k--", "Pareto frontier, all methods", 1.8),
                                     (data_free, "g:", "Pareto frontier, no task-A data", 1.4)):
        front = pareto_front(pts)
        for axis in (ax, zx):
            axis.plot([pts[n][0] for n in front], [pts[n][1] for n in front], style, lw=width, label=label, zorder=5,
                      marker="o", ms=9 + 2 * width, mfc="none")  # rings: a frontier of one point shows too
    inside = {n: p for n, p in points.items() if p[0] >= zoom[0] and p[1] >= zoom[1]}
    _spread_labels(ax, {n: p for n, p in points.items() if n not in inside}, side="left")
    ax.set_ylim(top=1.0)
    ax.add_patch(plt.Rectangle(zoom, 1.02 - zoom[0], 1.0 - zoom[1], fill=False, ls=":", lw=1, color="0.4"))
    xs = [p[0] for p in inside.values()] or [1.0]
    zx.set_xlim(zoom[0], max(1.01, max(xs) + 0.005))  # retention may pass 1: a method can gain task A
    zx.set_ylim(zoom[1], 1.0)
    _spread_labels(zx, inside)
    for axis in (ax, zx):
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
    ax.plot([], [], "o", color="tab:orange", label="uses task-A data")
    ax.plot([], [], "o", color="tab:blue", label="no task-A data")
    ax.legend(fontsize=8, loc="best")  # where it hides the fewest points
    ax.set_title(title, fontsize=11)
    zx.set_title("zoom: the top-right corner", fontsize=10)
    return fig


def shift_accuracy(rows: list, title: str = "Frozen pretrained features under a growing domain shift"):
    """Bar chart of accuracy per domain: the original head vs a new linear head fitted on that domain.

    rows: [{"domain": str, "original_head": float, "new_head": float}, ...] in display order.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["original_head"] for r in rows], 0.4, label="original head (no re-fit)")
    ax.bar(x + 0.2, [r["new_head"] for r in rows], 0.4, label="new linear head on frozen features")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, r["new_head"] + 0.01, f"{r['new_head']:.2f}", ha="center", fontsize=8)
    ax.set_xticks(x, [r["domain"] for r in rows], fontsize=9)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.08)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")  # where it hides the fewest points
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def feature_projection(projections: dict, labels, title: str = "Features of two domains, first two principal components"):
    """Side-by-side scatter of 2-D projections {domain: [N, 2]}, coloured by class label [N]."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(projections), figsize=(5 * len(projections), 4.2), sharex=True, sharey=True)
    for ax, (name, p) in zip(np.atleast_1d(axes), projections.items()):
        sc = ax.scatter(p[:, 0], p[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("PC 1")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("PC 2")
    fig.colorbar(sc, ax=axes, ticks=range(10), label="digit")
    fig.suptitle(title, fontsize=11)
    return fig


def train_validation_curves(histories: dict, title: str = "Train vs held-out accuracy on task B"):
    """One panel per run: task-B accuracy on the training examples and on held-out test data, per epoch."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(histories), figsize=(3.6 * len(histories), 3.4), sharey=True)
    for ax, (name, hist) in zip(np.atleast_1d(axes), histories.items()):
        rows = [h for h in hist if "B" in h]
        ep = [h["epoch"] for h in rows]
        ax.plot(ep, [h["B_train"] for h in rows], "o-", ms=3, label="train")
        ax.plot(ep, [h["B"] for h in rows], "s-", ms=3, label="held-out")
        ax.fill_between(ep, [h["B"] for h in rows], [h["B_train"] for h in rows], alpha=0.15)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("task-B accuracy")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def heatmaps(grids: dict, rows: list, cols: list, row_label: str, col_label: str, title: str = ""):
    """Side-by-side annotated heat maps {name: 2-D array [len(rows), len(cols)]}; each marks its best cell."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(grids), figsize=(6.2 * len(grids), 4))
    for ax, (name, g) in zip(np.atleast_1d(axes), grids.items()):
        g = np.asarray(g)
        im = ax.imshow(g, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                ax.text(j, i, f"{g[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if g[i, j] > 0.6 else "white")
        bi, bj = np.unravel_index(np.argmax(g), g.shape)
        ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ax.set_title(f"{name} (best: red)", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def memory_projection(rows: list, title: str = "Training-state memory: full fine-tuning vs LoRA"):
    """Log-scale bars per model size: full fine-tuning state, LoRA state, activations (from utils.costs.projection)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(rows))
    for k, (key, name) in enumerate([("full_state_GB", "full fine-tuning (16 B/param)"),
                                     ("lora_state_GB", "LoRA r=8 (2 B/param + 16 B/adapter param)"),
                                     ("activations_GB", "activations (batch 8 x 512 tokens)")]):
        vals = [r[key] for r in rows]
        ax.bar(x + (k - 1) * 0.27, vals, 0.27, label=name)
        for i, v in enumerate(vals):
            ax.text(i + (k - 1) * 0.27, v * 1.15, f"{v:.3g}", ha="center", fontsize=7)
    ax.axhline(80, color="crimson", ls="--", lw=1, label="one 80 GB accelerator")
    ax.set_yscale("log")
    ax.set_xticks(x, [r["model"] for r in rows])
    ax.set_ylabel("GB")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def wise_dial(dials: dict, title: str = "WiSE-FT: one dial per fine-tuned run, α from 0 (pretrained) to 1 (fine-tuned)"):
    """Task B against task A along each dial. dials: {name: [(alpha, row), ...]} with ``utils.compare`` metric
    rows ({"A_head": {"mean", "std"}, "B": {...}}); each point carries its std over seeds as error bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for (name, points), style in zip(dials.items(), ("o-", "s--", "^:", "d-.")):
        a = [r["A_head"]["mean"] for _, r in points]
        b = [r["B"]["mean"] for _, r in points]
        ax.errorbar(a, b, xerr=[r["A_head"]["std"] for _, r in points], yerr=[r["B"]["std"] for _, r in points],
                    fmt=style, ms=5, capsize=2, label=name, alpha=0.85)
        for (alpha, _), x, y in zip(points, a, b):
            ax.annotate(f"α={alpha:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("task-A accuracy (original head)")
    ax.set_ylabel("task-B accuracy")
    ax.set_ylim(top=1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")  # where it hides the fewest points
    ax.set_title(title, fontsize=10)
    return fig


def grouped_bars(series: dict, ticks: list, ylabel: str, title: str, xlabel: str = "", ylim=None):
    """One group of bars per tick, one bar per series: {series name: [value per tick]}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(series)
    x = np.arange(len(ticks))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [str(t) for t in ticks], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def layer_drift(drifts: dict, title: str = "How far each layer moved: ||θ − θ₀|| / ||θ₀|| per kernel"):
    """Grouped bars: {method: {layer: relative distance}} (``utils.metrics.layer_drift``), one group per layer."""
    layers = list(next(iter(drifts.values())))
    return grouped_bars({m: [d[layer] for layer in layers] for m, d in drifts.items()}, layers,
                        "relative distance from the pretrained kernel", title)


def fisher_histogram(fisher: dict, title: str = "EWC's Fisher per layer (mean 1 over all weights): few weights matter"):
    """Histogram of log10 of the (normalised) diagonal Fisher, one line per layer: {layer: array}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    values = {k: np.log10(np.maximum(np.ravel(v), 1e-12)) for k, v in fisher.items()}
    bins = np.linspace(min(v.min() for v in values.values()), max(v.max() for v in values.values()), 50)
    for name, v in values.items():
        ax.hist(v, bins=bins, histtype="step", lw=1.4, label=f"{name} ({v.size:,} weights)")
    ax.axvline(0, color="k", ls=":", lw=1, label="mean importance (1)")
    ax.set_yscale("log")
    ax.set_xlabel("log10 Fisher (importance of a weight for task A; -12 stands for exactly 0)")
    ax.set_ylabel("weights")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def per_class_accuracy(per_class: dict, title: str = "The deployed head per class: a shift hurts some classes far more"):
    """Grouped bars, one group per class: {domain: [accuracy of class 0, 1, ...]}."""
    classes = list(range(len(next(iter(per_class.values())))))
    return grouped_bars(per_class, classes, "accuracy of the original head", title, xlabel="class (digit)", ylim=(0, 1.0))


def confusion(matrix, title: str = "Confusion matrix (rows: true class, columns: predicted)"):
    """A row-normalised confusion matrix as an image, each cell labelled with its share of the row."""
    plt = _plt()
    m = np.asarray(matrix, dtype=float)
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] >= 0.05:
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] > 0.5 else "black")
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig



def lines(series: dict, xlabel: str, ylabel: str, title: str, right: dict | None = None, right_label: str = "",
          xscale: str = "linear"):
    """Line chart: {name: (xs, ys)} on the left axis and, optionally, ``right`` {name: (xs, ys)} on a second
    y-axis (dashed), e.g. general bits per byte and skill accuracy along the same training steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, "o-", ms=4, label=name)
    handles, labels = ax.get_legend_handles_labels()
    if right:
        twin = ax.twinx()
        for (name, (xs, ys)), color in zip(right.items(), ("tab:red", "tab:purple", "tab:brown", "tab:gray")):
            twin.plot(xs, ys, "s--", ms=4, color=color, label=name)
        twin.set_ylabel(right_label)
        h2, l2 = twin.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.set_xscale(xscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def tradeoff(points: dict, xlabel: str, ylabel: str, title: str):
    """Scatter of {label: (x, x_std, y, y_std)} where *lower* x and *higher* y are better (e.g. forgetting in bits
    per byte against skill accuracy), with error bars (std over seeds), non-overlapping labels and the frontier."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for x, xs, y, ys in points.values():
        ax.errorbar(x, y, xerr=xs, yerr=ys, fmt="o", ms=5, capsize=2, color="tab:blue", alpha=0.85)
    flipped = {n: (-p[0], p[2]) for n, p in points.items()}
    front = pareto_front(flipped)
    ax.plot([-flipped[n][0] for n in front], [flipped[n][1] for n in front], "k--", lw=1.6, label="frontier", zorder=5)
    ax.set_ylim(top=1.0)
    _spread_labels(ax, {n: (p[0], p[2]) for n, p in points.items()})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return fig


def against(panels: dict, xlabel: str, title: str):
    """Stacked scatters sharing an x quantity: {y label: {point label: (x, y)}}, e.g. two measures of
    forgetting against one predictor. Each panel's title gives the points' Spearman rank correlation."""
    from scipy.stats import spearmanr

    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 4.2 * len(panels)), squeeze=False)
    for ax, (ylabel, points) in zip(axes[:, 0], panels.items()):
        xs, ys = zip(*points.values())
        ax.scatter(xs, ys, s=22, color="tab:blue", alpha=0.85)
        _spread_labels(ax, points, fontsize=6, min_gap=0.04)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.set_title(f"Spearman ρ = {spearmanr(xs, ys).statistic:.2f} over {len(xs)} points", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
