"""Floating-point modes of the networks: what ``--precision`` means on every device.

``fp32`` means IEEE float32 for every convolution and matrix product, on the CPU and on
the GPU. PyTorch's defaults do not guarantee that: on NVIDIA GPUs since Ampere, cuDNN
runs float32 convolutions on TF32 tensor cores (10-bit mantissa) unless told otherwise,
and a caller's ``torch.set_float32_matmul_precision('high' or 'medium')`` lets matrix
products use TF32, or bfloat16 in oneDNN on the CPU. :func:`float32_mode` switches all
of that off around a module's forward passes and restores the caller's settings after.

``tf32`` is the opt-in that allows TF32 for convolutions and matrix products on CUDA
GPUs (faster there, numbers change; on the CPU it is exactly ``fp32``). ``bf16`` and
``fp16`` (autocast, half weights) change numbers more; float32 operations left in them
stay IEEE as in ``fp32``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: Precisions a module can run at; the first is the default and exact one.
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")

# torch.backends objects carrying an ``fp32_precision`` setting: parents first, so that
# restoring a parent (which may propagate to its children) comes before the children.
_PARENTS = ((), ("cudnn",), ("mkldnn",))
_LEAVES = (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"), ("mkldnn", "matmul"),
           ("mkldnn", "conv"), ("mkldnn", "rnn"))


def _backend(path: tuple[str, ...]):
    import torch  # lazy: torch loads only where it is used

    obj = torch.backends
    for name in path:
        obj = getattr(obj, name)
    return obj


def precision_settings() -> dict:
    """The current float32 settings of torch (for saving and for tests).

    Keys: ``matmul`` (``torch.get_float32_matmul_precision()``, or None where torch
    refuses to answer because legacy and new settings were mixed) and one key per
    ``torch.backends`` object with an ``fp32_precision`` (``cuda.matmul``,
    ``cudnn.conv``, ...; ``""`` for the top level).
    """
    import torch  # lazy: torch loads only where it is used

    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = None
    out: dict = {"matmul": matmul}
    for path in _PARENTS + _LEAVES:
        out[".".join(path)] = _backend(path).fp32_precision
    return out


def restore_settings(saved: dict) -> None:
    """Put back settings saved by :func:`precision_settings`."""
    import torch  # lazy: torch loads only where it is used

    if saved["matmul"] is not None:
        torch.set_float32_matmul_precision(saved["matmul"])
    for path in _PARENTS + _LEAVES:
        _backend(path).fp32_precision = saved[".".join(path)]


@contextlib.contextmanager
def float32_mode(precision: str = "fp32") -> Iterator[None]:
    """Run the enclosed forward passes with the float32 arithmetic ``precision`` asks for.

    Parameters
    ----------
    precision : {'fp32', 'tf32', 'bf16', 'fp16'}
        ``tf32`` allows TF32 for CUDA convolutions and matrix products; every other
        value makes float32 operations IEEE on every backend.

    Notes
    -----
    The caller's settings (legacy ``allow_tf32`` flags, ``set_float32_matmul_precision``
    and the per-backend ``fp32_precision`` values) are restored on exit, also when the
    enclosed code raises.
    """
    import torch  # lazy: torch loads only where it is used

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cuda = "tf32" if precision == "tf32" else "ieee"
    saved = precision_settings()
    try:
        with contextlib.suppress(RuntimeError):
            torch.set_float32_matmul_precision("highest")
        _backend(("cuda", "matmul")).fp32_precision = cuda
        _backend(("cudnn", "conv")).fp32_precision = cuda
        _backend(("mkldnn", "matmul")).fp32_precision = "ieee"
        _backend(("mkldnn", "conv")).fp32_precision = "ieee"
        yield
    finally:
        restore_settings(saved)
