"""VideoMAE pretraining (perception/pretrain/): masks, schedule, the loop end to end on videos
made here, resuming after a kill, the keyed cache with its lock, and the backbone option."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from perception.backbone import build_adapted_videomae, load_videomae
from perception.position_table import TABLE_KEY
from perception.pretrain import (
    NoVideosError,
    PretrainingFailed,
    PretrainSettings,
    ensure_pretrained,
    find_videos,
    pretrain,
)
from perception.pretrain import cache as cache_module
from perception.pretrain import loop as loop_module
from perception.pretrain.data import batch_masks, random_mask, tube_mask
from perception.pretrain.loop import build_model, learning_rate, parameter_groups, patch_targets
from tests.conftest import TINY_VIDEOMAE, write_test_video

ENCODER = dict(TINY_VIDEOMAE)  # 32 px, 16 frames: a (8, 2, 2) token grid
FAST = dict(
    epochs=2,
    batch_size=4,
    clips_per_video=2,
    lr=0.2,  # per 256 clips: 3e-3 per step
    warmup_epochs=1,
    mask_ratio=0.75,
    frame_stride=1,
    workers=0,
    progress=False,
)


def _moving_block(seed: int):
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, size=3)

    def image(i: int) -> np.ndarray:
        picture = np.empty((32, 32, 3), np.uint8)
        picture[:] = background
        x = (3 * i + seed) % 24
        picture[8:16, x : x + 8] = 255
        return picture

    return image


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    """Three readable videos (one in a subfolder, one AVI), a corrupt .mp4 and a non-video."""
    root = tmp_path_factory.mktemp("pretrain_videos")
    write_test_video(root / "a.mp4", frames=40, size=(32, 32), image=_moving_block(0))
    write_test_video(root / "sub" / "b.mp4", frames=30, size=(32, 32), image=_moving_block(1))
    write_test_video(
        root / "c.avi", frames=12, size=(32, 32), image=_moving_block(2), codec="mjpeg", pix_fmt="yuvj420p"
    )
    (root / "broken.mp4").write_bytes(b"not a video at all")
    (root / "notes.txt").write_text("the annotations live elsewhere")
    return root


# --------------------------------------------------------------------------- pieces


def test_tube_mask_hides_the_same_cells_in_every_frame():
    rng = np.random.default_rng(0)
    mask = tube_mask((8, 4, 4), 0.9, rng).reshape(8, 16)
    assert int(mask[0].sum()) == 14  # int(0.9 * 16)
    assert torch.equal(mask, mask[:1].expand(8, 16))
    other = tube_mask((8, 4, 4), 0.9, rng).reshape(8, 16)
    assert not torch.equal(mask, other)  # a new draw per clip
    masks = batch_masks(3, (8, 4, 4), 0.9, seed=0, epoch=1, step=2)
    assert torch.equal(masks, batch_masks(3, (8, 4, 4), 0.9, seed=0, epoch=1, step=2))  # reproducible
    with pytest.raises(ValueError, match="nothing to see or to predict"):
        tube_mask((8, 2, 2), 0.2, rng)  # hides int(0.8) = 0 of 4 cells


def test_random_mask_hides_tokens_across_time_so_a_hidden_cell_is_seen_elsewhere():
    """``masking=random``: the same share of all tokens, but not the same cells in every frame,
    so a hidden cell's motion can be read from another time slice (what tube masking forbids)."""
    rng = np.random.default_rng(0)
    mask = random_mask((8, 4, 4), 0.75, rng)
    assert mask.shape == (128,) and int(mask.sum()) == 96  # int(0.75 * 128)
    per_cell = mask.reshape(8, 16)
    assert bool((per_cell.any(0) & ~per_cell.all(0)).any())  # some cell hidden in some frames only
    masks = batch_masks(4, (8, 4, 4), 0.75, seed=0, epoch=0, step=0, masking="random")
    assert torch.equal(masks, batch_masks(4, (8, 4, 4), 0.75, seed=0, epoch=0, step=0, masking="random"))
    assert not torch.equal(masks, batch_masks(4, (8, 4, 4), 0.75, seed=0, epoch=0, step=0))  # tube differs
    assert (masks.sum(1) == 96).all()  # every clip hides as many tokens: the decoder needs it
    with pytest.raises(ValueError, match="masking must be one of"):
        batch_masks(1, (8, 4, 4), 0.75, seed=0, epoch=0, step=0, masking="block")
    with pytest.raises(ValueError, match="masking must be one of"):
        PretrainSettings(masking="block")
    assert PretrainSettings(masking="random").recipe()["masking"] == "random"  # part of the cache key


