"""Running ``infer`` jobs: options, the output folder, planning, journals, result tables,
merging shards, and the backends that run the work (local threads and processes, Dask).

The backends share one :class:`~mimir.execution.sink.ResultSink` and one
:class:`~mimir.execution.options.InferOptions`; adding a backend is one file in
:mod:`mimir.execution.backends`.
"""
