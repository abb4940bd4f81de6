"""Shared fixtures: small real data (scikit-learn's digits) and tiny data modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from _support import TensorDataModule

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``(N, 1, 8, 8)`` floats in [0, 1] and their labels."""
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(data.target, dtype=torch.int64)


@pytest.fixture
def digits_dm(digits_tensors) -> TensorDataModule:
    return TensorDataModule(*digits_tensors)


@pytest.fixture(autouse=True)
def _data_cache_of_the_session(tmp_path_factory, monkeypatch) -> None:
    """Downloads and the image cache go to the session's temporary folder, never ~/.cache.

    Set in the environment, so the CLI's subprocesses use it too.
    """
    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


#: names whose use makes a test start real processes (the CLI, DDP workers, a notebook kernel)
_PROCESS_NAMES = {"run_cli", "subprocess", "Popen", "run_notebook", "nbclient", "mp"}
_SLOW_MODULES = {"test_notebooks", "test_seed_notebook", "test_ddp"}


def _starts_processes(code, module_globals: dict, seen: set) -> bool:
    """Whether ``code``, or a function of its module that it calls, names a process starter."""
    if code in seen:
        return False
    seen.add(code)
    names = set(code.co_names) | set(code.co_freevars)
    if names & _PROCESS_NAMES or any(
        getattr(module_globals.get(n), "__name__", None) in _PROCESS_NAMES for n in names
    ):
        return True
    inner = [c for c in code.co_consts if hasattr(c, "co_names")]  # nested functions
    called = [getattr(module_globals.get(n), "__code__", None) for n in names]
    return any(_starts_processes(c, module_globals, seen) for c in [*inner, *called] if c)


def pytest_collection_modifyitems(config, items) -> None:
    """Marks ``slow`` every test that starts a process, so ``-m "not slow"`` is the quick loop.

    Read from the test function's code and the module functions it calls, so a
    new CLI test is marked without anyone remembering to.
    """
    for item in items:
        function = getattr(item, "function", None)
        code = getattr(function, "__code__", None)
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in _SLOW_MODULES or (
            code is not None and _starts_processes(code, function.__globals__, set())
        ):
            item.add_marker(pytest.mark.slow)
