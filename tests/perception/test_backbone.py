import functools

import pytest
import torch

from perception.adapters import DSTAdapter
from perception.backbone import MissingCheckpointError, build_adapted_videomae, load_videomae


def test_output_is_one_feature_per_tubelet_for_any_length(tiny_videomae_config):
    model = build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter))
    frames = torch.randint(0, 255, (1, 37, 32, 32, 3), dtype=torch.uint8)  # not a multiple of 16
    feats = model(frames)
    assert feats.shape == (1, 32, 19)


def test_only_adapters_train_and_backbone_is_frozen(tiny_videomae_config):
    model = build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("adapters.") for name in trainable)
    assert len(model.adapters) == tiny_videomae_config["num_hidden_layers"]
    frames = torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8)
    # up-projections start at zero; perturb them so gradients reach every adapter
    for adapter in model.adapters:
        torch.nn.init.normal_(adapter.up.weight, std=0.1)
    model(frames).square().sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(a.down.weight.grad is not None and a.down.weight.grad.abs().sum() > 0 for a in model.adapters)


def test_adapters_at_init_leave_backbone_features_unchanged(tiny_videomae_config):
    torch.manual_seed(0)
    plain = build_adapted_videomae(tiny_videomae_config, adapter=None)
    adapted = build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter))
    adapted.encoder.load_state_dict(plain.encoder.state_dict())
    frames = torch.randint(0, 255, (2, 20, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(plain(frames), adapted(frames), atol=1e-6)


def test_missing_pretrained_directory_names_the_path(tmp_path, tiny_videomae_config):
    missing = tmp_path / "videomae-small"
    with pytest.raises(MissingCheckpointError, match=str(missing)):
        load_videomae(tiny_videomae_config, pretrained=missing)


def test_loads_local_hugging_face_directory(tmp_path, tiny_videomae_config):
    torch.manual_seed(1)
    original = load_videomae(tiny_videomae_config)
    original.save_pretrained(tmp_path / "tiny")
    loaded = load_videomae(tiny_videomae_config, pretrained=tmp_path / "tiny")
    pixels = torch.randn(1, 16, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(original(pixels).last_hidden_state, loaded(pixels).last_hidden_state)


def test_checkpointing_gives_same_gradients(tiny_videomae_config):
    torch.manual_seed(0)
    a = build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter))
    b = build_adapted_videomae(
        tiny_videomae_config, adapter=functools.partial(DSTAdapter), grad_checkpointing=True
    )
    b.load_state_dict(a.state_dict())
    for model in (a, b):
        for adapter in model.adapters:
            torch.manual_seed(2)
            torch.nn.init.normal_(adapter.up.weight, std=0.1)
    frames = torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8)
    a(frames).sum().backward()
    b(frames).sum().backward()
    assert torch.allclose(a.adapters[0].down.weight.grad, b.adapters[0].down.weight.grad, atol=1e-5)
