"""Reading one subject's field-20201 zip: the untrusted input.

- :mod:`mimir.reading.archive`: safe, limited access to zip members (never extracts);
- :mod:`mimir.reading.inflate`: inflating members (libdeflate where installed, else zlib),
  checked against their sizes and CRC-32;
- :mod:`mimir.reading.manifest`: the manifest with its shifted columns;
- :mod:`mimir.reading.dicom`: a small DICOM reader for the tags MIMIR needs, with a
  pydicom fallback for anything unusual;
- :mod:`mimir.reading.slices`: water and fat slices of a subject, from the manifest or,
  failing that, from the DICOM headers.
"""
