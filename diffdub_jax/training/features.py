"""Audio features of every record of a dataset split, stored once for stage-2 training.

HuBERT-large on a training example's audio (a 10 s window with 3 s of context each side) costs
5.8x the `real` motion generator's whole train step per example on the same device
(benchmarks/hdtf.py: 12.7 s vs 2.2 s on the CPU), so computing the features inside the step
would make stage 2 6.8x slower, every epoch, for features that never change. Stored once they
cost disk instead: 2.56 MB per audio second in float16, about 147 GB for HDTF's 16 hours. They
are computed by the serving layer's AudioFrontend (the one `infer` uses) and stored as
`<output>/<split>/<record:06d>.npy` (record_store). Each process of a multi-host job takes every
process_count-th record; records already on disk are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import ml_collections
from tqdm import tqdm

from diffdub_jax.errors import InvalidInputError
from diffdub_jax import distributed
from diffdub_jax.data import datasets, record_store
from diffdub_jax.serving.audio_frontend import AudioFrontend


def extract_audio_features(config: ml_collections.ConfigDict, output: str, splits: tuple[str, ...] = ("train", "test"),
                           *, hubert_dir: str | None = None, process_index: int = 0,
                           process_count: int = 1) -> dict:
    """Stores the features config.audio's frontend makes for every record of `splits` of
    config.data's dataset; returns {split: number of records}. Each process stores records
    process_index, process_index + process_count, ...; once all have, process 0 writes info.json."""
    frontend = AudioFrontend(config.audio, hubert_dir)
    frontend.check(config.model)
    store = record_store.audio_features(output)
    counts = {}
    for split in splits:
        source = datasets.clip_source(config.data.name, split, config.data.data_dir)
        todo = [i for i in range(process_index, len(source), process_count) if not store.has(split, i)]
        for record_index in tqdm(todo, desc=f"audio features {split}"):
            store.save(split, record_index, frontend.for_clip(source[record_index]))
        counts[split] = len(source)
    distributed.wait_for_all_processes("audio_features_written")  # info.json marks a finished store
    if process_index == 0:
        store.write_info({"dataset": config.data.name, "frontend": frontend.kind, "hubert_dir": frontend.hubert_dir,
                          "audio_dim": int(config.model.audio_dim), "audio_layers": int(config.model.audio_layers),
                          "records": counts})
    return counts


def check_features(config: ml_collections.ConfigDict) -> None:
    """Fails early, naming the mismatch, when data.features_dir does not fit the config."""
    info = record_store.audio_features(config.data.features_dir).read_info()
    if info.dataset != config.data.name:
        raise InvalidInputError(f"{config.data.features_dir} was extracted from {info.dataset!r}, not data.name "
                         f"{config.data.name!r}")
    if (info.audio_dim, info.audio_layers) != (config.model.audio_dim, config.model.audio_layers):
        raise InvalidInputError(f"{config.data.features_dir} holds {info.audio_layers} states of {info.audio_dim} values; "
                         f"the model reads {config.model.audio_layers} of {config.model.audio_dim}")
