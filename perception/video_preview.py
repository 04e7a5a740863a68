"""A small browser-playable copy of a video, for reports that play it beside its timeline.

Browsers play H.264 in MP4 (and VP8/VP9/AV1 in WebM) but not AVI, MPEG-4 part 2, ProRes
and most camera formats; the HTML report links the original when a browser can play it and
this copy otherwise. H.264 (yuv420p, ``+faststart`` so playback and seeking start before the
whole file arrives) at the original frame rate, the longer side at most ``max_side``
pixels, rotation metadata applied to the pixels. Written atomically.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from perception.atomic import atomic_path
from perception.video import ResampledStream, VideoDecodeError, VideoInfo, frame_to_rgb, probe_video


def preview_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    """(width, height) of the copy: aspect kept, even numbers (yuv420p needs them)."""
    scale = min(1.0, max_side / max(info.width, info.height))
    return max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2)


def write_preview(source: str | Path, target: str | Path, max_side: int = 640, crf: int = 26) -> Path:
    """Transcode ``source`` to an H.264 MP4 at ``target``; raises VideoDecodeError naming the
    source when it cannot be read."""
    import av

    source, target = Path(source), Path(target)
    info = probe_video(source)
    width, height = preview_size(info, max_side)
    rate = Fraction(info.fps or 25.0).limit_denominator(1001)
    try:
        with (
            atomic_path(target) as temporary,
            av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as writer,
        ):
            stream = writer.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            # a constant-rate clock at the average fps: mislabelled or variable timestamps of
            # the original land on the nearest tick (perception.video.ResampledStream)
            for sample in ResampledStream(source, float(rate), info):
                image = frame_to_rgb(sample.frame, width, height, info.rotation)
                out = av.VideoFrame.from_ndarray(image, format="rgb24")
                out.pts, out.time_base = sample.index, Fraction(1) / rate
                writer.mux(stream.encode(out))
            writer.mux(stream.encode())
    except av.error.FFmpegError as error:
        raise VideoDecodeError(f"{source}: cannot write a preview copy ({error})") from error
    return target
