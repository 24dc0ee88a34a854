"""Shared fixtures: the checkout's root, and an environment whose notebook outputs go to a temp dir."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def out_env(tmp_path) -> dict:
    "Environment for subprocess runs: outputs under tmp_path (committed results/ stay untouched), real quick sizes."
    env = {k: v for k, v in os.environ.items() if k != "IN_TEST"}
    env.update(PAPER_REPRO_OUT=str(tmp_path / "out"), MPLBACKEND="Agg", PYTHONHASHSEED="0")
    return env


@pytest.fixture
def cli():
    "Path of the installed console script."
    return str(BIN / "paper-repro")
