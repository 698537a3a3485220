import importlib.util
import json
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"
COMPAT = DATA / "compat"
BENCH = Path(__file__).resolve().parents[1] / "bench"

# Tiny test models: one intra-op thread is faster than two on a loaded 2-core machine (no thread hand-offs).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def golden_configs() -> dict:
    return json.loads((COMPAT / "configs.json").read_text())


@pytest.fixture(scope="session")
def bench_script():
    """Import a script of bench/ (not a package) by name: ``bench_script("merge_probe")`` -> its module."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
