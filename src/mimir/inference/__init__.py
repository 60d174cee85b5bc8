"""Running modules on 2D images.

- :mod:`mimir.inference.formulas`: network outputs to means, variances and intervals;
- :mod:`mimir.inference.engine`: a loaded module on a device, batched and fast;
- :mod:`mimir.inference.precision`: what ``--precision`` means on every device.

The whole ``infer`` job (inputs, cache, modules, outputs, resume, backends) is
:mod:`mimir.execution`.
"""
