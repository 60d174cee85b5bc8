"""Build of the one compiled part: ``mimir._kernels`` (src/mimir/_kernels*.c).

Everything else lives in pyproject.toml. The extension is optional: where no C compiler
is found, the install goes on without it and MIMIR runs the same arithmetic with numpy
(identical results, slower preprocessing; ``mimir.native`` says which is in use).
"""

import os

from setuptools import Extension, setup

# No fused multiply-add: each product is rounded before the sum, as in numpy.
FLAGS = ["/fp:precise"] if os.name == "nt" else ["-O3", "-ffp-contract=off"]

SOURCES = ["src/mimir/_kernels.c", "src/mimir/_kernels_resample.c",
           "src/mimir/_kernels_sweep.c"]

setup(ext_modules=[Extension("mimir._kernels", SOURCES, depends=["src/mimir/_kernels.h"],
                             extra_compile_args=FLAGS, optional=True)])
