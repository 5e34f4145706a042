"""Where things live: the repository root, bundled models, text data and build outputs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "data" / "models"
TEXT_DIR = ROOT / "data" / "text"
BUILD_DIR = ROOT / "build"
NOTEBOOKS_DIR = ROOT / "notebooks"
