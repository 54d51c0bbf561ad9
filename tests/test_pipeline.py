"""Grain pipelines: batch shapes, windows and padding, per-host sharding, checkpointable state."""

import functools

import numpy as np
import pytest

from conftest import SMALL, load_config
from diffdub_jax.data import datasets, pipeline
from diffdub_jax.data.framing import Framing
from diffdub_jax.data.pixels import to_unit_range
from diffdub_jax.serving.audio_frontend import AudioFrontend

renderer_config, motion_config = "renderer", "motion"


def _config(name, data_dir):
    config = load_config(name, "tiny")
    config.data.data_dir = data_dir
    return config


def _mel_features():
    return AudioFrontend(load_config("motion", "tiny").audio).for_clip


def test_renderer_batches(small_data_dir):
    config = _config(renderer_config, small_data_dir)
    batch = next(iter(pipeline.renderer_pipeline(config)))
    b, s = config.data.batch_size, config.data.image_size
    for key in ("image", "reference", "encoder_crop"):
        assert batch[key].shape == (b, s, s, 3) and batch[key].dtype == np.float32
        assert batch[key].min() >= -1.0 and batch[key].max() <= 1.0
    assert batch["edit_mask"].shape == (b, s, s, 1)
    assert set(np.unique(batch["edit_mask"])) == {0.0, 1.0}
    assert 0.05 < batch["edit_mask"].mean() < 0.5
    assert (batch["encoder_crop"] == -1.0).all(axis=-1).any(), "encoder crops blank the outside"
    assert not np.array_equal(batch["image"], batch["reference"])


def test_renderer_example_takes_target_and_reference_from_one_clip(small_data_dir):
    clip = datasets.clip_source(SMALL, "train", small_data_dir)[0]
    example = pipeline.renderer_example(0, clip, np.random.default_rng(0), framing=Framing(image_size=64),
                                        num_references=2, augment_crop=False)
    frames = np.stack([to_unit_range(datasets.decode_frame(p)) for p in clip["frames"]["image"]])
    np.testing.assert_array_equal(example["image"], frames[example["frame_index"]])
    references = example["reference"]
    assert references.shape == (64, 64, 6)
    for k in range(2):
        matches = [t for t in range(len(frames)) if np.array_equal(frames[t], references[..., 3 * k : 3 * k + 3])]
        assert matches and int(example["frame_index"]) not in matches


def test_motion_batches_windows_and_references(small_data_dir):
    config = _config(motion_config, small_data_dir)
    source = datasets.clip_source(SMALL, "train", small_data_dir)
    batch = next(iter(pipeline.motion_pipeline(config, _mel_features(), frame_fields=("mouth",))))
    b, w, r = config.data.batch_size, config.data.window_frames, config.data.num_reference_frames
    assert batch["audio_features"].shape == (b, 2 * w, config.audio.num_mels)
    assert batch["valid"].shape == (b, w) and batch["valid"].all()  # clips are longer than w + r
    assert batch["reference_index"].shape == (b, r) and batch["mouth"].shape == (b, w, 3)
    for i in range(b):
        clip = source[int(batch["record_index"][i])]
        window = batch["frame_index"][i]
        np.testing.assert_array_equal(window, np.arange(window[0], window[0] + w))
        assert not set(batch["reference_index"][i]) & set(window), "references overlap the window"
        features = AudioFrontend(config.audio).for_clip(clip)
        np.testing.assert_array_equal(batch["audio_features"][i], features[2 * window[0] : 2 * window[-1] + 2])
        np.testing.assert_array_equal(batch["mouth"][i], np.asarray(clip["frames"]["mouth"])[window])
        np.testing.assert_array_equal(batch["reference_mouth"][i],
                                      np.asarray(clip["frames"]["mouth"])[batch["reference_index"][i]])


def _fake_clip(num_frames: int, identity: int = 0) -> dict:
    rng = np.random.default_rng(num_frames)
    return {
        "clip_id": f"fake{num_frames}",
        "identity": identity,
        "fps": np.float32(25.0),
        "sample_rate": 16000,
        "waveform": rng.integers(-3000, 3000, num_frames * 640, dtype=np.int16),
        "frames": {"image": [b""] * num_frames, "mouth": rng.random((num_frames, 3)).astype(np.float32)},
    }


