"""Training, cross-validating, calibrating and packaging modules (modules.md, "How
modules were made").

- :mod:`mimir.training.targets`: target tables from UK Biobank showcase exports;
- :mod:`mimir.training.splits`: K-fold splits;
- :mod:`mimir.training.data`: images and labels, augmentation;
- :mod:`mimir.training.loss`: the mean-variance Gaussian NLL with missing labels;
- :mod:`mimir.training.train`: the training loop (snapshots, resume);
- :mod:`mimir.training.metrics` and :mod:`mimir.training.calibration`: evaluation;
- :mod:`mimir.training.crossval`: folds, held-out predictions, pooled metrics, report;
- :mod:`mimir.training.package`: a trained run into a module folder.
"""
