"""A local Google Cloud Storage for tests: `gcs_bucket` yields 'gs://<bucket>' served on 127.0.0.1.

    from gcs_emulator import gcs_bucket, gcs_dir  # noqa: F401  (pytest fixtures)

    def test_something(gcs_dir):            # 'gs://diffdub-test-bucket/<test name>-<random>'
        Workdir(gcs_dir).save_variables(...)

The emulator is the pure-Python `gcp-storage-emulator` (PyPI), run in a subprocess of this file
(`python tests/gcs_emulator.py --bucket NAME` prints `PORT <n>` once it serves, and stops when its
standard input closes: at the session's end, or when the test process dies), in memory, on a port
the OS picks. Nothing leaves the machine: every library below is pointed at it, and none of them
looks for credentials.

How each library that writes or reads gs:// here is pointed at it (`emulator_env`, set for the
whole session and restored after it; test subprocesses inherit it):

  etils.epath  gs:// goes to fsspec's 'gcs' filesystem, that is gcsfs (epath would take
      tf.io.gfile instead where TensorFlow is installed; the project does not install it). gcsfs
      reads STORAGE_EMULATOR_HOST when a filesystem is created; token='anon' (fsspec config)
      keeps it from looking for credentials.
      gcsfs >= 2026 makes `gcsfs.GCSFileSystem` its ExtendedGcsFileSystem, which first asks the
      Storage Control gRPC API for each bucket's layout: against an HTTP emulator every such call
      fails after a 60 s timeout and is not cached, so here 'gcs'/'gs' are the plain
      `gcsfs.core.GCSFileSystem` (GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false does the same for a
      process that imports gcsfs afterwards). epath and fsspec cache filesystems: the caches are
      cleared on entry and on exit, so none made before the session points at the real GCS.
  Orbax  metadata through epath (above); arrays through tensorstore's 'gcs' kvstore, which reads
      TENSORSTORE_GCS_HTTP_URL whenever a gcs kvstore is opened, and GOOGLE_AUTH_TOKEN_FOR_TESTING
      once per process, at its first gcs use (without it tensorstore looks up
      metadata.google.internal): set both before the first gs:// checkpoint of the process.
  TensorBoard (tensorboardX.SummaryWriter)  event files through google-cloud-storage, whose
      Client() reads STORAGE_EMULATOR_HOST when created (one per event file) and then uses
      anonymous credentials.
  TFDS  metadata through epath; array_record's C++ reader opens gs:// itself through
      google-cloud-cpp, which reads CLOUD_STORAGE_EMULATOR_ENDPOINT at each open and then uses no
      credentials (without it, it looks up metadata.google.internal and hangs). array_record's
      writer has no gs:// support (it open()s 'gs://...' as a local path): TFDS cannot build a
      dataset into gs://, only read one copied there.
  GCE_METADATA_ROOT and NO_GCE_CHECK point any credential lookup that remains at a closed local
      port.

The emulator lacks four things of the GCS JSON API that these libraries use; the subprocess adds
them to its routes (`_add_missing_api`), each as GCS documents it:
  - objects.move (POST .../o/SRC/moveTo/o/DST), gcsfs's rename: the emulator answers 501, which
    gcsfs retries six times with backoff (about 30 s) before copying and deleting instead;
  - suffix byte ranges ('Range: bytes=-N', the last N bytes), how array_record's reader reads a
    file's footer: the emulator ignores them and sends the whole object, and the reader then
    finds 0 records;
  - objects.list's startOffset/endOffset, tensorstore's way of listing a prefix: the emulator
    ignores them and lists the whole bucket;
  - the x-goog-generation header of a media download, from which tensorstore takes the generation
    of what it read: without it the generation is 0, and the conditional write that follows
    (OCDBT updating an existing manifest.ocdbt, so now and then an Orbax save) fails with
    'Malformed StorageGeneration'.
The emulator does not check preconditions (ifGenerationMatch and the like): a conditional write
always succeeds, so tests here cannot catch two writers racing.
"""

from __future__ import annotations

import importlib
import os
import re
import select
import subprocess
import sys
import urllib.request
import uuid

import pytest

EMULATOR_PACKAGE = "gcp-storage-emulator"  # tested with 2026.7.19
BUCKET = "diffdub-test-bucket"  # GCS names: 3-63 characters (tensorstore rejects shorter ones)
STARTUP_SECONDS = 30


