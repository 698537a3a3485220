"""GenerationOptions: validation, the CLI flags generated from its fields, and the threads setting."""

import dataclasses

import numpy as np
import pytest
import torch

from autopartgen.arguments import ArgumentParser, add_option_arguments, options_from_args
from autopartgen.errors import ConfigError
from autopartgen.geometry.extraction import extract_isosurface
from autopartgen.options import GenerationOptions, flag_name, supported_grid_size, value_kind
from autopartgen.threads import configure_threads, default_thread_count


def parse(*argv) -> GenerationOptions:
    parser = ArgumentParser(prog="test")
    add_option_arguments(parser)
    return options_from_args(parser.parse_args([str(a) for a in argv]))


def test_defaults_are_valid_and_an_empty_command_line_gives_them():
    assert GenerationOptions().validate() == GenerationOptions()
    assert parse() == GenerationOptions()


def test_every_field_has_help_and_a_dashed_flag_with_its_underscore_alias():
    parser = ArgumentParser(prog="test")
    add_option_arguments(parser)
    flags = {option: action for action in parser._actions for option in action.option_strings}
    for spec in dataclasses.fields(GenerationOptions):
        assert spec.metadata.get("help"), spec.name
        dashed, underscored = flag_name(spec.name), f"--{spec.name}"
        assert flags[dashed].dest == flags[underscored].dest == spec.name
        assert spec.metadata["help"].split(";")[0][:30] in flags[dashed].help
    assert "--max-parts" in flags and "--no-progress" in flags


@pytest.mark.parametrize("spec", dataclasses.fields(GenerationOptions), ids=lambda spec: spec.name)
def test_each_field_round_trips_through_its_flag(spec):
    kind, _ = value_kind(spec)
    if kind == "bool":
        assert getattr(parse(flag_name(spec.name)), spec.name) is True
        assert getattr(parse(f"--no-{spec.name.replace('_', '-')}"), spec.name) is False
        return
    value = (spec.metadata.get("choices") or (None,))[-1]
    if value is None:
        value = {"grid_size": 256, "max_parts": 7}.get(spec.name, spec.metadata.get("low", 0) + 1)
        value = type(spec.metadata.get("low", 0))(value) if kind == "float" else int(value)
    assert getattr(parse(flag_name(spec.name), value), spec.name) == value
    assert getattr(parse(f"--{spec.name}", value), spec.name) == value


def test_legacy_flags_keep_working():
    options = parse("--no_post", "--no_remove_background", "--no_progress", "--write_whole", "--reference_compat")
    assert (options.postprocess, options.remove_background, options.progress) == (False, False, False)
    assert options.decode_whole and options.reference_compat
    assert parse("--simplify_faces", 0).simplify_faces == 0  # 0 = off, as before


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse("--isosurface-backend", "marching")
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--isosurface-backend" in error and "--help" in error


def test_grid_size_rule_matches_the_extraction():
    """The sizes validate() accepts are exactly those extract_isosurface can refine to (independent check)."""
    def sphere(points):
        return 0.5 - np.linalg.norm(points, axis=1)

    for size in (8, 12, 31, 32, 33, 48, 64, 96, 100, 128, 130, 132, 192, 200):
        try:
            extract_isosurface(sphere, size)
            extracts = True
        except ValueError:
            extracts = False
        assert supported_grid_size(size, reference_compat=False) == extracts, size
    for size in (8, 16, 32, 48, 64, 100, 128):
        try:
            extract_isosurface(sphere, size, reference_compat=True)
            extracts = True
        except ValueError:
            extracts = False
        assert supported_grid_size(size, reference_compat=True) == extracts, size
    assert [n for n in (16, 48, 64, 100, 128) if supported_grid_size(n, reference_compat=True)] == [64, 128]


def test_validate_names_the_flag_and_the_fix():
    with pytest.raises(ConfigError, match=r"^--grid-size -4: out of range; pass a whole number from 8 to 2048$"):
        GenerationOptions(grid_size=-4).validate()
    with pytest.raises(ConfigError, match="--iou-threshold nan: not a finite number"):
        GenerationOptions(iou_threshold=float("nan")).validate()
    with pytest.raises(ConfigError, match="--postprocess 'no'"):
        GenerationOptions(postprocess="no").validate()
    with pytest.raises(ConfigError, match="--grid-size 96: .* power of two"):
        GenerationOptions(grid_size=96, reference_compat=True).validate()


def test_threads_are_applied(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr("autopartgen.threads.available_cpus", lambda: 6)
        assert default_thread_count() == 3
        monkeypatch.setattr("autopartgen.threads.available_cpus", lambda: 1)
        assert default_thread_count() == 1
    finally:
        torch.set_num_threads(before)


def test_generate_applies_threads_before_the_run(monkeypatch, tmp_path):
    from autopartgen import cli

    seen = {}

    def fake_generate(args):
        seen["threads"] = torch.get_num_threads()
        return 0

    parser = cli.build_parser()
    args = parser.parse_args(["generate", "--mesh", "x.glb", "--output", str(tmp_path), "--threads", "2"])
    before = torch.get_num_threads()
    try:
        assert cli.run_command(fake_generate, args) == 0
    finally:
        torch.set_num_threads(before)
    assert seen["threads"] == 2  # the test session runs with 1 (conftest)


def test_map_in_threads_keeps_the_order_and_uses_the_torch_thread_count():
    import threading

    import torch

    from autopartgen.threads import map_in_threads

    threads = torch.get_num_threads()
    seen = set()

    def work(item):
        seen.add(threading.get_ident())
        return item * item

    try:
        torch.set_num_threads(1)
        assert map_in_threads(work, range(5)) == [0, 1, 4, 9, 16]
        assert seen == {threading.get_ident()}  # one thread: the plain loop, here
        torch.set_num_threads(2)
        seen.clear()
        assert map_in_threads(work, iter(range(7))) == [i * i for i in range(7)]
        assert threading.get_ident() not in seen and 1 <= len(seen) <= 2
        assert map_in_threads(work, []) == []
    finally:
        torch.set_num_threads(threads)
