import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils import plots  # noqa: E402


def test_pareto_front_keeps_only_non_dominated_points():
    pts = {"a": (0.5, 0.97), "b": (1.0, 0.70), "c": (0.95, 0.95), "d": (0.9, 0.9), "e": (0.5, 0.96)}
    assert plots.pareto_front(pts) == ["a", "c", "b"]


def test_pareto_figure_has_both_panels_and_frontiers(tmp_path, monkeypatch):
    def row(label, a, b, flag):
        return {"label": label, "needs_task_a_data": flag,
                "metrics": {"A_head": {"mean": a, "std": 0.01}, "B": {"mean": b, "std": 0.01}}}

    summary = {"full": row("full", 0.45, 0.97, False), "frozen": row("frozen", 0.99, 0.70, False),
               "rehearsal(fraction=0.1)": row("rehearsal", 0.98, 0.97, True)}
    fig = plots.pareto(summary, before_a=0.99)
    assert len(fig.axes) == 2
    labels = {t.get_text() for t in fig.axes[1].texts} | {t.get_text() for t in fig.axes[0].texts}
    assert {"full", "frozen", "rehearsal"} <= labels
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Pareto frontier, no task-A data" in legend
    short = plots.pareto(summary, before_a=0.99, label=lambda r: r["label"][:4])
    assert {"full", "froz", "rehe"} <= {t.get_text() for ax in short.axes for t in ax.texts}
    monkeypatch.setattr(plots.paths, "BUILD_DIR", tmp_path)
    path = plots.save_figure(fig, "x")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_forgetting_curves_plot_every_run():
    hist = [{"epoch": 0, "A_head": 0.99, "A_probe": 0.99, "B": 0.1}, {"epoch": 1, "A_head": 0.5, "A_probe": 0.9, "B": 0.9}]
    fig = plots.forgetting_curves({"full": hist, "frozen": hist})
    assert all(len(ax.lines) == 2 for ax in fig.axes)


def test_the_dial_drift_and_fisher_figures_draw_what_they_are_given():
    row = lambda a, b: {"A_head": {"mean": a, "std": 0.01}, "B": {"mean": b, "std": 0.02}}  # noqa: E731
    fig = plots.wise_dial({"from full": [(0.25, row(0.96, 0.35)), (1.0, row(0.46, 0.96))],
                           "from lp-ft": [(0.25, row(0.97, 0.70)), (1.0, row(0.87, 0.95))]})
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.texts} == {"α=0.25", "α=1"} and ax.get_ylim()[1] == 1.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["from full", "from lp-ft"]
    fig = plots.layer_drift({"full": {"conv1/kernel": 0.5, "dense/kernel": 0.9}, "ewc": {"conv1/kernel": 0.1, "dense/kernel": 0.2}})
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert heights == [0.1, 0.2, 0.5, 0.9]
    fig = plots.fisher_histogram({"conv1/kernel": np.full(10, 2.0), "dense/kernel": np.array([1e-6, 1.0, 100.0])})
    assert "conv1/kernel (10 weights)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_layer_drift_is_relative_distance_of_kernels_only():
    from utils import metrics

    class V:
        def __init__(self, name, value):
            self.name, self.value = name, np.asarray(value, float)

        def numpy(self):
            return self.value

    now = [V("k:0", [[3.0, 4.0]]), V("b:0", [1.0])]
    assert metrics.layer_drift(now, [[[3.0, 0.0]], [0.0]]) == {"k": pytest.approx(4 / 3)}


def test_per_class_and_confusion_figures():
    fig = plots.per_class_accuracy({"clean": [1.0, 0.9], "noise": [0.8, 0.3]})
    assert sorted(round(p.get_height(), 2) for p in fig.axes[0].patches) == [0.3, 0.8, 0.9, 1.0]
    fig = plots.confusion([[8, 2], [0, 5]])
    assert {t.get_text() for t in fig.axes[0].texts} == {"0.80", "0.20", "1.00"}


def test_against_stacks_one_panel_per_measure_with_its_rank_correlation():
    panels = {"lost": {"a": (1.0, 0.1), "b": (2.0, 0.3), "c": (3.0, 0.2)},
              "bpb": {"a": (1.0, 0.0), "b": (2.0, 0.1), "c": (3.0, 0.2)}}
    fig = plots.against(panels, "KL", "forgetting against KL")
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["lost", "bpb"]
    assert axes[0].get_title() == "Spearman ρ = 0.50 over 3 points" and axes[1].get_title().startswith("Spearman ρ = 1.00")
    assert len(axes[0].collections[0].get_offsets()) == 3
