"""Executed notebooks and their HTML carry no TensorFlow log lines and no progress-bar frames, while Python
warnings and errors still show (``utils.curriculum``); the kernel's low-level stderr is kept in a log file."""

import re

import nbformat

from utils import curriculum

TF_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|oneDNN custom operations|cuInit|cuda_"
                    r"|^(INFO|WARNING):tensorflow", re.M)


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_executed_notebook_and_html_are_clean(tmp_path):
    path = _notebook(
        tmp_path / "99_clean.ipynb",
        "import utils\nimport tensorflow as tf\nprint(int(tf.reduce_sum(tf.constant([1, 2], tf.int64))))",
        "from utils import models\nmodels.save(models.load('digits-convnet'), 'exported')",  # a save logs no INFO lines
        "import warnings\nfrom utils import runtime\nfrom tqdm.std import tqdm\n"
        "bar = tqdm(range(50), disable=not runtime.progress_enabled(None))\nfor _ in bar: pass\n"
        "warnings.warn('a real warning stays visible')",
    )
    run = curriculum.execute(path, tmp_path / "out")
    assert run.ok, run.error
    html = (tmp_path / "out" / "html" / "99_clean.html").read_text()
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "99_clean.ipynb", as_version=4)
    text = "\n".join(str(o.get("text", "")) for c in executed.cells for o in c.get("outputs", []))
    assert "3" in text and "a real warning stays visible" in text
    assert not TF_LOG.search(text) and not TF_LOG.search(html), TF_LOG.findall(text + html)[:3]
    assert "\r" not in text and "it/s" not in text  # no progress-bar frames
    assert (tmp_path / "out" / "logs" / "99_clean.kernel.log").exists()  # TensorFlow's start-up lines go there


def test_a_failing_cell_is_still_reported(tmp_path):
    path = _notebook(tmp_path / "98_fails.ipynb", "raise ValueError('visible error')")
    run = curriculum.execute(path, tmp_path / "out")
    assert not run.ok and run.failed_cell == 1 and "visible error" in run.error
