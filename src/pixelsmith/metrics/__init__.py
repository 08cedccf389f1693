"""Metrics: distribution metrics for generators (``distribution``, ``vae``; registered in
``METRICS`` when ``metrics.evaluate`` is imported), paired metrics for restorers
(``paired``, ``restoration_protocol``), the offline evaluator networks, and evaluation
during training (``training_eval``).

A metric is ``@METRICS.register("name", help=...)`` on a function ``(ctx: EvalContext) ->
dict[str, float]`` whose keys are full metric names that state their protocol
(e.g. ``fid10k@fashion-mnist-evaluator``). This package's ``__init__`` imports nothing, so
low layers (objectives logging PSNR) can use ``metrics.paired`` without pulling in the rest.
"""
