"""Command line of the original AutoPartGen release, mapped onto `autopartgen generate`.

    python inference.py --image chair.png --output_path out/ [--mesh chair.glb] [--mask mask.png]
                        [--config release-2048 --weights /path/to/official/files] [--seed 0] ...

Every flag of `autopartgen generate --help` is accepted (``--output_path`` is ``--output``). Without
``--weights`` the shipped compact model runs.
"""

import sys

from autopartgen.api import add_generate_arguments, run_generate
from autopartgen.arguments import ArgumentParser
from autopartgen.cli import run_command


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_generate_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(run_generate, args)


if __name__ == "__main__":
    sys.exit(main())
