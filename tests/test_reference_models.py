"""Parameter counts and outputs of our model builders against peer libraries (test-only dependencies)."""


def test_timm_imports_with_the_shim(timm):
    m = timm.create_model("resnet18", pretrained=False)
    assert sum(p.numel() for p in m.parameters()) == 11_689_512  # torchvision's published ResNet-18 count
