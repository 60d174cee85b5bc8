"""The version of MIMIR, and what to cite when you use it."""

__version__ = "0.1.0"

#: What to cite (printed by ``mimir --version``, shown at the end of every report).
CITATION = (
    "If you use MIMIR, please cite:\n"
    "- the MIMIR paper: T. Langner et al. MIMIR: Deep Regression for Automated Analysis "
    "of UK Biobank Body MRI. arXiv:2106.11731 (2021);\n"
    "- the ensemble and uncertainty paper: T. Langner et al. Uncertainty-aware body "
    "composition analysis with deep regression ensembles on UK Biobank MRI. Computerized "
    "Medical Imaging and Graphics (2021), arXiv:2101.06963;\n"
    "- the saliency paper: T. Langner et al. Large-scale biometry with interpretable "
    "neural network regression on UK Biobank body MRI. Scientific Reports 10 (2020), "
    "doi:10.1038/s41598-020-74633-5;\n"
    f"- this software: MIMIR (ukb-mimir) version {__version__}, MIT license "
    "(CITATION.cff in its repository)."
)
