import json
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"
COMPAT = DATA / "compat"

# Tiny test models: one intra-op thread is faster than two on a loaded 2-core machine (no thread hand-offs).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def golden_configs() -> dict:
    return json.loads((COMPAT / "configs.json").read_text())
