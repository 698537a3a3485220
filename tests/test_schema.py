"""Release configurations build exactly the official key -> shape maps (on the meta device)."""

import json

import pytest
import torch

from autopartgen.checkpoints import load_weights
from autopartgen.config import load_config
from autopartgen.models import build_model
from conftest import DATA

SCHEMAS = DATA / "compat_schema"
CASES = [("release-2048", "dit", "dit_2048"), ("release-4096", "dit", "dit_4096"),
         ("release-2048", "vae", "vae"), ("release-4096", "vae", "vae_4096"),
         ("release-2048", "image_encoder", "dinov2_vitl14_reg4")]


@pytest.mark.parametrize("preset,kind,schema", CASES)
def test_release_state_dict_matches_schema(preset, kind, schema):
    expected = json.loads((SCHEMAS / f"{schema}.schema.json").read_text())
    model = build_model(kind, getattr(load_config(preset), kind), "meta")
    state = model.state_dict()
    assert list(state) == list(expected["keys"])  # same keys, same order
    for key, spec in expected["keys"].items():
        assert list(state[key].shape) == spec["shape"], key
    assert sum(p.numel() for p in model.parameters()) == expected["num_parameters"]
    # A state dict with exactly those keys and shapes loads strictly (meta tensors: no memory).
    fake = {k: torch.empty(spec["shape"], device="meta") for k, spec in expected["keys"].items()}
    model.load_state_dict(fake, strict=True, assign=True)
    load_weights(build_model(kind, getattr(load_config(preset), kind), "meta"), fake, name=kind)


def test_release_configs_agree_with_schema_constructor_kwargs():
    for preset, kind, schema in CASES[:4]:
        kwargs = json.loads((SCHEMAS / f"{schema}.schema.json").read_text())["constructor_kwargs"]
        config = getattr(load_config(preset), kind)
        for key, value in kwargs.items():
            assert config[key] == value, (preset, kind, key)