def test_short_clips_are_padded_with_a_validity_mask():
    clip = _fake_clip(30)
    example = pipeline.motion_example(0, clip, np.random.default_rng(0), window_frames=40,
                                      num_reference_frames=10, featurise=_mel_features(), frame_fields=("mouth",))
    assert example["valid"].sum() == 20 and example["valid"][:20].all()
    assert np.all(example["audio_features"][40:] == 0) and np.all(example["mouth"][20:] == 0)
    assert np.abs(example["audio_features"][:40]).sum() > 0
    window = set(example["frame_index"][:20])
    assert len(set(example["reference_index"])) == 10 and not window & set(example["reference_index"])
    with pytest.raises(ValueError, match="fake10"):
        pipeline.motion_example(0, _fake_clip(10), np.random.default_rng(0), window_frames=40,
                                num_reference_frames=10, featurise=_mel_features())


def _record_index_transform(index, clip, rng):
    return {"record_index": np.int32(index), "noise": np.float32(rng.random())}


@pytest.mark.parametrize("shard_count", [1, 3, 4])
def test_shards_cover_every_example_exactly_once(shard_count):
    source = [_fake_clip(5, identity=i) for i in range(10)]
    seen = []
    for shard in range(shard_count):
        stream = pipeline.make_pipeline(source, _record_index_transform, batch_size=1, seed=3,
                                        shard_index=shard, shard_count=shard_count, num_epochs=1,
                                        drop_remainder=False)
        seen.extend(int(batch["record_index"][0]) for batch in stream)
    assert sorted(seen) == list(range(10))


def test_real_shards_cover_the_small_set(small_data_dir):
    config = _config(renderer_config, small_data_dir)
    seen = []
    for shard in range(2):
        stream = pipeline.renderer_pipeline(config, shard_index=shard, shard_count=2, num_epochs=1,
                                            drop_remainder=False)
        seen.extend(int(i) for batch in stream for i in batch["record_index"])
    assert sorted(seen) == list(range(6))


def test_epochs_are_reshuffled_and_seeds_matter():
    source = [_fake_clip(5, identity=i) for i in range(10)]
    make = functools.partial(pipeline.make_pipeline, source, _record_index_transform, batch_size=10)
    epochs = [b["record_index"].tolist() for b in make(seed=0, num_epochs=2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) and epochs[0] != epochs[1]
    other = next(iter(make(seed=1)))["record_index"].tolist()
    assert other != epochs[0]


def test_restored_iterator_continues_with_the_identical_batch(small_data_dir):
    config = _config(renderer_config, small_data_dir)
    iterator = iter(pipeline.renderer_pipeline(config))
    for _ in range(3):
        next(iterator)
    state = iterator.get_state()
    expected = [next(iterator) for _ in range(2)]
    restored = iter(pipeline.renderer_pipeline(config))
    restored.set_state(state)
    for want in expected:
        got = next(restored)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_bad_shard_arguments_are_refused():
    source = [_fake_clip(5)]
    with pytest.raises(ValueError, match="shard_index 2"):
        pipeline.make_pipeline(source, _record_index_transform, batch_size=1, seed=0,
                               shard_index=2, shard_count=2)
    with pytest.raises(ValueError, match="empty"):
        pipeline.make_pipeline(source, _record_index_transform, batch_size=1, seed=0,
                               shard_index=1, shard_count=2)


def test_clips_kept_in_memory_give_the_batches_read_ones_give(small_data_dir):
    config = _config(renderer_config, small_data_dir)
    assert config.data.cache_clips > 0
    uncached = config.copy_and_resolve_references()
    uncached.data.cache_clips = 0
    batches = [iter(pipeline.renderer_pipeline(c, num_epochs=2)) for c in (config, uncached)]
    for _ in range(2 * 6 // config.data.batch_size):  # every clip of the small set, twice
        got, want = (next(b) for b in batches)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
