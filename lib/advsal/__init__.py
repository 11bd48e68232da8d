"""advsal: study kit for "Detecting Adversarial Perturbations with Saliency".

Data flows one way through the modules::

    data -> networks/training (F) -> attacks -> saliency -> detection (D)
         -> metrics -> reporting/plotting

``advsal.pipeline`` ties the stages together with an on-disk cache keyed by
the parameters of each stage; ``advsal.presets`` holds the study sizes
(``smoke``, ``quick``, ``paper``); ``advsal.runner`` executes the numbered
notebooks with papermill.
"""
__version__ = "0.1.0"

from .quiet_tf import import_tensorflow as _import_tensorflow

_import_tensorflow()   # before any module imports it: no start-up log lines (advsal.quiet_tf)

from .devices import split_cpu_from_env as _split_cpu_from_env

_split_cpu_from_env()   # ADVSAL_CPU_DEVICES=n: n logical CPU devices (advsal.devices)
