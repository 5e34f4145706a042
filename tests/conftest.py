"""Shared fixtures. No test touches the network: hub handles are checked against an unreachable host."""

import os

os.environ.setdefault("WORKBOOK_PROGRESS", "0")

import pytest  # noqa: E402

import utils  # noqa: E402,F401  sets TF_USE_LEGACY_KERAS before TensorFlow loads


@pytest.fixture(scope="session")
def permute_pair():
    from utils import image_data

    return image_data.task_pair("permute")
