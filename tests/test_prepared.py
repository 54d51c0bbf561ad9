"""Prepared videos: the second dub of a video reuses its preparation and gives the same frames; a
changed video, framing or renderer misses; a damaged entry is rebuilt."""

import os

import numpy as np
import pytest

from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.inference.prepared import PreparedVideos
from hdtf_fixtures import talking_video
from renderer_fixtures import random_stages

pytestmark = pytest.mark.slow  # dubs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared")
    stages = random_stages(root)
    clip = str(root / "clip.mp4")
    talking_video(clip, 0.6, fps=25)
    return root, stages, clip


def _frames(result_path):
    from diffdub_jax.data import video  # pylint: disable=import-outside-toplevel
    return np.stack(list(video.read_frames(result_path)))


def test_a_second_dub_reuses_the_preparation_and_gives_the_same_frames(setup, tmp_path):
    root, stages, clip = setup
    models = DubbingModels.load(*stages)
    cache = PreparedVideos(str(tmp_path / "cache"))
    seen = {}

    def dubbed(name, **options):
        kept = []
        result = dub(clip, str(tmp_path / f"{name}.mp4"), models, reference="first",
                     on_frame=lambda t, s, frame: kept.append(frame), **options)
        seen[name] = np.stack(kept)
        return result

    plain = dubbed("plain")
    first, second = dubbed("first", prepared_videos=cache), dubbed("second", prepared_videos=cache)
    assert (plain.prepared_from_cache, first.prepared_from_cache, second.prepared_from_cache) == (False, False, True)
    np.testing.assert_array_equal(seen["plain"], seen["first"])
    np.testing.assert_array_equal(seen["first"], seen["second"])
    assert second.timings["detect"] < first.timings["detect"] / 5

    entry, = [path for path in (tmp_path / "cache").iterdir()]
    os.truncate(entry / "crops.npy", os.path.getsize(entry / "crops.npy") // 2)  # a damaged entry
    rebuilt = dubbed("rebuilt", prepared_videos=cache)
    assert not rebuilt.prepared_from_cache
    np.testing.assert_array_equal(seen["rebuilt"], seen["first"])
    assert dubbed("again", prepared_videos=cache).prepared_from_cache


def test_another_video_framing_or_renderer_misses(setup, tmp_path):
    root, (renderer, _), clip = setup
    cache = PreparedVideos(str(tmp_path / "cache"))
    key = {"size": 32, "crop_scale": 2.0, "face_index": 0, "renderer": f"{renderer}@0"}
    entry = cache.entry(clip, **key)
    other_clip = str(tmp_path / "other.mp4")
    talking_video(other_clip, 0.6, fps=25, motion_seed=3)
    assert len({entry, cache.entry(other_clip, **key), cache.entry(clip, **{**key, "crop_scale": 1.6}),
                cache.entry(clip, **{**key, "face_index": 1}), cache.entry(clip, **{**key, "size": 64}),
                cache.entry(clip, **{**key, "renderer": f"{renderer}@1"})}) == 6
    assert cache.entry(clip, **key) == entry


def test_the_cache_keeps_to_its_bound_least_recently_used_out_first(setup, tmp_path):
    root, stages, clip = setup
    models = DubbingModels.load(*stages)
    one = PreparedVideos(str(tmp_path / "cache"))
    dub(clip, str(tmp_path / "a.mp4"), models, reference="first", prepared_videos=one)
    entry_size = sum(path.stat().st_size for path in next((tmp_path / "cache").iterdir()).iterdir())
    bounded = PreparedVideos(str(tmp_path / "cache"), max_bytes=int(1.5 * entry_size))
    dub(clip, str(tmp_path / "b.mp4"), models, reference="first", prepared_videos=bounded, crop_scale=1.8)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].name == bounded.entry(
        clip, size=models.renderer.image_size, crop_scale=1.8, face_index=0, renderer=models.renderer.checkpoint
    ).rsplit("/", 1)[-1]
