"""Writing results: atomic files, record tables (failures, warnings) and prediction
tables (see :mod:`mimir.output.predictions`)."""
