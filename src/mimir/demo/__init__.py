"""``mimir demo``: the whole job on synthetic subjects with the built-in module.

See :mod:`mimir.demo.run`. The built-in module (``mimir/demo_module/module_demo``) is a
ResNet18 trained with MIMIR's own commands on fast-path phantoms (docs/demo.md).
"""
