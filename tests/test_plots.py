import matplotlib

matplotlib.use("Agg")

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
    monkeypatch.setattr(plots.paths, "BUILD_DIR", tmp_path)
    path = plots.save_figure(fig, "x")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_forgetting_curves_plot_every_run():
    hist = [{"epoch": 0, "A_head": 0.99, "A_probe": 0.99, "B": 0.1}, {"epoch": 1, "A_head": 0.5, "A_probe": 0.9, "B": 0.9}]
    fig = plots.forgetting_curves({"full": hist, "frozen": hist})
    assert all(len(ax.lines) == 2 for ax in fig.axes)
