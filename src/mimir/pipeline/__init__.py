"""The pipeline a subject passes through: zip to 2D image, and batches of subjects.

- :mod:`mimir.pipeline.subject`: the whole procedure for one subject;
- :mod:`mimir.pipeline.batch`: many subjects, worker processes, cache and failure
  records.
"""

from mimir.pipeline.subject import SubjectResult, preprocess_subject, process_volumes

__all__ = ["SubjectResult", "preprocess_subject", "process_volumes"]
