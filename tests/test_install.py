"""The install the README promises: two set-up commands, pinned by constraints.txt, run the same by .ci/run."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def readme_setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Set-up\s+```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_readme_set_up_is_two_commands_using_the_constraints():
    install, tests = readme_setup_commands()
    assert 'pip install -c constraints.txt -e ".[test]"' in install
    assert tests == "python3 -m pytest -q"


def test_ci_installs_with_the_constraints_and_runs_the_readme_test_command():
    script = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    assert any("-c constraints.txt" in line and '-e ".[test]"' in line for line in script)
    assert script[-1] == readme_setup_commands()[1]


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {canonicalize_name(name): version for name, version in pins().items()}
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in constraints.txt; run python tools/freeze_constraints.py"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])
    torch_command = readme_setup_commands()[0].split("&&")[0]
    assert f"torch=={pinned['torch']}" in torch_command  # the torch installed first is the pinned one
