"""``task=pretrain``: VideoMAE self-supervised pretraining from the command line.

    python experiments/run.py task=pretrain                                # the demo's tiny backbone
    python experiments/run.py task=pretrain task.videos=DIR task.output=OUT
    python experiments/run.py task=pretrain model=videomae_s pretrain=videomae \\
        pretrain.device=cuda pretrain.precision=bf16 task.videos=/data/mma52/train

The encoder is ``model.backbone.config``, the recipe the ``pretrain`` group. Without
``task.videos`` it pretrains on the training split of the data config (``data.root``'s and every
``data.extra_train`` folder's). Without ``task.output`` the result goes to the keyed cache
(``task.cache``), where ``model.backbone.self_pretrain`` with the same recipe and videos finds
it; either way the run prints the ``model.backbone.pretrained=`` to train a detector on it.
Rerunning a killed command resumes it from its last finished epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from perception.dataset_root import extra_train_roots, prepare_data, refuse_repeated_roots
from perception.pretrain.cache import ensure_pretrained
from perception.pretrain.loop import RECORD, pretrain
from perception.pretrain.settings import PretrainSettings


def pretraining_videos(cfg: DictConfig) -> str | list[str]:
    """``task.videos`` (a folder, a file or a list), else the data config's training split and
    that of every ``data.extra_train`` folder.

    Why the extra folders: a detector trained with ``data.extra_train`` should get a backbone
    pretrained on the same videos. Without them the result stays the single folder's path, so
    the keyed cache finds the backbones pretrained before extra folders existed.
    """
    videos = cfg.task.get("videos")
    if videos:
        if isinstance(videos, str):
            return to_absolute_path(videos)
        return [to_absolute_path(str(v)) for v in videos]
    root = prepare_data(cfg.data)
    train = cfg.data.splits.train
    extra = extra_train_roots(cfg.data)
    if not extra:
        return str(root / train)
    refuse_repeated_roots(root, extra)
    missing = [str(folder / train) for folder in extra if not (folder / train).is_dir()]
    if missing:
        raise FileNotFoundError(f"data.extra_train: no {train!r} split folder at {', '.join(missing)}")
    return [str(folder / train) for folder in (root, *extra)]


def run_pretrain(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    settings = PretrainSettings.from_mapping(OmegaConf.to_container(cfg.pretrain, resolve=True))
    encoder = OmegaConf.to_container(cfg.model.backbone.config, resolve=True)
    videos = pretraining_videos(cfg)
    if cfg.task.get("output"):
        output = Path(to_absolute_path(cfg.task.output))
        print(pretrain(settings, encoder, videos, output).describe())
    else:
        output = ensure_pretrained(settings, videos, encoder, cache=to_absolute_path(cfg.task.cache))
    record = json.loads((output / RECORD).read_text())
    for entry in record["history"]:
        logger.log({"pretrain/loss": entry["loss"]}, step=entry["epoch"])
    result = {
        "output": str(output),
        "videos": len(record["videos"]),
        "skipped": len(record.get("failures", [])),
        "final_loss": record["history"][-1]["loss"] if record["history"] else None,
    }
    logger.summary({f"pretrain/{k}": v for k, v in result.items()})
    print(f"train a detector on it with: model.backbone.pretrained={output}")
    return result
