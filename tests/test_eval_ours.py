"""`--method ours` runs our pipeline inside the evaluation runner, in every mode it supports."""

import pytest

from autopartgen.data.dataset import generate_and_write, split_seeds
from autopartgen.eval import ours, runner
from autopartgen.pipeline import AutoPartGen
from test_pipeline import small_config


@pytest.mark.parametrize("mode", ["mesh", "image", "image_mask"])
def test_ours_in_the_runner(tmp_path_factory, mode):
    root = tmp_path_factory.getbasetemp()
    data, model = root / "eval_data", root / "eval_model"
    if not model.exists():
        AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(model)
        generate_and_write(data, split_seeds("test", 0, 1)[0], n_views=1, size=64, resolution=32)
    settings = runner.EvalSettings(mode=mode, input_form="concat", grid=16, n_samples=200, weights=str(model))
    out = tmp_path_factory.mktemp(mode)
    rows = runner.run_eval(data, out, ["ours"], split="test", settings=settings, progress=False)
    assert len(rows) == 1 and rows[0]["method"] == "ours" and not rows[0]["error"], rows
    assert ours._pipeline.cache_info().currsize >= 1
    # The pipeline's stop reason is recorded per object, read back from results.csv and summarised.
    stop = rows[0]["stop"]
    assert stop in {"end_token", "max_parts", "mask_regions", "consecutive_skips", "retries_exhausted",
                    "input_covered", "num_parts"}, stop
    assert runner.read_csv(out / runner.RESULTS_CSV)[0]["stop"] == stop
    assert f"- ours: {stop} 100%" in (out / "summary.md").read_text()


def test_vae_recon_scores_the_ground_truth_parts(tmp_path_factory, monkeypatch):
    """vae_recon hands the GT parts (object frame) to the VAE round trip: with a perfect round trip it
    scores a perfect decomposition."""
    root = tmp_path_factory.mktemp("vae_recon")
    data = root / "data"
    generate_and_write(data, split_seeds("test", 0, 1)[0], n_views=1, size=64, resolution=32)

    class PerfectVAE:
        def reconstruct_parts(self, meshes, options):
            return [mesh.copy() for mesh in meshes]

    monkeypatch.setattr(ours, "_pipeline", lambda weights: PerfectVAE())
    settings = runner.EvalSettings(input_form="concat", grid=32, n_samples=500)
    rows = runner.run_eval(data, root / "out", ["vae_recon"], split="test", settings=settings, progress=False)
    assert len(rows) == 1 and not rows[0]["error"], rows
    assert rows[0]["n_pred"] == rows[0]["n_gt"] and rows[0]["count_exact"] == 1.0
    assert rows[0]["part_iou"] == 1.0
