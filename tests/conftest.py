"""Shared fixtures: the `small` synthetic set, built once per test session."""

import os

# The suite is compile-bound (tiny models, many programs): LLVM optimisation off makes XLA:CPU
# compile several times faster and costs little at these sizes. Set before JAX starts.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import pathlib  # noqa: E402
import struct  # noqa: E402


def _importable_torchvision() -> None:
    """torchvision's PyPI wheels are built against CUDA torch; beside the CPU-only torch these
    machines install, torchvision 0.28 fails at import, registering fake kernels for two of its
    C++ ops, and so does everything that imports it (lpips, and transformers' model classes, which
    probe for it). Declaring the two ops lets those import; nothing in the tests calls them. The
    library object must live as long as the session."""
    try:
        import torchvision  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        import torch  # pylint: disable=import-outside-toplevel

        globals()["_TORCHVISION_OPS"] = library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision  # noqa: F401,F811  pylint: disable=import-outside-toplevel,unused-import


_importable_torchvision()

import pytest  # noqa: E402
from ml_collections.config_flags.config_flags import ConfigFileFlagParser  # noqa: E402

from diffdub_jax.data import datasets  # noqa: E402

SMALL = "synthetic_talking_faces/small"
CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def load_config(name: str, preset: str):
    """configs/<name>.py's get_config(preset), loaded as `--config=configs/<name>.py:<preset>` loads
    it (unlocked, so a test may add fields)."""
    return ConfigFileFlagParser("config", lock_config=False).parse(f"{CONFIGS / name}.py:{preset}")


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory) -> str:
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    datasets.prepare(SMALL, data_dir)
    return data_dir


def array_record_files(data_dir: str) -> dict[str, bytes]:
    """{file name: bytes} of every array_record shard under data_dir."""
    out = {}
    for root, _, files in os.walk(data_dir):
        for name in files:
            if ".array_record" in name:
                with open(os.path.join(root, name), "rb") as handle:
                    out[name] = handle.read()
    return out


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """Identical XLA programs (the same tiny model compiled by several tests) compile once."""
    import jax  # pylint: disable=import-outside-toplevel

    # the commands' other caches (prepared videos) go under the session's folder, not the user's
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache_home"))
    cache = str(tmp_path_factory.mktemp("xla_cache"))
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache  # for test subprocesses too
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    yield


def tensorboard_scalars(data: bytes) -> list:
    """(step, tag, value) of every scalar in a TFRecord file of TensorBoard events, checking each
    record's checksums."""
    from tensorboardX.proto import event_pb2  # pylint: disable=import-outside-toplevel
    from tensorboardX.record_writer import masked_crc32c  # pylint: disable=import-outside-toplevel

    scalars, position = [], 0
    while position < len(data):
        header = data[position:position + 8]
        (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[position + 8:position + 12])
        assert header_crc == masked_crc32c(header)
        payload = data[position + 12:position + 12 + length]
        assert struct.unpack("<I", data[position + 12 + length:position + 16 + length])[0] == masked_crc32c(payload)
        position += 16 + length
        event = event_pb2.Event.FromString(payload)
        scalars += [(event.step, value.tag, value.simple_value) for value in event.summary.value]
    return scalars
