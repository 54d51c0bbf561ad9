"""The package's layers, read from every module's imports: what may depend on what."""

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

# (layer, layers it must not import)
FORBIDDEN = [
    ("diffdub_jax.inference", ("diffdub_jax.training", "diffdub_jax.evaluation", "diffdub_jax.stages")),
    ("diffdub_jax.serving", ("diffdub_jax.training", "diffdub_jax.evaluation", "diffdub_jax.inference",
                             "diffdub_jax.stages")),
    ("diffdub_jax.data", ("diffdub_jax.models", "diffdub_jax.convert", "diffdub_jax.training", "diffdub_jax.serving",
                          "diffdub_jax.inference", "diffdub_jax.evaluation", "diffdub_jax.diffusion",
                          "diffdub_jax.stages", "diffdub_jax.workdir")),
    ("diffdub_jax.models", ("diffdub_jax.data", "diffdub_jax.training", "diffdub_jax.inference",
                            "diffdub_jax.convert", "diffdub_jax.serving", "diffdub_jax.evaluation",
                            "diffdub_jax.workdir", "diffdub_jax.stages")),
    ("diffdub_jax.diffusion", ("diffdub_jax.data", "diffdub_jax.training", "diffdub_jax.inference",
                               "diffdub_jax.convert", "diffdub_jax.serving", "diffdub_jax.evaluation",
                               "diffdub_jax.models", "diffdub_jax.workdir", "diffdub_jax.stages")),
]


def _within(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


@pytest.mark.parametrize("layer,forbidden", FORBIDDEN, ids=[layer for layer, _ in FORBIDDEN])
def test_layer_imports_only_what_is_below_it(layer, forbidden):
    modules = {name: imports for name, imports in MODULES.items() if _within(name, layer)}
    assert modules, f"no modules found in {layer}"
    violations = [f"{name} imports {target}" for name, imports in sorted(modules.items()) for target in sorted(imports)
                  if any(_within(target, bad) for bad in forbidden)]
    assert not violations, "\n".join(violations)


def test_the_reader_sees_a_violation():
    """The import reader itself: it resolves `from package import module` to the module."""
    assert "diffdub_jax.training.loop" in MODULES["diffdub_jax.stages"]
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
