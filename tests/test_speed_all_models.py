"""Speed of every other paper-scale CNN of issue 5 against timm (fwd + bwd, same input and threads).

Marked `bench`: `make test` deselects them (they take minutes); `paper-repro bench --reference` (`make bench`) runs them
with `--bench` and records each ratio in results/benchmarks_reference.json next to the one-per-family speed tests."""
from functools import partial

import pytest
import torch

from paper_repro.efficientnet import EFFICIENTNET_MODELS
from paper_repro.res2net import RES2NET_MODELS
from paper_repro.resnest import RESNEST_MODELS
from paper_repro.resnext import RESNEXT_MODELS
from paper_repro.rexnet import REXNET_MODELS

TIMED_ELSEWHERE = {"resnext50_32x4d", "resnest50d", "res2net50_26w_4s", "rexnet_100", "efficientnet_b0"}
PAPER_SCALE = {
    **{n: RESNEXT_MODELS[n] for n in ("resnext101_32x8d",)},
    **{n: RESNEST_MODELS[n] for n in ("resnest50d_4s2x40d", "resnest101e")},
    **RES2NET_MODELS, **REXNET_MODELS,
    **{n: partial(b, drop_path_rate=0.0) for n, b in EFFICIENTNET_MODELS.items()},  # timm builds without drop path
}


@pytest.mark.bench
@pytest.mark.parametrize("name", sorted(set(PAPER_SCALE) - TIMED_ELSEWHERE))
def test_paper_scale_speed_against_timm(timm, speed_vs_reference, name):
    torch.manual_seed(0)
    ratio = speed_vs_reference(name, PAPER_SCALE[name](), timm.create_model(name, pretrained=False), torch.randn(4, 3, 96, 96))
    assert ratio < 2  # a loose sanity bound: the measured ratio goes to results/benchmarks_reference.json (make bench)
