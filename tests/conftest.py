"""Shared fixtures: the checkout's root, and an environment whose notebook outputs go to a temp dir."""
import json
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


_TORCHVISION_SHIM = []


@pytest.fixture(scope="session")
def torchvision_shim():
    """Make torchvision importable beside CPU torch, for the test-only references that import it (timm, transformers).

    The only torchvision wheel that matches torch 2.13 (0.28.0) is a CUDA build whose import fails against CPU torch
    with "operator torchvision::nms does not exist". Defining the schemas of the two ops it registers first lets it
    import (no op is ever called, no weights are downloaded). The shim lives here, never in the exported package.
    """
    import torch
    if torch.version.cuda is None and "torchvision" not in sys.modules and not _TORCHVISION_SHIM:  # CPU torch only
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_SHIM.append(lib)  # keep the library object alive for the session


@pytest.fixture(scope="session")
def timm(torchvision_shim):
    "timm, a test-only reference: `timm.create_model(name, pretrained=False)` builds models without weights."
    import timm as timm_module
    return timm_module


_SPEED: dict[str, dict] = {}


@pytest.fixture(scope="session")
def record_speed():
    """Speed tests against a reference library (timm, a naive loop) report their ratios here.

    The references are test-only (timm stays out of the package), so these comparisons run under pytest, not
    `paper-repro bench`; `make bench` runs both and writes these to results/benchmarks_reference.json.
    """
    def record(name: str, **values):
        _SPEED[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
        print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in _SPEED[name].items()))
    return record


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PAPER_REPRO_SPEED_OUT")
    if path and _SPEED:
        import torch
        Path(path).write_text(json.dumps(dict(torch=torch.__version__, threads=torch.get_num_threads(), speed=_SPEED), indent=1) + "\n")
