"""paper_repro.weightnet against torchvision (test-only): the ShuffleNetV2 baselines have torchvision's parameter counts,
and torchvision's weights load into ours and give the same outputs."""
import pytest
import torch

from paper_repro.core import count_params
from paper_repro.weightnet import SHUFFLENET_MODELS

BASELINES = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


@pytest.mark.parametrize("name", BASELINES)
def test_shufflenet_parameter_counts_equal_torchvision(torchvision_shim, name):
    import torchvision
    with torch.device("meta"):
        ours, ref = SHUFFLENET_MODELS[name](), getattr(torchvision.models, name)(weights=None)
    assert count_params(ours) == count_params(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_torchvision_weights_load_and_give_the_same_outputs(torchvision_shim, name, matches_reference):
    import torchvision
    torch.manual_seed(0)
    ref, ours = getattr(torchvision.models, name)(weights=None), SHUFFLENET_MODELS[name]()
    matches_reference(ours, ref, torch.randn(2, 3, 64, 64), features=False, input_dependence=1e-3,  # torchvision: logits only
                      perturb=lambda m: m.stage3[1].branch2[3].weight.mul_(1.5))  # a wrong depthwise weight would be seen


def test_weightnet_models_build_and_run():
    model = SHUFFLENET_MODELS["weightnet_shufflenet_v2_x0_5"]().eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_shufflenet_speed_against_torchvision(torchvision_shim, speed_vs_reference):
    import torchvision
    torch.manual_seed(0)
    ratio = speed_vs_reference("shufflenet_v2_x1_0", SHUFFLENET_MODELS["shufflenet_v2_x1_0"](), torchvision.models.shufflenet_v2_x1_0(weights=None),
                               torch.randn(8, 3, 128, 128), reference="torchvision")
    assert ratio < 2
