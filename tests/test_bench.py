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
    assert main(["bench", "--weights", str(model), "--grid-size", "16", "--max-parts", "1", "--repeats", "1",
                 "--threads", "1", "--cases", "image", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())["runs"]) == {"image -> parts"}


def test_bench_compares_reference_mode_with_the_default(tmp_path, capsys):
    model = tmp_path / "model"
    AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(model)
    out = tmp_path / "compare.json"
    assert main(["bench", "--weights", str(model), "--grid-size", "32", "--max-parts", "1", "--repeats", "1",
                 "--threads", "1", "--compare-reference-mode", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    results = json.loads(out.read_text())["compare"]
    assert set(results) == {"mesh -> parts", "image -> parts"}
    for case, runs in results.items():
        assert set(runs) == {"reference mode", "default"}
        reference, default = runs["reference mode"][0], runs["default"][0]
        assert reference["dit_forwards"] > 0 and default["dit_forwards"] > 0
        # the printed ratio of the totals is the ratio of the recorded totals
        ratio = reference["timings"]["total"] / default["timings"]["total"]
        total_row = next(line for line in table.splitlines() if line.startswith("| total |"))
        assert f"{ratio:.2f}x" in total_row
    # the reference mode has no input-anchored stages; the default mesh run cuts the input
    assert "cut" not in results["mesh -> parts"]["reference mode"][0]["timings"]
    assert "cut" in results["mesh -> parts"]["default"][0]["timings"]
