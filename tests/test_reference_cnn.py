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
