"""VideoMAE self-supervised pretraining on any folder of videos (``task=pretrain``), and a cache
of pretrained backbones keyed by recipe and video content (``model.backbone.self_pretrain``)."""

from perception.pretrain.cache import ensure_from_config, ensure_pretrained
from perception.pretrain.data import NoVideosError, find_videos
from perception.pretrain.loop import PretrainingFailed, PretrainResult, pretrain
from perception.pretrain.settings import PretrainSettings

__all__ = [
    "NoVideosError",
    "PretrainResult",
    "PretrainSettings",
    "PretrainingFailed",
    "ensure_from_config",
    "ensure_pretrained",
    "find_videos",
    "pretrain",
]