def test_learning_rate_warms_up_linearly_then_follows_a_cosine():
    settings = PretrainSettings(epochs=10, batch_size=64, lr=1e-3, min_lr=1e-4, warmup_epochs=2)
    peak, final = 1e-3 * 64 / 256, 1e-4 * 64 / 256  # VideoMAE's linear scaling rule
    lrs = [learning_rate(settings, step, steps_per_epoch=5) for step in range(50)]
    assert lrs[0] == pytest.approx(peak / 10) and lrs[9] == pytest.approx(peak)
    assert lrs[10] == pytest.approx(peak)
    middle = 10 + 20  # half-way through the 40 cosine steps
    assert lrs[middle] == pytest.approx(final + 0.5 * (peak - final))
    assert lrs[-1] == pytest.approx(final + 0.5 * (peak - final) * (1 + np.cos(np.pi * 39 / 40)))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_weight_decay_spares_biases_norms_and_the_mask_token():
    model = build_model(PretrainSettings(), ENCODER)
    decay, plain = parameter_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    spared = {names[id(p)] for p in plain["params"]}
    assert "mask_token" in spared and "videomae.layernorm.weight" in spared
    assert "videomae.encoder.layer.0.attention.attention.query.bias" in spared
    assert "videomae.encoder.layer.0.attention.attention.query.weight" in decayed
    assert decay["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    assert len(decayed) + len(spared) == len(names)


@pytest.mark.parametrize("normalise", [True, False])
def test_our_pixel_targets_are_the_ones_videomae_reconstructs(normalise):
    """``patch_targets`` must lay tokens and patch pixels out as the model's logits are: a
    decoder that outputs exactly our targets gets a zero loss from the model's own loss, one that
    outputs them in another order does not."""
    settings = PretrainSettings(norm_pix_loss=normalise, mask_ratio=0.5)
    model = build_model(settings, ENCODER).eval()
    torch.manual_seed(1)
    clips = torch.rand(2, 16, 3, 32, 32)
    masks = batch_masks(2, (8, 2, 2), 0.5, seed=0, epoch=0, step=0)
    targets = patch_targets(clips, model.config, "pixels", normalise)[masks].reshape(2, -1, 2 * 16 * 16 * 3)
    for output, expect_zero in ((targets, True), (targets.flip(-1), False), (targets.flip(1), False)):
        hook = model.decoder.head.register_forward_hook(lambda *_, out=output: out)
        with torch.no_grad():
            loss = float(model(loop_module._pixels(clips, "cpu"), bool_masked_pos=masks).loss)
        hook.remove()
        assert (loss < 1e-8) is expect_zero, loss


def test_frame_difference_targets_see_only_what_moves():
    config = build_model(PretrainSettings(), ENCODER).config
    still = torch.rand(1, 1, 3, 32, 32).expand(1, 16, 3, 32, 32)
    assert torch.count_nonzero(patch_targets(still, config, "frame_difference", False)) == 0
    moving = still.clone()
    moving[:, 8:, :, 20:28, 20:28] = 1.0  # a block appears in the bottom-right cell at frame 8
    targets = patch_targets(moving, config, "frame_difference", False).reshape(8, 2, 2, -1)
    changed = targets.abs().sum(-1) > 0
    expected = torch.zeros(8, 2, 2, dtype=torch.bool)
    expected[4, 1, 1] = True  # the token of frames 8-9, bottom-right cell; afterwards it is still
    assert torch.equal(changed, expected)


def test_a_std_floor_keeps_flat_noisy_patches_small():
    """Per-patch normalisation blows camera noise on a flat patch up to unit variance; with a
    floor added to the std it stays about noise/floor, while a patch with real structure is
    still normalised to nearly unit variance."""
    config = build_model(PretrainSettings(), ENCODER).config
    torch.manual_seed(0)
    clips = 0.5 + 0.01 * torch.randn(1, 16, 3, 32, 32)  # flat grey + noise of std 0.01
    clips[..., :16, :16] += torch.linspace(-0.4, 0.4, 16)  # a strong gradient in the top-left cell
    plain = patch_targets(clips, config, "pixels", True).reshape(8, 2, 2, -1)
    floored = patch_targets(clips, config, "pixels", True, std_floor=0.05).reshape(8, 2, 2, -1)
    assert plain[:, 1, 1].std() == pytest.approx(1.0, abs=0.02)  # noise made unit variance
    assert floored[:, 1, 1].std() == pytest.approx(0.01 / 0.06, rel=0.1)  # noise / (noise + floor)
    assert floored[:, 0, 0].std() > 0.8  # structure survives


def test_unknown_or_bad_settings_are_errors():
    with pytest.raises(ValueError, match="unknown pretraining setting.*mask_ration"):
        PretrainSettings.from_mapping({"mask_ration": 0.9})
    with pytest.raises(ValueError, match="multiple of clips_per_video"):
        PretrainSettings(batch_size=3, clips_per_video=2)
    with pytest.raises(ValueError, match="precision"):
        PretrainSettings(precision="fp8")
    with pytest.raises(ValueError, match="target"):
        PretrainSettings(target="flow")


def test_videos_are_found_recursively_by_container(video_folder):
    names = [p.relative_to(video_folder).as_posix() for p in find_videos(video_folder)]
    assert names == ["a.mp4", "broken.mp4", "c.avi", "sub/b.mp4"]


def test_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "labels.csv").write_text("video_id\n")
    with pytest.raises(NoVideosError, match=f"no video files under {tmp_path}"):
        pretrain(PretrainSettings(**FAST), ENCODER, tmp_path, tmp_path / "out")
    with pytest.raises(NoVideosError, match="does not exist"):
        find_videos(tmp_path / "missing")


