"""Saliency maps: which pixels of the 2D image a module's prediction depends on.

- :mod:`mimir.explain.saliency`: gradient x input of the predicted mean and of the
  predicted log-variance of one target (ensembles: of their mixture);
- :mod:`mimir.explain.maps`: per-subject magnitudes, the cohort map, region shares;
- :mod:`mimir.explain.draw`: PNG overlays;
- :mod:`mimir.explain.run`: ``mimir explain`` on a finished ``infer`` output, and the file
  layout the cohort report reads.
"""
