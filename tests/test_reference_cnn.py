"""paper_repro.cnn against timm (test-only): the same parameter counts, and timm's weights give the same outputs."""
import pytest
import torch

from paper_repro.cnn import RESNET_MODELS, count_params


@pytest.mark.parametrize("name", sorted(RESNET_MODELS))
def test_resnet_parameter_counts_equal_timm(timm, name):
    with torch.device("meta"):
        assert count_params(RESNET_MODELS[name]()) == count_params(timm.create_model(name, pretrained=False))


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d"])
def test_timm_weights_load_and_give_the_same_outputs(timm, name):
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():  # timm zero-initialises the last BN of each block; randomise everything so every branch counts
        for key, t in ref.state_dict().items():
            if key.endswith("running_var"): t.uniform_(0.5, 1.5)
            elif key.endswith(("bn1.weight", "bn2.weight", "bn3.weight")) or ".1.weight" in key: t.uniform_(0.2, 0.6)
            elif t.is_floating_point(): t.normal_(0, 0.05 if t.ndim <= 1 else (2 / t[0].numel()) ** 0.5)
    ours = RESNET_MODELS[name]().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)  # same layer names and shapes
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = ref(x)
        assert out.std() > 1e-3  # a non-trivial output
        torch.testing.assert_close(ours(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())
        ours.layer2[0].conv2.weight.mul_(1.01)  # and a wrong weight would be seen
        assert not torch.allclose(ours(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())


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
def test_rexnet_timm_weights_load_and_give_the_same_outputs(timm, name):
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():  # randomise BN statistics and affine parameters too, so that every layer counts
        for key, t in ref.state_dict().items():
            if key.endswith("running_var"): t.uniform_(0.5, 1.5)
            elif key.endswith("running_mean"): t.normal_(0, 0.01)
            elif t.is_floating_point() and t.ndim == 1: t.uniform_(0.5, 1.0) if key.endswith("weight") else t.normal_(0, 0.01)
            elif t.is_floating_point(): t.normal_(0, (2 / t[0].numel()) ** 0.5)  # He scale, so that the signal neither dies nor explodes
    ours = REXNET_MODELS[name]().eval()
    ours.load_state_dict({_rexnet_key(k): v for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = ref(x)
        torch.testing.assert_close(ours(x), out, rtol=1e-4, atol=1e-4 * out.abs().max().item())
        ref.train(); ours.train()  # batch statistics keep the signal alive through 17 blocks: compare the feature maps
        feats = ref.forward_features(x)
        assert (feats[0] - feats[1]).abs().mean() > 0.1 * feats.abs().mean()  # the features depend on the input
        torch.testing.assert_close(ours.forward_features(x), feats, rtol=1e-4, atol=1e-4 * feats.abs().max().item())
        ours.features[5].se.bn.weight.mul_(1.5)  # a wrong SE weight would be seen
        assert not torch.allclose(ours.forward_features(x), feats, rtol=1e-4, atol=1e-4 * feats.abs().max().item())


@pytest.mark.parametrize("name", ["resnext50_32x4d", "resnext101_32x8d"])
def test_resnext_parameter_counts_equal_timm(timm, name):
    from paper_repro.resnext import RESNEXT_MODELS
    with torch.device("meta"):
        ours, ref = RESNEXT_MODELS[name](), timm.create_model(name, pretrained=False)
    assert count_params(ours) == count_params(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.state_dict().items()}


def test_resnext50_speed_against_timm(timm, record_speed):
    """Issue #5 (performance): our ResNeXt-50 forward + backward against timm's, same input, same thread count."""
    import time

    from paper_repro.resnext import RESNEXT_MODELS
    torch.manual_seed(0)
    ours, ref = RESNEXT_MODELS["resnext50_32x4d"]().train(), timm.create_model("resnext50_32x4d", pretrained=False).train()
    x = torch.randn(4, 3, 96, 96)

    def step_seconds(model):
        times = []
        for _ in range(4):  # the first run is a warm-up
            t = time.perf_counter()
            model(x).sum().backward()
            times.append(time.perf_counter() - t)
            model.zero_grad(set_to_none=True)
        return min(times[1:])

    pairs = [(step_seconds(ours), step_seconds(ref)) for _ in range(2)]  # interleaved: a load spike hits both
    ratio = min(a / b for a, b in pairs)
    record_speed("resnext50_32x4d vs timm", input="4x3x96x96 fwd+bwd", threads=torch.get_num_threads(),
                 ours_ms=min(a for a, _ in pairs) * 1e3, timm_ms=min(b for _, b in pairs) * 1e3, ratio=ratio)
    assert ratio < 2
