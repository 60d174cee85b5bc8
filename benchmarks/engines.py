"""CPU inference engines side by side for a ResNet50 module at fp32.

``python benchmarks/engines.py [--reps N] [--threads T] [--batch B]``: eager
torchvision, MIMIR's engine (the fused oneDNN path and the plain module path),
TorchScript frozen and optimised for inference, TorchScript with oneDNN Graph fusion,
``torch.compile`` (Inductor, frozen weights), and ONNX Runtime and OpenVINO where they
are installed. Every engine runs the same 16 images, B per forward pass (default 4), on
T threads (default 1). With one thread the table gives images per second of process CPU
time (the shared benchmark machine's wall clock depends on other work); with more it
gives wall clock (CPU time would add the threads up). It also gives the start-up cost
(tracing, compiling, converting) and the largest relative difference of the outputs to
eager fp32. The figures behind docs/inference-engines.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import make_module  # noqa: E402  (the benchmark suite's module)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--threads", type=int, default=1, help="threads of every engine")
    ap.add_argument("--batch", type=int, default=4, help="images per forward pass")
    args = ap.parse_args()
    import torchvision

    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    work = Path(tempfile.mkdtemp(prefix="mimir-engines-"))
    mod = make_module(work / "module_bench0")
    state = torch.load(mod / "snapshot.pth.tar", weights_only=True)["state_dict"]
    eager = torchvision.models.resnet50(weights=None)
    eager.fc = torch.nn.Linear(2048, 20)
    eager.load_state_dict(state)
    eager.eval()
    images = np.random.default_rng(0).integers(0, 256, (16, 3, 256, 256), dtype=np.uint8)
    x = torch.from_numpy(images).float()
    xcl = x.contiguous(memory_format=torch.channels_last)
    B = args.batch

    def batches(fn, t=x):
        return lambda: np.concatenate([np.asarray(fn(t[i:i + B])) for i in range(0, 16, B)])

    engines: dict = {}
    setup: dict = {}

    def add(name, build):
        t0 = time.perf_counter()
        try:
            engines[name] = build()
        except Exception as exc:  # an engine that does not work here is reported
            print(f"{name}: not available ({type(exc).__name__}: {str(exc)[:120]})")
            return
        setup[name] = time.perf_counter() - t0

    def no_grad(net):
        def run(t):
            with torch.no_grad():
                return net(t).numpy()
        return run

    add("eager torchvision (no_grad, NCHW)", lambda: batches(no_grad(eager)))
    m = load_module(mod)
    add("mimir fused oneDNN (default)",
        lambda: (lambda e: lambda: e.raw(images))(LoadedModule(m, EngineOptions(max_batch=B))))
    add("mimir module path (oneDNN per convolution)",
        lambda: (lambda e: lambda: e.raw(images))(
            LoadedModule(m, EngineOptions(max_batch=B, fused=False))))

    def script(onednn_graph: bool):
        torch.jit.enable_onednn_fusion(onednn_graph)
        with torch.no_grad():
            ts = torch.jit.freeze(torch.jit.trace(eager, x[:B]).eval())
            if not onednn_graph:
                ts = torch.jit.optimize_for_inference(ts)
            for _ in range(3):  # profiling runs that specialise the graph
                ts(x[:B])
        return batches(no_grad(ts))

    add("TorchScript, frozen, optimize_for_inference", lambda: script(False))
    add("TorchScript, frozen, oneDNN Graph fusion", lambda: script(True))
    torch.jit.enable_onednn_fusion(False)
    if not args.no_compile:
        def compiled():
            import torch._inductor.config as cfg

            cfg.freezing = True
            net = torch.compile(eager)
            with torch.no_grad():
                net(x[:B])
            return batches(no_grad(net))

        add("torch.compile (Inductor, frozen weights), compile time included", compiled)
    try:
        import onnxruntime as ort

        def onnx_rt():
            path = work / "r50.onnx"
            torch.onnx.export(eager, x[:B], str(path), input_names=["x"],
                              dynamic_axes={"x": {0: "n"}}, dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            return batches(lambda t: s.run(None, {"x": t.numpy()})[0])

        add("ONNX Runtime (export included)", onnx_rt)
    except ImportError:
        print("onnxruntime not installed")
    try:
        import openvino as ov

        def openvino():
            core = ov.Core()
            net = ov.convert_model(eager, example_input=x[:B])
            c = core.compile_model(net, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                "INFERENCE_NUM_THREADS": args.threads})
            req = c.create_infer_request()
            return batches(lambda t: req.infer({0: t.numpy()})[0].copy())

        add("OpenVINO (f32 precision hint, conversion included)", openvino)
    except ImportError:
        print("openvino not installed")
    outs = {k: fn() for k, fn in engines.items()}
    y0 = outs[next(iter(outs))]
    times: dict = {k: [] for k in engines}
    for _ in range(args.reps):
        for k, fn in engines.items():
            c0 = clock()
            fn()
            times[k].append(clock() - c0)
    base = 16 / min(times[next(iter(times))])
    what = "1 thread, CPU time" if args.threads == 1 else f"{args.threads} threads, wall clock"
    print(f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"torch {torch.__version__}; {args.threads} thread(s), {B} images per forward "
          "pass\n")
    print(f"| engine | images/s ({what}) | against eager | start-up (s) | "
          "largest relative difference to eager |\n|---|---|---|---|---|")
    for k in engines:
        ips = 16 / min(times[k])
        rel = float(np.max(np.abs(outs[k] - y0)) / np.max(np.abs(y0)))
        print(f"| {k} | {ips:.2f} | {ips / base:.2f}x | {setup[k]:.1f} | {rel:.1e} |")
    del xcl
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