def test_a_folder_of_unreadable_videos_names_them(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"junk")
    (tmp_path / "y.mkv").write_bytes(b"")
    with pytest.raises(
        PretrainingFailed,
        match=r"none of the 2 video\(s\) can be decoded:\n  \S*x\.mp4: not a video.*\n  \S*y\.mkv: ",
    ):
        pretrain(PretrainSettings(**FAST), ENCODER, tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------- the loop


@pytest.fixture(scope="module")
def pretrained_dir(video_folder, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("pretrained") / "tiny"
    result = pretrain(PretrainSettings(**FAST), ENCODER, video_folder, output)
    assert [v for v, _ in result.failures] == [str(video_folder / "broken.mp4")]
    return output


def test_pretraining_writes_a_hugging_face_directory_the_backbone_loads(pretrained_dir, video_folder):
    assert {p.name for p in pretrained_dir.iterdir()} == {"config.json", "model.safetensors", "pretrain.json"}
    assert not pretrained_dir.with_name("tiny.partial").exists()  # the resumable state is gone
    record = json.loads((pretrained_dir / "pretrain.json").read_text())
    assert [e["epoch"] for e in record["history"]] == [1, 2]
    assert record["failures"][0][0].endswith("broken.mp4") and "not a video" in record["failures"][0][1]
    assert len(record["videos"]) == 3
    # the loader takes the encoder out of the pretraining model: exactly the saved tensors
    saved = load_file(str(pretrained_dir / "model.safetensors"))
    encoder = load_videomae(ENCODER, pretrained_dir)
    weights = {k: v for k, v in encoder.state_dict().items() if k != TABLE_KEY}
    for key, value in weights.items():
        stored = key.replace("attention.attention.query.bias", "attention.attention.q_bias")
        stored = stored.replace("attention.attention.value.bias", "attention.attention.v_bias")
        assert torch.equal(value, saved[f"videomae.{stored}"]), key
    assert encoder.layernorm is not None  # VideoMAE's pretraining encoder ends with a norm
    # and training moved the weights away from their initialisation
    initial = build_model(PretrainSettings(**FAST), ENCODER).videomae.state_dict()
    moved = [k for k in weights if not torch.equal(weights[k], initial[k])]
    assert len(moved) > 0.9 * len(weights)
    backbone = build_adapted_videomae(ENCODER, pretrained=str(pretrained_dir))
    with torch.no_grad():
        assert backbone(torch.randint(0, 255, (1, 20, 32, 32, 3), dtype=torch.uint8)).shape == (1, 32, 10)


@pytest.mark.parametrize("keep_decoded", [False, True])
def test_a_video_that_fails_while_training_is_skipped_and_listed(
    video_folder, tmp_path, monkeypatch, keep_decoded
):
    """A file that passes the up-front check but cannot be decoded: the run goes on without it."""
    monkeypatch.setattr(loop_module, "check_videos", lambda videos, progress: (list(videos), []))
    settings = PretrainSettings(**{**FAST, "epochs": 1, "keep_decoded": keep_decoded})
    result = pretrain(settings, ENCODER, video_folder, tmp_path / "out")
    assert [Path(v).name for v, _ in result.failures] == ["broken.mp4"]
    assert result.clips == 3 * 2  # the three readable videos, two clips each
    record = json.loads((tmp_path / "out" / "pretrain.json").read_text())
    assert record["failures"][0][0].endswith("broken.mp4")


def test_pretraining_never_overwrites_a_backbone(pretrained_dir, video_folder):
    with pytest.raises(FileExistsError, match="never overwrites"):
        pretrain(PretrainSettings(**FAST), ENCODER, video_folder, pretrained_dir)


def test_a_killed_run_resumes_to_the_same_weights(pretrained_dir, video_folder, tmp_path, monkeypatch):
    original = loop_module._save_state

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after epoch 1's state was written

    monkeypatch.setattr(loop_module, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(PretrainSettings(**FAST), ENCODER, video_folder, tmp_path / "tiny")
    assert (tmp_path / "tiny.partial" / "state.pt").is_file() and not (tmp_path / "tiny").exists()
    monkeypatch.setattr(loop_module, "_save_state", original)
    with pytest.raises(PretrainingFailed, match="other settings"):
        pretrain(PretrainSettings(**{**FAST, "mask_ratio": 0.5}), ENCODER, video_folder, tmp_path / "tiny")
    resumed = pretrain(PretrainSettings(**FAST), ENCODER, video_folder, tmp_path / "tiny")
    assert [e["epoch"] for e in resumed.history] == [1, 2]
    straight = load_file(str(pretrained_dir / "model.safetensors"))
    again = load_file(str(tmp_path / "tiny" / "model.safetensors"))
    assert straight.keys() == again.keys()
    for key in straight:
        assert torch.allclose(straight[key], again[key], atol=1e-6), key


def test_bf16_pretraining_runs_with_16_bit_activations(video_folder, tmp_path, monkeypatch):
    dtypes = set()
    build = loop_module.build_model

    def hooked(*args, **kwargs):
        model = build(*args, **kwargs)
        model.videomae.encoder.layer[0].register_forward_hook(
            lambda _m, _i, out: dtypes.add((out[0] if isinstance(out, tuple) else out).dtype)
        )
        return model

    monkeypatch.setattr(loop_module, "build_model", hooked)
    result = pretrain(
        PretrainSettings(**{**FAST, "epochs": 1, "precision": "bf16"}),
        ENCODER,
        video_folder,
        tmp_path / "bf16",
    )
    assert dtypes == {torch.bfloat16}
    assert np.isfinite(result.history[0]["loss"])
    assert load_file(str(tmp_path / "bf16" / "model.safetensors"))["mask_token"].dtype == torch.float32


def test_the_loop_draws_the_masking_its_settings_name(video_folder, tmp_path, monkeypatch):
    """``masking=random`` reaches the optimizer steps: no step sees a tube mask."""
    seen = []
    draw = loop_module.batch_masks

    def recording(*args, **kwargs):
        masks = draw(*args, **kwargs)
        seen.append(masks.reshape(len(masks), 8, 4))  # ENCODER's (8, 2, 2) grid
        return masks

    monkeypatch.setattr(loop_module, "batch_masks", recording)
    result = pretrain(
        PretrainSettings(**{**FAST, "epochs": 1, "masking": "random"}), ENCODER, video_folder, tmp_path / "r"
    )
    assert seen and np.isfinite(result.history[0]["loss"])
    tubes = [bool((m == m[:, :1]).all()) for masks in seen for m in masks]
    assert not any(tubes)  # a tube mask hides the same cells in all 8 time slices


# --------------------------------------------------------------------------- the cache


def test_cache_key_follows_content_and_recipe_not_names_or_runtime(video_folder, tmp_path):
    from perception.cue_cache import HashMemo

    memo = HashMemo(tmp_path / "hashes.json")
    settings = PretrainSettings(**FAST)
    hashes = [h for h, _ in cache_module.content_hashes(find_videos(video_folder), memo)]
    key = cache_module.cache_key(settings, ENCODER, hashes)
    moved = tmp_path / "moved"
    shutil.copytree(video_folder, moved / "elsewhere")
    (moved / "elsewhere" / "a.mp4").rename(moved / "elsewhere" / "renamed.mp4")
    moved_hashes = [h for h, _ in cache_module.content_hashes(find_videos(moved), memo)]
    assert cache_module.cache_key(settings, ENCODER, moved_hashes) == key
    runtime = PretrainSettings(**{**FAST, "workers": 3, "device": "cuda", "keep_decoded": True})
    assert cache_module.cache_key(runtime, ENCODER, hashes) == key
    assert cache_module.cache_key(PretrainSettings(**{**FAST, "mask_ratio": 0.5}), ENCODER, hashes) != key
    assert cache_module.cache_key(settings, {**ENCODER, "num_hidden_layers": 3}, hashes) != key
    same = {**ENCODER, "use_mean_pooling": True, "layer_norm_eps": 1e-12}  # no change, a default
    assert cache_module.cache_key(settings, same, hashes) == key
    assert cache_module.cache_key(settings, {**ENCODER, "layer_norm_eps": 1e-6}, hashes) != key
    write_test_video(moved / "elsewhere" / "renamed.mp4", frames=41, size=(32, 32), image=_moving_block(0))
    changed = [h for h, _ in cache_module.content_hashes(find_videos(moved), memo)]
    assert cache_module.cache_key(settings, ENCODER, changed) != key


def test_ensure_pretrained_trains_once_and_concurrent_callers_wait(video_folder, tmp_path, monkeypatch):
    calls = []
    real = cache_module.pretrain

    def counted(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "pretrain", counted)
    settings = {**FAST, "epochs": 1}
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(ensure_pretrained(settings, video_folder, ENCODER, tmp_path))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results[0] == results[1] == calls[0]
    record = json.loads((results[0] / "pretrain.json").read_text())
    assert record["describe"]["cache_key"] == results[0].name
    # the videos were trained on in the order of their content hashes
    assert record["describe"]["video_sha256"] == sorted(record["describe"]["video_sha256"])
    assert ensure_pretrained(settings, video_folder, ENCODER, tmp_path) == results[0]
    assert len(calls) == 1


def test_backbone_self_pretrain_loads_the_cached_backbone(video_folder, tmp_path):
    options = {**FAST, "epochs": 1, "videos": str(video_folder), "cache": str(tmp_path)}
    backbone = build_adapted_videomae(ENCODER, self_pretrain=options)
    folder = ensure_pretrained({**FAST, "epochs": 1}, video_folder, ENCODER, tmp_path)
    direct = load_videomae(ENCODER, folder)
    assert all(torch.equal(v, direct.state_dict()[k]) for k, v in backbone.encoder.state_dict().items())
    with pytest.raises(ValueError, match="either pretrained .* or self_pretrain"):
        build_adapted_videomae(ENCODER, pretrained=str(folder), self_pretrain=options)
    with pytest.raises(ValueError, match="needs `videos`"):
        build_adapted_videomae(ENCODER, self_pretrain={**FAST, "cache": str(tmp_path)})


# --------------------------------------------------------------------------- task=pretrain


TASK_OVERRIDES = [
    "task=pretrain",
    "logger=none",
    *(f"model.backbone.config.{k}={v}" for k, v in ENCODER.items()),
    *(f"pretrain.{k}={v}" for k, v in {**FAST, "epochs": 1}.items()),
]


def test_task_config_composes_with_either_recipe():
    from hydra import compose, initialize_config_dir

    from tests.conftest import REPO_ROOT

    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        tiny = compose("config", overrides=["task=pretrain"])
        real = compose("config", overrides=["task=pretrain", "model=videomae_s", "pretrain=videomae"])
    assert tiny.task.entry._target_ == "perception.pretrain.task.run_pretrain"
    assert tiny.pretrain.epochs != real.pretrain.epochs and real.pretrain.precision == "bf16"
    for cfg in (tiny, real):  # every recipe field is a setting, and the interpolations resolve
        from omegaconf import OmegaConf

        PretrainSettings.from_mapping(OmegaConf.to_container(cfg.pretrain, resolve=True))
    assert real.pretrain.frame_stride == real.data.frame_stride


@pytest.mark.slow
def test_pretrain_task_writes_a_backbone_that_the_detector_config_loads(tmp_path, tiny_synthetic_root):
    from tests.conftest import run_python

    output = tmp_path / "backbone"
    result = run_python(
        "experiments/run.py",
        *TASK_OVERRIDES,
        f"task.videos={tiny_synthetic_root / 'train'}",
        f"task.output={output}",
        f"hydra.run.dir={tmp_path / 'run1'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"model.backbone.pretrained={output}" in result.stdout
    loaded = build_adapted_videomae(ENCODER, pretrained=str(output))
    assert loaded.encoder.layernorm is not None
    # without task.videos: the data config's train split; without task.output: the keyed cache
    # (in this process: the entry function on the composed config)
    from hydra import compose, initialize_config_dir

    from experiments.loggers import NullLogger
    from perception.pretrain.task import run_pretrain
    from tests.conftest import REPO_ROOT

    overrides = [*TASK_OVERRIDES, f"data.root={tiny_synthetic_root}", "data.synthetic=null"]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"task.cache={tmp_path / 'cache'}"])
    summary = run_pretrain(cfg, tmp_path / "run2", NullLogger())
    folders = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(folders) == 1 and summary["output"] == str(folders[0])
    assert summary["videos"] == len(list((tiny_synthetic_root / "train").glob("*.mp4")))
    # the same videos and recipe through the cache API: the same folder, no new training
    record = json.loads((folders[0] / "pretrain.json").read_text())
    recipe = {**record["settings"], "progress": False}
    assert ensure_pretrained(recipe, tiny_synthetic_root / "train", ENCODER, tmp_path / "cache") == folders[0]
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1


def test_pretraining_videos_default_to_the_train_splits_of_data_root_and_extra_train(tmp_path):
    """task=pretrain without task.videos must pretrain on what task=mmad trains on: data.root's
    train split and each data.extra_train folder's; without extras, the bare folder path (the
    cache key backbones were pretrained under)."""
    from hydra import compose, initialize_config_dir

    from perception.pretrain.task import pretraining_videos
    from tests.conftest import REPO_ROOT

    root, extra = tmp_path / "root", tmp_path / "draw1"
    for folder in (root / "train", extra / "train"):
        folder.mkdir(parents=True)
    base = ["task=pretrain", f"data.root={root}", "data.synthetic=null"]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        alone = compose("config", overrides=base)
        joined = compose("config", overrides=[*base, f"data.extra_train=[{extra}]"])
        broken = compose("config", overrides=[*base, f"data.extra_train=[{tmp_path / 'nowhere'}]"])
        twice = compose("config", overrides=[*base, f"data.extra_train=[{root}]"])
    assert pretraining_videos(alone) == str(root / "train")
    assert pretraining_videos(joined) == [str(root / "train"), str(extra / "train")]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pretraining_videos(broken)
    with pytest.raises(ValueError, match="listed twice"):
        pretraining_videos(twice)
