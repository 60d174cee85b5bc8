"""Scale-out: a Dask backend for preprocessing and inference
(:mod:`mimir.distributed.dask_backend`). Sharding for job arrays without Dask lives in
:mod:`mimir.inference.run` (``--shard``, :func:`mimir.inference.run.merge`).
"""
