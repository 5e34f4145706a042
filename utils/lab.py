"""JupyterLab as people start it: ``python -m utils.lab`` (what ``make lab`` calls).

- Listens on 127.0.0.1 only, with Jupyter's token: a notebook server runs code, so it must not listen on the network.
- Adds ``--allow-root`` only when run as root (containers and classroom VMs often are); Jupyter refuses root without it.
- Installs the project's settings override (``jupyter/overrides.json``: no news pop-up, no update check, both of
  which would reach for the network) into this environment's ``share/jupyter/lab/settings/`` first, where
  JupyterLab reads overrides; the server side's update check is switched off too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import paths

OVERRIDES = paths.ROOT / "jupyter" / "overrides.json"


def settings_dir() -> Path:
    """Where this environment's JupyterLab reads ``overrides.json``."""
    return Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"


def install_overrides() -> Path:
    """Copy the project's ``overrides.json`` into this environment (idempotent); returns its new path."""
    target = settings_dir() / "overrides.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(OVERRIDES, target)
    return target


def command(port: int | None = None, token: str | None = None, browser: bool = True) -> list[str]:
    """The ``jupyter lab`` command line (see the module docstring)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--ServerApp.root_dir={paths.NOTEBOOKS_DIR}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not browser:
        cmd.append("--no-browser")
    return cmd


def main(argv=None) -> int:
    install_overrides()
    return subprocess.call(command(), cwd=paths.NOTEBOOKS_DIR)


if __name__ == "__main__":
    sys.exit(main())
