"""Parameter counts and outputs of our model builders against peer libraries (test-only dependencies)."""
import pytest

from paper_repro.core import count_params as _n_params


def test_timm_imports_with_the_shim(timm):
    m = timm.create_model("resnet18", pretrained=False)
    assert sum(p.numel() for p in m.parameters()) == 11_689_512  # torchvision's published ResNet-18 count


# --- ViT (nbs/21_vit.ipynb) against timm ------------------------------------------------------------------------

VIT_NAMES = ["vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224", "vit_large_patch16_224", "vit_huge_patch14_224"]


@pytest.mark.parametrize("name", VIT_NAMES)
def test_vit_parameter_counts_match_timm(timm, name):
    import torch

    from paper_repro.vit import VIT_MODELS
    with torch.device("meta"):  # nothing is allocated, even for ViT-H
        ours = VIT_MODELS[name]()
        theirs = timm.create_model(name, pretrained=False, num_classes=1000, img_size=224)
    assert _n_params(ours) == _n_params(theirs), name


def _timm_to_ours(sd: dict) -> dict:
    "Map a timm ViT state dict (fused qkv, blocks.i.*) onto ours (q/k/v projections, encoder.layers.i.*)."
    out = {"cls_token": sd["cls_token"], "pos_embed": sd["pos_embed"], "patch_embed.proj.weight": sd["patch_embed.proj.weight"],
           "patch_embed.proj.bias": sd["patch_embed.proj.bias"], "encoder.norm.weight": sd["norm.weight"],
           "encoder.norm.bias": sd["norm.bias"], "head.weight": sd["head.weight"], "head.bias": sd["head.bias"]}
    n_layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    for i in range(n_layers):
        b, o = f"blocks.{i}.", f"encoder.layers.{i}."
        for t in ("weight", "bias"):
            q, k, v = sd[b + f"attn.qkv.{t}"].chunk(3, 0)
            out |= {o + f"self_attn.q_proj.{t}": q, o + f"self_attn.k_proj.{t}": k, o + f"self_attn.v_proj.{t}": v,
                    o + f"self_attn.out_proj.{t}": sd[b + f"attn.proj.{t}"], o + f"norms.0.{t}": sd[b + f"norm1.{t}"],
                    o + f"norms.1.{t}": sd[b + f"norm2.{t}"], o + f"ff.net.0.{t}": sd[b + f"mlp.fc1.{t}"],
                    o + f"ff.net.3.{t}": sd[b + f"mlp.fc2.{t}"]}
    return out


def test_vit_small_outputs_match_timm_after_weight_copy(timm):
    import torch

    from paper_repro.vit import vit_small_patch16_224
    torch.manual_seed(0)
    theirs = timm.create_model("vit_small_patch16_224", pretrained=False).eval()
    with torch.no_grad():  # timm zero-inits nothing we rely on, but make every tensor non-trivial
        for p in theirs.parameters(): p.add_(0.02 * torch.randn_like(p))
    ours = vit_small_patch16_224().eval()
    missing, unexpected = ours.load_state_dict(_timm_to_ours(theirs.state_dict()), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
        fa, fb = ours.forward_features(x), theirs.forward_features(x)
    torch.testing.assert_close(fa, fb, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert a.abs().max() > 1e-2  # the outputs are not trivially zero


def test_vit_small_speed_vs_timm(timm, speed_vs_reference):
    "Forward + backward time of our ViT-S/16 vs timm's on the same input, one thread (it then does not depend on other load)."
    import torch

    from paper_repro.vit import vit_small_patch16_224
    torch.manual_seed(0)
    ratio = speed_vs_reference("vit_small_patch16_224", vit_small_patch16_224(), timm.create_model("vit_small_patch16_224", pretrained=False),
                               torch.randn(2, 3, 224, 224), threads=1)
    assert ratio < 2.0


# --- BART (nbs/22_bart.ipynb) against Hugging Face transformers ----------------------------------------------------

@pytest.mark.parametrize("name", ["bart_base", "bart_large"])
def test_bart_parameter_counts_match_transformers(torchvision_shim, name):  # transformers imports torchvision
    """Our BART-base/large have exactly as many parameters as HF `BartModel` (no weights; meta device).

    Both count the shared token embedding once (tied: encoder, decoder, output projection), learned positions with
    1024 + 2 rows per stack (HF's offset of 2), a `layernorm_embedding` per stack, post-norm layers without a final
    stack norm; `final_logits_bias` is a buffer in both, so it is not counted.
    """
    import torch
    import transformers  # a test-only dependency (settings.ini dev_requirements): a missing one must fail, not skip

    from paper_repro.bart import BART_CONFIGS, bart_base, bart_large
    c = BART_CONFIGS[name]
    config = transformers.BartConfig(vocab_size=c["vocab_size"], d_model=c["d_model"], encoder_layers=c["n_encoder_layers"],
                                     decoder_layers=c["n_decoder_layers"], encoder_attention_heads=c["n_heads"],
                                     decoder_attention_heads=c["n_heads"], encoder_ffn_dim=c["d_ff"], decoder_ffn_dim=c["d_ff"],
                                     max_position_embeddings=c["max_len"], activation_function="gelu")
    with torch.device("meta"):
        ours = {"bart_base": bart_base, "bart_large": bart_large}[name]()
        theirs = transformers.BartModel(config)
    assert _n_params(ours) == _n_params(theirs), name
    assert _n_params(ours) == {"bart_base": 139_420_416, "bart_large": 406_291_456}[name]
