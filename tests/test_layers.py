"""The package's layers and the dataset builders, read from every module's imports: what may depend on what."""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "diffdub_jax"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    """Every diffdub_jax module a file imports (`from diffdub_jax.x import y` counts as x.y when y
    is a module, else as x), type-checking-only imports included."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                    (PACKAGE.parent / candidate.replace(".", "/")).is_dir()
                imported.add(candidate if is_module else node.module)
    return {name for name in imported if name == "diffdub_jax" or name.startswith("diffdub_jax.")}


MODULES = {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}
BUILDERS = PACKAGE.parent / "tfds_builders"

# The package's layers from the bottom up. A module may import its own layer and the layers of
# lower ranks, never a layer of its own rank or above: the foundation's layers know nothing of each
# other (data imports no model, models and diffusion are pure), inference and training are
# siblings, and the command-line entry points sit on top of everything.
RANKS = {
    "diffdub_jax.errors": -1,
    "diffdub_jax.data": 0, "diffdub_jax.models": 0, "diffdub_jax.diffusion": 0, "diffdub_jax.release": 0,
    "diffdub_jax.parallel": 0, "diffdub_jax.distributed": 0, "diffdub_jax.cli": 0,
    "diffdub_jax.metrics": 1, "diffdub_jax.workdir": 1,
    "diffdub_jax.convert": 2,
    "diffdub_jax.serving": 3,
    "diffdub_jax.inference": 4, "diffdub_jax.training": 4,
    "diffdub_jax.evaluation": 5,
    "diffdub_jax.dub_showcase": 6,
    "diffdub_jax.showcase": 7, "diffdub_jax.dub_flags": 7, "diffdub_jax.web_app": 7,
}
ENTRY_POINTS = 8  # every command: `python -m diffdub_jax.X` and convert's __main__


def _layer(module: str) -> str:
    """The layer a module belongs to: its subpackage, or itself for a top-level module."""
    if module.endswith(".__main__"):
        return module
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _rank(layer: str) -> int:
    return RANKS.get(layer, ENTRY_POINTS)


def violations(modules: dict[str, set[str]]) -> list[str]:
    """'module imports target' for every import of a layer of the importer's rank or above."""
    found = []
    for name, imports in sorted(modules.items()):
        layer = _layer(name)
        for target in sorted(imports):
            other = _layer(target)
            if other != layer and other != "diffdub_jax" and _rank(other) >= _rank(layer):
                found.append(f"{name} imports {target}")
    return found


def test_every_module_imports_only_layers_below_its_own():
    assert {_layer(name) for name in MODULES} >= set(RANKS), "a layer named in RANKS has no modules"
    assert not violations(MODULES), "\n".join(violations(MODULES))


@pytest.mark.parametrize("layer", sorted(RANKS) + ["diffdub_jax.convert.__main__"])
def test_an_upward_import_planted_in_any_layer_is_caught(layer):
    """The check itself: one import of the layer just above (or of the same rank) breaks it."""
    module = next(name for name in sorted(MODULES) if _layer(name) == layer)
    above = [other for other in RANKS if other != layer and RANKS[other] >= _rank(layer)]
    target = min(above, key=lambda other: RANKS[other]) if above else None
    if target is None:  # a command: nothing is above it, but no layer may import one
        module, target = next(name for name in sorted(MODULES) if _layer(name) == "diffdub_jax.serving"), layer
    planted = {**MODULES, module: MODULES[module] | {target}}
    assert violations(planted) == [f"{module} imports {target}"]


def _builder_imports() -> dict[str, set[str]]:
    imports = {}
    for path in BUILDERS.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        imports[str(path.relative_to(BUILDERS.parent))] = {name for name in names if name.startswith("diffdub_jax")}
    return imports


def builder_violations(imports: dict[str, set[str]]) -> list[str]:
    """Dataset builders read media with the data layer (and raise the package's errors) and
    nothing else of the package (the package reads their records without them: no model, no
    training in a dataset build)."""
    return [f"{path} imports {target}" for path, targets in sorted(imports.items()) for target in sorted(targets)
            if _layer(target) not in ("diffdub_jax.data", "diffdub_jax.errors")]


def test_dataset_builders_import_only_the_data_layer():
    imports = _builder_imports()
    assert imports and not builder_violations(imports), builder_violations(imports)
    path = next(iter(sorted(imports)))
    assert builder_violations({path: {"diffdub_jax.models.unet"}}) == [f"{path} imports diffdub_jax.models.unet"]


def test_the_reader_sees_a_violation():
    """The import reader itself: it resolves `from package import module` to the module."""
    assert "diffdub_jax.training.loop" in MODULES["diffdub_jax.training.tasks"]
    assert "diffdub_jax.serving.renderer_service" in MODULES["diffdub_jax.inference.models"]


def test_nothing_in_the_package_touches_sys_path():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, offenders


def test_infer_loads_no_training_and_no_dataset_machinery():
    """`infer` needs neither TensorFlow Datasets nor grain nor any of training/ to run."""
    code = ("import sys, diffdub_jax.infer; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow_datasets', 'grain') "
            "or m.startswith(('diffdub_jax.training', 'diffdub_jax.evaluation'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
