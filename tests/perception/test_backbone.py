import functools

import pytest
import torch

from perception.adapters import DSTAdapter, PlainAdapter, TIAdapter
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


# --------------------------------------------------------------------------- adapter zoo in the backbone

ZOO = {
    "dsta": dict(adapter=functools.partial(DSTAdapter)),
    "tia": dict(adapter=functools.partial(TIAdapter)),
    "plain": dict(adapter=functools.partial(PlainAdapter)),
    "full": dict(adapter=None, freeze_backbone=False),
    "frozen": dict(adapter=None, freeze_backbone=True),
}


def _perturb_adapters(model, seed: int = 2) -> None:
    """Zero-initialised up-projections block gradients to everything before them."""
    torch.manual_seed(seed)
    for adapter in model.adapters:
        torch.nn.init.normal_(adapter.up.weight, std=0.1)


def test_adapter_blocks_selects_blocks_counting_from_the_end(tiny_videomae_config):
    config = dict(tiny_videomae_config, num_hidden_layers=4)
    torch.manual_seed(0)
    model = build_adapted_videomae(config, adapter=functools.partial(PlainAdapter), adapter_blocks=[-1, 1])
    assert model.adapter_blocks == (1, 3)
    assert len(model.adapters) == 2
    # only the chosen blocks see an adapter: a non-identity adapter changes the output, and
    # hooks show which block outputs it is applied to
    _perturb_adapters(model)
    seen = []
    for i, adapter in enumerate(model.adapters):
        adapter.register_forward_hook(lambda *_, i=i: seen.append(model.adapter_blocks[i]))
    with torch.no_grad():
        model(torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8))
    assert seen == [1, 3]


@pytest.mark.parametrize("blocks", [[4], [-5], [0, -4]])
def test_adapter_blocks_out_of_range_or_repeated_are_errors(tiny_videomae_config, blocks):
    config = dict(tiny_videomae_config, num_hidden_layers=4)
    with pytest.raises(ValueError, match="does not exist|twice"):
        build_adapted_videomae(config, adapter=functools.partial(PlainAdapter), adapter_blocks=blocks)


@pytest.mark.parametrize("variant", sorted(ZOO))
def test_which_backbone_parameters_train(tiny_videomae_config, variant):
    torch.manual_seed(0)
    model = build_adapted_videomae(tiny_videomae_config, **ZOO[variant]).train()
    _perturb_adapters(model)
    feats = model(torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8))
    encoder_grads = variant == "full"
    if variant == "frozen":
        assert not feats.requires_grad  # ran under no_grad: nothing stored for a backward pass
        assert not any(p.requires_grad for p in model.parameters())
        return
    feats.square().sum().backward()
    assert all((p.grad is not None) is encoder_grads for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.adapters.parameters())
    assert (len(model.adapters) > 0) is (variant in ("dsta", "tia", "plain"))


@pytest.mark.parametrize("variant", ["dsta", "tia", "plain", "full"])
def test_activation_checkpointing_gives_the_same_gradients(tiny_videomae_config, variant):
    torch.manual_seed(0)
    plain = build_adapted_videomae(tiny_videomae_config, **ZOO[variant]).train()
    checkpointed = build_adapted_videomae(tiny_videomae_config, **ZOO[variant], grad_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.train()
    for model in (plain, checkpointed):
        _perturb_adapters(model)
    frames = torch.randint(0, 255, (1, 40, 32, 32, 3), dtype=torch.uint8)  # 3 chunks
    plain(frames).square().sum().backward()
    checkpointed(frames).square().sum().backward()
    grads = {n: p.grad for n, p in plain.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for g in grads.values())
    for name, param in checkpointed.named_parameters():
        if param.requires_grad:
            assert torch.allclose(param.grad, grads[name], rtol=1e-4, atol=1e-6), name


def test_checkpointing_really_recomputes_blocks_in_backward(tiny_videomae_config):
    """Activation checkpointing must run each block a second time during backward; otherwise the
    option silently stores every activation."""
    calls = {"count": 0}
    model = build_adapted_videomae(
        tiny_videomae_config, adapter=functools.partial(TIAdapter), grad_checkpointing=True
    ).train()
    model.encoder.encoder.layer[0].register_forward_hook(
        lambda *_: calls.__setitem__("count", calls["count"] + 1)
    )
    out = model(torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8))
    assert calls["count"] == 1
    out.sum().backward()
    assert calls["count"] == 2