def emulator_env(endpoint: str) -> dict[str, str]:
    """The environment that points every gs:// library of the project at `endpoint`
    ('http://127.0.0.1:PORT'). See the module docstring for who reads what, and when."""
    return {
        "STORAGE_EMULATOR_HOST": endpoint,  # gcsfs (epath, Orbax metadata, TFDS), google-cloud-storage (tensorboardX)
        "TENSORSTORE_GCS_HTTP_URL": endpoint,  # tensorstore's gcs kvstore (Orbax arrays)
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",  # tensorstore: no credential lookup
        "CLOUD_STORAGE_EMULATOR_ENDPOINT": endpoint,  # google-cloud-cpp (array_record's gs:// reader)
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",  # gcsfs imported from now on: no gRPC bucket-layout calls
        "FSSPEC_GCS_TOKEN": "anon",  # fsspec imported from now on (subprocesses): gcsfs without credentials
        "GCE_METADATA_ROOT": "127.0.0.1:1",  # any metadata-server lookup left: a closed local port
        "NO_GCE_CHECK": "true",
    }


def _require(module: str, package: str, why: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"{package} is not installed ({why}): `pip install {package}` into this environment "
                    f"(tests/gcs_emulator.py; {error})", pytrace=False)


def _clear_filesystem_caches() -> None:
    """Drops the gcs filesystems epath and fsspec keep, so the next gs:// access reads the
    environment again."""
    from etils.epath import backend as epath_backend  # pylint: disable=import-outside-toplevel

    epath_backend._FileSystemSpecBackend._get_filesystem.cache_clear()  # pylint: disable=protected-access
    for name in ("gcsfs.core", "gcsfs.extended_gcsfs"):
        module = sys.modules.get(name)
        for cls in (getattr(module, "GCSFileSystem", None), getattr(module, "ExtendedGcsFileSystem", None)):
            if cls is not None:
                cls.clear_instance_cache()


def _start(log_path: str) -> tuple[subprocess.Popen, str]:
    """Starts the emulator subprocess; (process, 'http://127.0.0.1:PORT') once it serves."""
    log = open(log_path, "wb")  # pylint: disable=consider-using-with
    process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--bucket", BUCKET],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    log.close()
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
    line = process.stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        _stop(process)
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            tail = handle.read()[-3000:]
        pytest.fail(f"the GCS emulator did not start within {STARTUP_SECONDS} s (said {line!r}); its log "
                    f"{log_path}:\n{tail}", pytrace=False)
    endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
    with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{BUCKET}", timeout=10) as response:
        assert response.status == 200, f"bucket {BUCKET} missing on the emulator"
    return process, endpoint


