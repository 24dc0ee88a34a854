"""paper_repro.cnn against timm (test-only): the same parameter counts, and timm's weights give the same outputs."""
import pytest
import torch

from paper_repro.cnn import RESNET_MODELS, count_params


@pytest.mark.parametrize("name", sorted(RESNET_MODELS))
def test_resnet_parameter_counts_equal_timm(timm, name):
    with torch.device("meta"):
        assert count_params(RESNET_MODELS[name]()) == count_params(timm.create_model(name, pretrained=False))


@pytest.mark.parametrize("name", ["resnet18", "resnet50d", "resnext50_32x4d"])
def test_timm_weights_load_and_give_the_same_outputs(timm, name, matches_reference):
    torch.manual_seed(0)
    ref, ours = timm.create_model(name, pretrained=False), RESNET_MODELS[name]()  # same layer names and shapes
    w = ours.layer2[0].conv2.weight  # a wrong weight would be seen (noise, not a scale: the BN after it would undo a scale)
    matches_reference(ours, ref, torch.randn(2, 3, 64, 64), perturb=lambda m: w.add_(0.5 * w.std() * torch.randn_like(w)))


# ReXNet (nbs/33_rexnet.ipynb)
from paper_repro.rexnet import REXNET_MODELS  # noqa: E402


@pytest.mark.parametrize("name", sorted(REXNET_MODELS))
def test_rexnet_parameter_counts_equal_timm(timm, name):
    with torch.device("meta"):
        assert count_params(REXNET_MODELS[name]()) == count_params(timm.create_model(name, pretrained=False))


def _rexnet_key(key: str) -> str:
    "timm's ConvNormAct names its parts conv/bn; ours (ConvBNAct, a Sequential) 0/1. SE's own bn keeps its name."
    import re
    return re.sub(r"(?<!\.se)\.bn\.", ".1.", key.replace(".conv.", ".0."))


@pytest.mark.parametrize("name", ["rexnet_100", "rexnet_130"])
def test_rexnet_timm_weights_load_and_give_the_same_outputs(timm, name, matches_reference):
    torch.manual_seed(0)
    ref, ours = timm.create_model(name, pretrained=False), REXNET_MODELS[name]()
    matches_reference(ours, ref, torch.randn(2, 3, 64, 64), key=_rexnet_key, input_dependence=0.1,
                      perturb=lambda m: m.features[5].se.bn.weight.mul_(1.5))  # a wrong SE weight would be seen


def test_rexnet_speed_against_timm(timm, speed_vs_reference):
    torch.manual_seed(0)
    ratio = speed_vs_reference("rexnet_100", REXNET_MODELS["rexnet_100"](), timm.create_model("rexnet_100", pretrained=False),
                               torch.randn(4, 3, 128, 128))
    assert ratio < 2


@pytest.mark.parametrize("name", ["resnext50_32x4d", "resnext101_32x8d"])
def test_resnext_parameter_counts_equal_timm(timm, name):
    from paper_repro.resnext import RESNEXT_MODELS
    with torch.device("meta"):
        ours, ref = RESNEXT_MODELS[name](), timm.create_model(name, pretrained=False)
    assert count_params(ours) == count_params(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.state_dict().items()}


def test_resnext50_speed_against_timm(timm, speed_vs_reference):
    """Issue #5 (performance): our ResNeXt-50 forward + backward against timm's, same input, same thread count."""
    from paper_repro.resnext import RESNEXT_MODELS
    torch.manual_seed(0)
    ratio = speed_vs_reference("resnext50_32x4d", RESNEXT_MODELS["resnext50_32x4d"](), timm.create_model("resnext50_32x4d", pretrained=False), torch.randn(4, 3, 96, 96))
    assert ratio < 2  # a loose sanity bound: the measured ratio goes to results/benchmarks_reference.json (make bench)
