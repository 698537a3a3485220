import json
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"
COMPAT = DATA / "compat"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def golden_configs() -> dict:
    return json.loads((COMPAT / "configs.json").read_text())
