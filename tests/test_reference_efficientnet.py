"""paper_repro.efficientnet against timm (test-only): equal parameter counts for B0-B7, timm's B0 weights give our outputs, speed."""
import re

import pytest
import torch

from paper_repro.core import count_params
from paper_repro.efficientnet import EFFICIENTNET_MODELS


@pytest.mark.parametrize("name", sorted(EFFICIENTNET_MODELS))
def test_efficientnet_parameter_counts_equal_timm(timm, name):
    with torch.device("meta"):
        assert count_params(EFFICIENTNET_MODELS[name]()) == count_params(timm.create_model(name, pretrained=False))


def timm_to_ours(key: str) -> str:
    "timm's EfficientNet names -> ours: stem/head conv+bn pairs and block bn1/bn2/bn3 become ConvBNAct's 0/1; SE fc1/fc2."
    key = re.sub(r"^conv_stem\.weight$", "conv_stem.0.weight", key)
    key = re.sub(r"^bn1\.", "conv_stem.1.", key)
    key = re.sub(r"^conv_head\.weight$", "conv_head.0.weight", key)
    key = re.sub(r"^bn2\.", "conv_head.1.", key)
    key = key.replace(".se.conv_reduce.", ".se.fc1.").replace(".se.conv_expand.", ".se.fc2.")
    if key.startswith("blocks.0."):  # the MBConv1 stage is timm's DepthwiseSeparableConv: conv_dw, bn1, se, conv_pw, bn2
        key = key.replace(".conv_pw.", ".conv_pwl.0.").replace(".bn1.", ".conv_dw.1.").replace(".bn2.", ".conv_pwl.1.")
    else:  # InvertedResidual: conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3
        key = key.replace(".bn1.", ".conv_pw.1.").replace(".bn2.", ".conv_dw.1.").replace(".bn3.", ".conv_pwl.1.")
    key = re.sub(r"\.(conv_pw|conv_dw|conv_pwl)\.weight$", r".\1.0.weight", key)
    return key


def test_timm_b0_weights_load_and_give_the_same_outputs(timm, matches_reference):
    torch.manual_seed(0)
    ref = timm.create_model("efficientnet_b0", pretrained=False)
    ours = EFFICIENTNET_MODELS["efficientnet_b0"](drop_path_rate=0.0)  # timm builds without drop path
    matches_reference(ours, ref, torch.randn(2, 3, 96, 96), key=timm_to_ours, input_dependence=0.1,
                      perturb=lambda m: m.blocks[3][1].se.fc1.weight.mul_(1.5))  # a wrong SE weight would be seen


def test_efficientnet_b0_speed_against_timm(timm, speed_vs_reference):
    """Our B0 forward + backward against timm's, same input, same thread count; drop path off in both."""
    torch.manual_seed(0)
    ratio = speed_vs_reference("efficientnet_b0", EFFICIENTNET_MODELS["efficientnet_b0"](drop_path_rate=0.0), timm.create_model("efficientnet_b0", pretrained=False), torch.randn(4, 3, 128, 128))
    assert ratio < 2  # a loose sanity bound: the measured ratio goes to results/benchmarks_reference.json (make bench)
