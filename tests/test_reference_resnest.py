"""paper_repro.resnest (nbs/31_resnest.ipynb) against timm (test-only): parameter counts, timm's weights give the same
outputs in our model, and the speed of forward + backward."""

import pytest
import torch

from paper_repro.core import count_params
from paper_repro.resnest import RESNEST_MODELS


@pytest.mark.parametrize("name", ["resnest14d", "resnest26d", "resnest50d", "resnest101e", "resnest50d_4s2x40d"])
def test_resnest_parameter_counts_and_shapes_equal_timm(timm, name):
    with torch.device("meta"):
        ours, ref = RESNEST_MODELS[name](), timm.create_model(name, pretrained=False)
    assert count_params(ours) == count_params(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("name", ["resnest14d", "resnest50d", "resnest50d_4s2x40d"])
def test_timm_weights_load_and_give_the_same_outputs(timm, name, matches_reference):
    torch.manual_seed(0)
    ref, ours = timm.create_model(name, pretrained=False), RESNEST_MODELS[name]()  # the same names: no mapping needed
    matches_reference(ours, ref, torch.randn(2, 3, 64, 64),
                      perturb=lambda m: m.layer2[0].conv2.fc2.weight.mul_(1.5))  # a wrong attention weight would be seen


def test_resnest50_speed_against_timm(timm, speed_vs_reference):
    """Our ResNeSt-50 forward + backward against timm's, same input, same thread count."""
    torch.manual_seed(0)
    ratio = speed_vs_reference("resnest50d", RESNEST_MODELS["resnest50d"](), timm.create_model("resnest50d", pretrained=False), torch.randn(4, 3, 96, 96))
    assert ratio < 2  # a loose sanity bound: the measured ratio goes to results/benchmarks_reference.json (make bench)
