"""Per-stage pipeline timings; the same as `autopartgen bench` (see autopartgen/eval/bench.py)."""

from autopartgen.eval.bench import main

if __name__ == "__main__":
    main()
