"""docs/architecture.md names only what exists: every backticked dotted name resolves to a module,
attribute or config field, and every class name it cites is defined in the package."""

import importlib
import pathlib
import pkgutil
import re

import pytest

import diffdub_jax
from conftest import load_config

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
LIBRARY_MODULES = [info.name for info in pkgutil.walk_packages(diffdub_jax.__path__, "diffdub_jax.")
                   if info.name.count(".") > 1 or info.name in ("diffdub_jax.workdir", "diffdub_jax.errors")]
CONFIGS = [load_config("renderer", "real"), load_config("motion", "real")]


def _cited() -> list[str]:
    """Backticked names, call arguments dropped: `RendererService(config, ...)` -> RendererService."""
    names = set()
    for token in re.findall(r"`([^`\n]+)`", DOC.read_text()):
        name = token.split("(")[0].strip()
        if re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*", name):
            names.add(name)
    return sorted(names)


def _classes() -> dict[str, object]:
    found = {}
    for module_name in LIBRARY_MODULES:
        if module_name.endswith("__main__"):
            continue
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, type):
                found.setdefault(name, value)
    return found


def _resolves(name: str, classes: dict) -> bool:
    first, *rest = name.split(".")
    if any(_in_config(config, name) for config in CONFIGS):
        return True
    if first in classes:
        return _has_path(classes[first], rest)
    for prefix in (f"diffdub_jax.{name}", name, f"ml_collections.{name}"):  # the package, a library
        parts = prefix.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                module = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            if _has_path(module, parts[cut:]):
                return True
            break
    return False


def _has_path(target, parts) -> bool:
    for part in parts:
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


def _in_config(config, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if not hasattr(node, "keys") or part not in node:
            return False
        node = node[part]
    return True


def test_every_dotted_name_the_architecture_cites_exists():
    classes = _classes()
    dotted = [name for name in _cited() if "." in name]
    assert len(dotted) > 20
    missing = [name for name in dotted if not _resolves(name, classes)]
    assert not missing, f"docs/architecture.md cites names that do not exist: {missing}"


def test_every_class_name_the_architecture_cites_exists():
    classes = _classes()
    cited = [name for name in _cited() if "." not in name and re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", name)]
    assert {"RendererService", "DubbingModels", "InvalidInputError"} <= set(cited)
    assert not [name for name in cited if name not in classes]


@pytest.mark.parametrize("planted", ["Workdir.restore_for_inference", "AudioFrontend.from_config",
                                     "training.stages.train", "data.no_such_field"])
def test_a_stale_name_is_caught(planted):
    assert not _resolves(planted, _classes())
