"""`autopartgen bench` runs and reports every stage (no timing is asserted)."""

import json

from autopartgen.cli import main
from autopartgen.pipeline import AutoPartGen
from test_pipeline import small_config


def test_bench_runs(tmp_path, capsys):
    model = tmp_path / "model"
    AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(model)
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(model), "--grid-size", "16", "--max-parts", "1", "--repeats", "1",
                 "--threads", "1", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"mesh -> parts", "image -> parts"}
    assert {"load", "whole_encode", "image_encode", "export", "total"} <= set(runs["mesh -> parts"][0]["timings"])
    assert "whole_sample" in runs["image -> parts"][0]["timings"]
    for case in runs.values():
        assert case[0]["dit_forwards"] > 0 and 0.0 <= case[0]["query_fraction"] <= 1.0 + 1e-9
    assert "| part_sample |" in table and "| query_fraction |" in table
