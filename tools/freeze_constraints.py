"""Write constraints.txt: the exact versions of everything `pip install -e ".[test]"` installs, as installed here.

    python tools/freeze_constraints.py            # after a passing test run, from the repository root

It walks the requirement tree of this project (its dependencies and the ``test`` extra) through the
installed distributions' metadata, so packages that happen to be installed but that the project does
not pull in are left out. Local version labels are dropped (``torch 2.13.0+cpu`` is pinned as
``torch==2.13.0``, which a CPU or a CUDA build both satisfy).
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("test",)


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in EXTRAS:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def installed_closure(roots: list[Requirement]) -> dict[str, str]:
    """{canonical name: installed version} of the roots and, recursively, what they require here."""
    versions: dict[str, str] = {}
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in versions:
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"{requirement.name} is required but not installed; run pip install -e \".[test]\" first")
        versions[name] = distribution.version.split("+")[0]
        for text in distribution.requires or []:
            child = Requirement(text)
            wanted_extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in wanted_extras):
                pending.append(child)
    versions.pop("autopartgen", None)
    return versions


def main() -> None:
    versions = installed_closure(project_requirements())
    header = ["# Exact versions the test suite passed with (Python 3.11, CPU build of torch).",
              "# Used by the README's set-up command and .ci/run: pip install -c constraints.txt -e \".[test]\"",
              "# Regenerate after upgrading, once the tests pass: python tools/freeze_constraints.py"]
    lines = header + [f"{name}=={version}" for name, version in sorted(versions.items())]
    (ROOT / "constraints.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'constraints.txt'} ({len(versions)} packages)")


if __name__ == "__main__":
    main()