def test_activation_checkpointing_under_bf16_autocast_gives_the_same_gradients(tiny_videomae_config):
    """The recomputation in backward must run under the same autocast state as the forward."""
    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        model = build_adapted_videomae(
            tiny_videomae_config, adapter=functools.partial(TIAdapter), grad_checkpointing=checkpointed
        ).train()
        _perturb_adapters(model)
        frames = torch.randint(
            0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(frames)
        assert out.dtype == torch.bfloat16
        out.float().square().sum().backward()
        grads.append([p.grad.clone() for p in model.adapters.parameters()])
    for plain, recomputed in zip(*grads, strict=True):
        assert torch.equal(plain, recomputed)


def _with_and_without(config, **option):
    """A backbone with one input option on, the same weights without it, and test clips: a
    21-frame motion (not a chunk multiple, so padding is exercised) and a static image."""
    torch.manual_seed(0)
    with_option = build_adapted_videomae(config, **option)
    plain = build_adapted_videomae(config)
    plain.load_state_dict(with_option.state_dict())
    return with_option, plain, torch.rand(1, 21, 32, 32, 3) * 0.5, torch.rand(1, 1, 32, 32, 3) * 0.5


def test_center_frames_sees_only_what_changes_within_the_video(tiny_videomae_config):
    """With ``center_frames`` a static image added to every frame (a subject's colours, the
    chair) changes nothing; without it, it does. Lengths differ from the chunk, so the padding
    repeats a centred frame."""
    centred, plain, motion, static = _with_and_without(tiny_videomae_config, center_frames=True)
    with torch.no_grad():
        assert torch.allclose(centred(motion), centred(motion + static), atol=1e-5)
        assert not torch.allclose(plain(motion), plain(motion + static), atol=1e-2)
        # and the motion itself still matters
        assert not torch.allclose(centred(motion), centred(motion.flip(1)), atol=1e-2)


def test_frame_difference_sees_each_frame_minus_the_previous_one(tiny_videomae_config):
    """With ``frame_difference`` a static image cancels and a video the backbone sees is its
    frame-to-frame change: a still video looks like a black one, and a moving one does not."""
    differenced, plain, motion, static = _with_and_without(tiny_videomae_config, frame_difference=True)
    still = static.expand(1, 21, 32, 32, 3)
    with torch.no_grad():
        assert torch.allclose(differenced(motion), differenced(motion + static), atol=1e-5)
        assert torch.allclose(differenced(still), differenced(torch.zeros_like(still)), atol=1e-5)
        assert not torch.allclose(plain(still), plain(torch.zeros_like(still)), atol=1e-2)
        # the order of the frames matters: differences are not a mean frame removed
        assert not torch.allclose(differenced(motion), differenced(motion.flip(1)), atol=1e-2)
        # the chunk's padding is a still continuation (zero differences), not the last motion
        # repeated: 21 frames padded to 32 equal the same frames followed by 11 copies of the last
        held = torch.cat([motion, motion[:, -1:].expand(1, 11, 32, 32, 3)], dim=1)
        assert torch.allclose(differenced(motion), differenced(held)[..., :11], atol=1e-5)


def test_difference_std_divides_the_frame_differences(tiny_videomae_config):
    """``difference_std=s`` sees a video as the unscaled differencing backbone sees the same video
    with its changes divided by s (differences are linear in the frames), and the option refuses
    to act without ``frame_difference``."""
    torch.manual_seed(0)
    scaled = build_adapted_videomae(tiny_videomae_config, frame_difference=True, difference_std=0.25)
    unscaled = build_adapted_videomae(tiny_videomae_config, frame_difference=True)
    unscaled.load_state_dict(scaled.state_dict())
    motion = torch.rand(1, 21, 32, 32, 3) * 0.5
    with torch.no_grad():
        assert torch.allclose(scaled(motion), unscaled(motion / 0.25), atol=1e-4)
        assert not torch.allclose(scaled(motion), unscaled(motion), atol=1e-2)
    with pytest.raises(ValueError, match="frame_difference"):
        build_adapted_videomae(tiny_videomae_config, difference_std=0.25)
    with pytest.raises(ValueError, match="positive"):
        build_adapted_videomae(tiny_videomae_config, frame_difference=True, difference_std=0)
