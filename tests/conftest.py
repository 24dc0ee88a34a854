"""Shared fixtures: the checkout's root, and an environment whose notebook outputs go to a temp dir."""
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def pytest_addoption(parser):
    parser.addoption("--bench", action="store_true", help="also run the tests marked `bench` (slow speed comparisons; make bench)")


def pytest_collection_modifyitems(config, items):
    """Mark the tests that need the machine to themselves `serial` (the speed comparisons, whose 2-thread timings a
    neighbour on the other core distorts, and the torchrun tests, which start several processes each): `make test`
    runs the rest in parallel processes, then these one at a time. Deselect the `bench` tests unless --bench is given:
    `make test` stays fast, `make bench` runs them."""
    for item in items:
        if "speed" in item.name or item.path.name == "test_distributed.py": item.add_marker(pytest.mark.serial)
    if config.getoption("--bench"): return
    bench = [item for item in items if item.get_closest_marker("bench")]
    if bench:
        config.hook.pytest_deselected(items=bench)
        items[:] = [item for item in items if not item.get_closest_marker("bench")]


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


@pytest.fixture(scope="session")
def speed_vs_reference(record_speed, request):
    """Forward + backward time of `ours` against a reference model (timm's, torchvision's) on the same input and threads.

    After a warm-up step each, the two models alternate step by step (ours, reference, ours, ...) for `steps` timed
    steps each, so that load from other processes and the CPU's clock hit both alike; each side's time is its best
    step and the ratio is ours' best over the reference's best. Records the result with `record_speed`; returns the ratio.
    With `--bench` (make bench, whose ratios are recorded) each side gets 9 timed steps; in `make test`, where the
    ratio only has to pass a loose sanity bound, 3.
    """
    import time

    import torch

    from paper_repro.core import threads as torch_threads

    def step_seconds(model, x):
        t = time.perf_counter()
        model(x).sum().backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    default_steps = 9 if request.config.getoption("--bench") else 3

    def compare(name: str, ours, ref, x, threads: int | None = None, steps: int | None = None, reference: str = "timm") -> float:
        steps = steps or default_steps
        ours.train(); ref.train()
        with torch_threads(threads or torch.get_num_threads()):
            step_seconds(ours, x); step_seconds(ref, x)  # warm-up: allocator, kernels' first-call costs
            pairs = [(step_seconds(ours, x), step_seconds(ref, x)) for _ in range(steps)]
            n_threads = torch.get_num_threads()
        ours_s, ref_s = min(a for a, _ in pairs), min(b for _, b in pairs)  # each side's best: no side gets a lucky pairing
        ratio = ours_s / ref_s
        record_speed(f"{name} vs {reference}", input=f"{'x'.join(map(str, x.shape))} fwd+bwd", threads=n_threads,
                     ours_ms=ours_s * 1e3, reference_ms=ref_s * 1e3, ratio=ratio)
        return ratio
    return compare


@pytest.fixture(scope="session")
def randomise_weights():
    """Randomise every tensor of a reference model in place before copying it into ours: BN running statistics and
    affine parameters too (timm zero-initialises some BN weights), so that every layer and branch counts."""
    import torch

    def randomise(model, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for key, t in model.state_dict().items():
                if not t.is_floating_point(): continue
                if key.endswith("running_var"): t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif key.endswith("running_mean"): t.copy_(torch.randn(t.shape, generator=g) * 0.01)
                elif t.ndim == 1 and key.endswith("weight"): t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5)
                elif t.ndim == 1: t.copy_(torch.randn(t.shape, generator=g) * 0.01)
                else: t.copy_(torch.randn(t.shape, generator=g) * (2 / t[0].numel()) ** 0.5)  # He scale: the signal neither dies nor explodes
        return model
    return randomise


@pytest.fixture(scope="session")
def matches_reference(randomise_weights):
    """Copy a reference model's randomised weights into ours and check that both compute the same function.

    `key` maps the reference's state-dict names to ours (strict load: every tensor has a place). Eval-mode outputs must
    agree; with `features`, so must the train-mode feature maps (batch statistics keep the signal alive through deep
    stacks, where eval-mode logits of random weights are nearly constant), which must depend on the input. Then
    `perturb(ours)` changes one weight in place, and the comparison must fail, so it could have failed."""
    import torch
    from torch.testing import assert_close

    def check(ours, ref, x, perturb, key=lambda k: k, features: bool = True, input_dependence: float = 0.05):
        randomise_weights(ref.eval())
        ours.eval().load_state_dict({key(k): v for k, v in ref.state_dict().items()}, strict=True)
        with torch.no_grad():
            out = ref(x)
            assert out.std() > 1e-3  # a non-trivial output
            assert_close(ours(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())
            run = ours
            if features:
                ref.train(); ours.train()
                out, run = ref.forward_features(x), ours.forward_features
                assert_close(run(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())
            assert (out[0] - out[1]).abs().mean() > input_dependence * out.abs().mean()  # it depends on the input
            perturb(ours)
            assert not torch.allclose(run(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())
    return check

