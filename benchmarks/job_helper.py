"""The jobs the benchmark suite (``benchmarks/run.py``) times in fresh processes.

``python benchmarks/job_helper.py preprocess ZIPDIR CACHE WORKERS`` and
``python benchmarks/job_helper.py infer ZIPDIR CACHE OUT WORKERS BATCH MODULE...`` print one
JSON line with the subject count and the elapsed time of the job itself (``preprocess``: also
when each subject's record arrived; ``infer``: without its ``report.html``, which is then
built and timed on its own).

A script, importing mimir only inside :func:`main`: worker processes start by re-running
their parent's main script, so this one costs them nothing, as the ``mimir`` command
costs its workers nothing (a helper inside ``mimir.cli`` would make each worker import
the whole command line first, about a second, which the command does not pay).
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    import mimir.api  # lazy: imports cv2, pandas

    if argv[0] == "preprocess":
        zips, cache, workers = argv[1], argv[2], int(argv[3])
        arrivals: list[float] = []
        t0 = time.perf_counter()
        s = mimir.preprocess([zips], cache, workers=workers,
                             on_record=lambda _rec: arrivals.append(time.perf_counter() - t0))
        print(json.dumps({"n": len(s.records), "elapsed": time.perf_counter() - t0,
                          "arrivals": arrivals}))
        return 0
    if argv[0] == "infer":
        zips, cache, out = argv[1], argv[2], argv[3]
        workers, batch, modules = int(argv[4]), int(argv[5]), argv[6:]
        t0 = time.perf_counter()
        s = mimir.infer([zips], cache, modules, out, batch, workers=workers, device="cpu",
                        report=False)
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()  # the report infer writes once per run, timed apart
        mimir.api.report(out)
        print(json.dumps({"n": s.predicted, "elapsed": elapsed,
                          "report": time.perf_counter() - t1, "timings": s.timings}))
        return 0
    raise SystemExit(f"unknown helper {argv[0]!r}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
