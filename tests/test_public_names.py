"""Every name a package of googlenet exports in ``__all__`` exists: a lazily exported name that points at a
module or attribute which is gone fails here, not in a user's notebook."""

import importlib
import pkgutil

import pytest

import googlenet

PACKAGES = ["googlenet"] + sorted(m.name for m in pkgutil.walk_packages(googlenet.__path__, "googlenet.") if m.ispkg)


def test_every_package_is_listed():
    assert {"googlenet.models", "googlenet.weights", "googlenet.data", "googlenet.visualize"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_imports(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [])
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names {missing}, which {package} does not have"
    for name in names:  # `from package import name` works too (module __getattr__ included)
        namespace: dict = {}
        exec(f"from {package} import {name}", namespace)  # noqa: S102 - a fixed import statement
        assert namespace[name] is getattr(module, name)


def test_the_two_names_that_never_worked():
    from googlenet.data import class_name_for

    # ImageNet's short names for every wnid, not only Imagenette's ten (the lookup read modules that did not exist)
    assert class_name_for("n01440764") == "tench" and class_name_for("n04596742") == "wok"
    assert class_name_for("n99999999") == "n99999999"
    import googlenet.visualize

    assert "TensorBoardLogger" not in googlenet.visualize.__all__
    from googlenet.training.tensorboard import TensorBoardLogger

    assert callable(TensorBoardLogger)
