"""Synthetic UK Biobank field-20201 subjects with known ground truth.

Real UK Biobank images are access-controlled, so MIMIR makes its own test subjects:

- :mod:`mimir.phantom.subject`: the per-subject parameters (sex, age, height, body
  size, fat depots, fat fractions) and how they are drawn;
- :mod:`mimir.phantom.anatomy`: the body as tissue labels on any grid, and the water
  and fat signals of each tissue;
- :mod:`mimir.phantom.geometry`: the scanner's six stations for a subject;
- :mod:`mimir.phantom.truth`: ground truth measured from the generated anatomy;
- :mod:`mimir.phantom.dicomwrite` and :mod:`mimir.phantom.zipwrite`: the zip as UK
  Biobank ships it (DICOM slices and a quirky manifest), with optional irregularities
  (:mod:`mimir.phantom.variants`);
- :mod:`mimir.phantom.fastpath`: fused volumes directly on the output grid, for cheap
  training data;
- :mod:`mimir.phantom.cohort`: many subjects and ``truth.csv``.
"""
