"""The real-object validation sets' source lists: no reserved package, and real-val-2 shares nothing with real-val."""

import json

from conftest import BENCH


def test_the_validation_sets_use_no_reserved_package_and_share_no_model(bench_script):
    builder = bench_script("build_real_val")
    sets = {name: json.loads((BENCH / name).read_text())["models"]
            for name in ("real_val_sources.json", "real_val2_sources.json")}
    for name, models in sets.items():
        for entry in models:
            assert not any(reserved in entry["package"].lower() for reserved in builder.FORBIDDEN), (name, entry)
            assert entry["format"] in ("mjcf", "urdf") and entry["category"]
    first, second = sets["real_val_sources.json"], sets["real_val2_sources.json"]
    ids = [entry["id"] for entry in first + second]
    assert len(ids) == len(set(ids))
    files = {(entry["package"], entry["file"]) for entry in first}
    assert not files & {(entry["package"], entry["file"]) for entry in second}
    # no robot of real-val comes back under another file name (its description folder)
    folders = {entry["file"].split("/")[1] for entry in first if entry["package"] == "example-robot-data"}
    assert not folders & {entry["file"].split("/")[1] for entry in second}
