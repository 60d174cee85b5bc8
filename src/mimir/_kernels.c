/* mimir._kernels: fused loops for the preprocessing's element-wise arithmetic.
 *
 * Each kernel performs, element by element, the very float64 operations that the numpy
 * code in mimir.fusion.resample and mimir.projection (passes, fractions) performs array
 * by array, in the same order and with the same roundings, so that the results are equal
 * bit for bit; it only saves the passes over memory between them. Built with
 * -ffp-contract=off (no fused multiply-add, which would round once instead of twice).
 * Sums along a contiguous axis are not done here (numpy sums those pairwise, in an
 * order of its own); a sum across rows is, row after row, as numpy does it.
 *
 * Arrays arrive through the buffer protocol (no numpy headers needed to build); every
 * shape, dtype and index is checked before any memory is touched, and a check that fails
 * raises ValueError, so the Python side can fall back to numpy. The loops run without
 * the GIL (threads of one process, as in a Dask worker, preprocess side by side).
 * mimir/native.py loads this module and says how to switch it off.
 *
 * Sources: _kernels.c (this file: buffer checks, the module), _kernels_resample.c
 * (resampling), _kernels_sweep.c (signal sum, histograms).
 */
#include "_kernels.h"

int mk_kind_of(const Py_buffer *b)
{
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
#if PY_BIG_ENDIAN
        if (*f == '<') return K_BAD;
#endif
        f++;
    }
    if (f[1] != '\0') return K_BAD;
    switch (f[0]) {
    case 'H': return b->itemsize == 2 ? K_U16 : K_BAD;
    case 'f': return b->itemsize == 4 ? K_F32 : K_BAD;
    case 'd': return b->itemsize == 8 ? K_F64 : K_BAD;
    case 'q': case 'l': return b->itemsize == 8 ? K_I64 : K_BAD;
    default: return K_BAD;
    }
}

int mk_get_buf(PyObject *o, Py_buffer *b, int writable, int ndim, int kind, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, b, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: not a C-contiguous%s array", name,
                     writable ? " writable" : "");
        return -1;
    }
    if (ndim && b->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: %d dimensions, expected %d", name, b->ndim,
                     ndim);
        PyBuffer_Release(b);
        return -1;
    }
    if (kind != K_ANY && mk_kind_of(b) != kind) {
        PyErr_Format(PyExc_ValueError, "%s: wrong dtype", name);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

Py_ssize_t mk_n_items(const Py_buffer *b)
{
    return b->itemsize ? b->len / b->itemsize : 0;
}

static PyMethodDef methods[] = {
    {"resample_plane", mk_resample_plane, METH_VARARGS, mk_resample_plane_doc},
    {"lerp_planes", mk_lerp_planes, METH_VARARGS, mk_lerp_planes_doc},
    {"sum_range", mk_sum_range, METH_VARARGS, mk_sum_range_doc},
    {"hist_estimate", mk_hist_estimate, METH_VARARGS, mk_hist_estimate_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "mimir._kernels",
    "Fused loops for the preprocessing's element-wise arithmetic (see mimir.native).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    return PyModule_Create(&moddef);
}
