"""``make lab`` starts JupyterLab here (as root too), without the news pop-up, serving the notebooks; stopped after."""

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from utils import lab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode("utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    lab.install_overrides()
    port, token = _free_port(), "workbook-test"
    log = (tmp_path_factory.mktemp("lab") / "lab.log").open("w")
    proc = subprocess.Popen(lab.command(port, token, browser=False), cwd=lab.paths.NOTEBOOKS_DIR, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}: {open(log.name).read()[-2000:]}")
        try:
            _get(f"{base}/api/status", token)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail(f"jupyter lab did not answer in 90 s: {open(log.name).read()[-2000:]}")
    yield base, token
    proc.terminate()
    proc.wait(timeout=30)


def test_lab_page_and_a_notebook_are_served(server):
    base, token = server
    status, page = _get(f"{base}/lab", token)
    assert status == 200 and "JupyterLab" in page
    status, body = _get(f"{base}/api/contents/00_start_here.ipynb", token)
    notebook = json.loads(body)
    assert status == 200 and notebook["type"] == "notebook" and notebook["content"]["cells"]


def test_no_news_pop_up(server):
    base, token = server
    _, body = _get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification", token)
    defaults = json.loads(body)["schema"]["properties"]  # overrides.json replaces the schema's defaults
    assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False


def test_root_gets_allow_root_and_only_root():
    import os

    assert ("--allow-root" in lab.command()) == (os.geteuid() == 0)
    assert "--ServerApp.ip=127.0.0.1" in lab.command()
