"""Inference modules: the published folder format, safe snapshot loading, the
networks, and installed modules.

- :mod:`mimir.modules.format`: reading and validating a module folder;
- :mod:`mimir.modules.snapshot`: loading untrusted snapshots (tensors only);
- :mod:`mimir.modules.network`: the ResNet backbones with their ``fc`` heads;
- :mod:`mimir.modules.registry`: ``$MIMIR_HOME/modules``, install and list.
"""

from mimir.modules.format import Module, Target, load_module

__all__ = ["Module", "Target", "load_module"]
