"""Where things live: the repository root, bundled models, text data and build outputs."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "data" / "models"
TEXT_DIR = ROOT / "data" / "text"
BUILD_DIR = Path(os.environ.get("WORKBOOK_BUILD_DIR", ROOT / "build"))  # `curriculum run --out` moves it
NOTEBOOKS_DIR = ROOT / "notebooks"