def _stop(process: subprocess.Popen) -> None:
    try:
        process.stdin.close()  # the emulator stops when its standard input closes
        process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def gcs_bucket(tmp_path_factory):
    """'gs://diffdub-test-bucket' on a local emulator, with the environment and library settings
    of the module docstring in force for the session (restored after it)."""
    _require("gcp_storage_emulator", EMULATOR_PACKAGE, "the local GCS emulator")
    _require("gcsfs", "gcsfs", "etils.epath opens gs:// through fsspec's gcsfs when TensorFlow is absent")
    _require("google.cloud.storage", "google-cloud-storage", "tensorboardX writes gs:// event files with it")
    import fsspec  # pylint: disable=import-outside-toplevel
    import gcsfs.core  # pylint: disable=import-outside-toplevel

    process, endpoint = _start(str(tmp_path_factory.mktemp("gcs_emulator") / "emulator.log"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in emulator_env(endpoint).items():
                patch.setenv(name, value)
            patch.setitem(fsspec.config.conf, "gcs", {**fsspec.config.conf.get("gcs", {}), "token": "anon"})
            registry = importlib.import_module("fsspec.registry")._registry  # pylint: disable=protected-access
            for protocol in ("gcs", "gs"):
                patch.setitem(registry, protocol, gcsfs.core.GCSFileSystem)
            _clear_filesystem_caches()
            try:
                yield f"gs://{BUCKET}"
            finally:
                _clear_filesystem_caches()
    finally:
        _stop(process)


@pytest.fixture
def gcs_dir(gcs_bucket, request) -> str:
    """A fresh 'gs://<bucket>/<test name>-<random>' for one test."""
    return f"{gcs_bucket}/{re.sub(r'[^A-Za-z0-9_.-]+', '-', request.node.name)}-{uuid.uuid4().hex[:8]}"


# --- the emulator subprocess ---------------------------------------------------------------------

def _add_missing_api() -> None:
    """Adds to gcp-storage-emulator's routes what the libraries need of GCS and it lacks (see the
    module docstring): objects.move, suffix byte ranges and generation headers on downloads, list's
    startOffset/endOffset."""
    # pylint: disable=import-outside-toplevel,protected-access
    from http import HTTPStatus

    from gcp_storage_emulator import server, settings
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    download, ls = objects.download, objects.ls

    def move(request, response, storage, *args, **kwargs):
        """objects.move within a bucket: the destination's object resource; the source is gone."""
        bucket, source, destination = (request.params[key] for key in ("bucket_name", "object_id", "dest_object_id"))
        try:
            moved = objects._copy(request.base_url, storage, bucket, source, bucket, destination)
            storage.delete_file(bucket, source)
        except NotFound:
            response.status = HTTPStatus.NOT_FOUND
            return
        response.json(moved)

    def download_as_gcs(request, response, storage, *args, **kwargs):
        """A media download that also serves 'Range: bytes=-N' (the last N bytes, as 'bytes=<size - N>-')
        and names the object's generation in x-goog-generation / x-goog-metageneration."""
        bucket, name = request.params["bucket_name"], request.params["object_id"]
        try:
            resource = storage.get_file_obj(bucket, name)
        except NotFound:
            return download(request, response, storage, *args, **kwargs)  # answers 404
        value = (request.get_header("range") or "").strip()
        if value.startswith("bytes=-") and value[len("bytes=-"):].isdigit():
            start = max(0, int(resource["size"]) - int(value[len("bytes=-"):]))
            request._request_handler.headers.replace_header("range", f"bytes={start}-")
        download(request, response, storage, *args, **kwargs)
        if response.status in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
            response["x-goog-generation"] = str(resource["generation"])
            response["x-goog-metageneration"] = str(resource["metageneration"])

    class _Between:
        """A storage whose listings keep the names in [startOffset, endOffset)."""

        def __init__(self, storage, start, end):
            self._storage, self._start, self._end = storage, start, end

        def _inside(self, name: str) -> bool:
            return (self._start is None or name >= self._start) and (self._end is None or name < self._end)

        def get_file_list(self, *args, **kwargs):
            files, prefixes = self._storage.get_file_list(*args, **kwargs)
            return [item for item in files if self._inside(item["name"])], [p for p in prefixes if self._inside(p)]

    def list_between_offsets(request, response, storage, *args, **kwargs):
        start, end = ((request.query.get(key) or [None])[0] for key in ("startOffset", "endOffset"))
        if start is not None or end is not None:
            storage = _Between(storage, start, end)
        return ls(request, response, storage, *args, **kwargs)

    replaced = {download: download_as_gcs, ls: list_between_offsets}
    objects.download = download_as_gcs  # objects.get (?alt=media) calls it by this name
    move_route = (rf"^{settings.API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)"
                  rf"/moveTo/o/(?P<dest_object_id>.*[^/]+)$", {"POST": move})
    server.HANDLERS = (move_route,) + tuple(
        (pattern, {method: replaced.get(handler, handler) for method, handler in handlers.items()})
        for pattern, handlers in server.HANDLERS)


def _serve(bucket: str) -> None:
    """Serves an in-memory GCS with `bucket` on 127.0.0.1 (a free port, printed as 'PORT <n>')
    until standard input closes."""
    # pylint: disable=import-outside-toplevel,protected-access
    import http.server
    import logging

    from gcp_storage_emulator.server import create_server

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # 'Method not implemented: ...' shows
    http.server.HTTPServer.request_queue_size = 128  # one request at a time; tensorstore sends many at once
    _add_missing_api()
    emulator = create_server("127.0.0.1", 0, in_memory=True, default_bucket=bucket)
    emulator.start()
    print(f"PORT {emulator._api._httpd.server_address[1]}", flush=True)
    try:
        sys.stdin.read()
    finally:
        emulator.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", default=BUCKET)
    _serve(parser.parse_args().bucket)
