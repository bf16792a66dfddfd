import pytest
import torch

from zincfluor.nn.model import build_classifier
from zincfluor.vision.pipeline import image_classifier_spec
from zincfluor.vision.resnet import CifarResNet, CifarResNetConfig, ResNet, ResNetConfig


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet32_parameter_count():
    model = build_classifier(image_classifier_spec("resnet32", 10, projection_dim=None))
    assert model.backbone.out_dim == 64
    assert abs(n_params(model) - 0.46e6) / 0.46e6 < 0.03  # 464,154 with option-A shortcuts


def test_resnet32_forward_and_projection():
    model = build_classifier(image_classifier_spec("resnet32", 10))
    h = model.features(torch.randn(3, 3, 32, 32))
    assert h.shape == (3, 64)
    assert model.head(h).shape == (3, 10)
    z = model.project(h)
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)


def test_cifar_resnet_rejects_bad_depth():
    with pytest.raises(ValueError):
        CifarResNet(CifarResNetConfig(depth=33))


@pytest.mark.parametrize(("arch", "params", "out_dim"), [
    ("resnet18", 11_176_512, 512), ("resnet34", 21_284_672, 512), ("resnet50", 23_508_032, 2048),
])
def test_imagenet_resnets_match_torchvision_sizes(arch, params, out_dim):
    # torchvision's totals minus their 1000-class fc layer
    model = build_classifier(image_classifier_spec(arch, 5, projection_dim=None))
    assert model.backbone.out_dim == out_dim
    assert n_params(model.backbone) == params


def test_resnet18_cifar_stem_and_local_weights(tmp_path):
    source = ResNet(ResNetConfig(depth=18, stem="cifar"))
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state}, path)
    loaded = ResNet(ResNetConfig(depth=18, stem="cifar", weights=str(path)))
    for key, value in source.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    assert loaded(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_vision_imports_no_chemistry():
    """Building an image model and recording checkpoint versions never imports RDKit."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import zincfluor.vision, zincfluor.commands.vision\n"
        "from zincfluor.train.checkpoint import package_versions\n"
        "package_versions()\n"
        "assert 'rdkit' not in sys.modules, 'rdkit was imported'\n"
        "assert not any(m.startswith('zincfluor.chem') for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
