"""Evaluation: part metrics, baselines and the benchmark runner (protocol: docs/evaluation.md).

* :mod:`autopartgen.eval.metrics` -- ``evaluate_parts(pred_parts, gt_parts)`` and its pieces.
* :mod:`autopartgen.eval.baselines` -- ``run_baseline(name, mesh)``: single, components, coacd, coacd_tuned.
* :mod:`autopartgen.eval.runner` -- ``run_eval(...)`` over a dataset; ``register_method`` adds a method.
* :mod:`autopartgen.eval.cli` -- the ``autopartgen eval`` command.
"""

from autopartgen.eval.baselines import BASELINES, run_baseline
from autopartgen.eval.metrics import evaluate_parts

__all__ = ["BASELINES", "evaluate_parts", "run_baseline"]
