/* mimir._kernels: fused loops for the preprocessing's element-wise arithmetic.
 *
 * Each kernel performs, element by element, the very float64 operations that the numpy
 * code in mimir.fusion.resample and mimir.projection (passes, fractions) performs array
 * by array, in the same order and with the same roundings, so that the results are equal
 * bit for bit; it only saves the passes over memory between them. Built with
 * -ffp-contract=off (no fused multiply-add, which would round once instead of twice).
 * Sums are not done here: numpy's pairwise summation order is numpy's own.
 *
 * Arrays arrive through the buffer protocol (no numpy headers needed to build); every
 * shape, dtype and index is checked before any memory is touched, and a check that fails
 * raises ValueError, so the Python side can fall back to numpy. mimir/native.py loads
 * this module and says how to switch it off.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_U16, K_F32, K_F64, K_I64, K_BAD };

static int kind_of(const Py_buffer *b)
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

/* A C-contiguous buffer of ndim dimensions (ndim 0: any), optionally writable. */
static int get_buf(PyObject *o, Py_buffer *b, int writable, int ndim, const char *name)
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
    return 0;
}

static Py_ssize_t n_items(const Py_buffer *b)
{
    return b->itemsize ? b->len / b->itemsize : 0;
}

/* One row of a station plane as float64 (exact for uint16, float32 and float64). */
#define LOAD_ROW(T)                                                                    \
    {                                                                                  \
        const T *s = (const T *)base + row * cols;                                     \
        for (c = 0; c < cols; c++) dst[c] = (double)s[c];                              \
    }

static void load_row(const char *base, int kind, Py_ssize_t row, Py_ssize_t cols,
                     double *restrict dst)
{
    Py_ssize_t c;
    if (kind == K_U16) LOAD_ROW(uint16_t)
    else if (kind == K_F32) LOAD_ROW(float)
    else LOAD_ROW(double)
}

/* The row pass of one output row: dst[c] = src[i1, c] * d + src[i0, c] * e. */
#define LERP_ROWS(T)                                                                   \
    {                                                                                  \
        const T *s1 = (const T *)base + i1 * cols, *s0 = (const T *)base + i0 * cols;  \
        for (c = 0; c < cols; c++) {                                                   \
            double p = (double)s1[c] * d;                                              \
            double q = (double)s0[c] * e;                                              \
            dst[c] = p + q;                                                            \
        }                                                                              \
    }

static void lerp_rows(const char *base, int kind, Py_ssize_t i1, double d, Py_ssize_t i0,
                      double e, Py_ssize_t cols, double *restrict dst)
{
    Py_ssize_t c;
    if (kind == K_U16) LERP_ROWS(uint16_t)
    else if (kind == K_F32) LERP_ROWS(float)
    else LERP_ROWS(double)
}

/* An axis map given as four arrays (i0, i1 int64; d, e float64) of one length, every
 * index within [0, n); or None (identity). */
typedef struct {
    Py_buffer b[4];
    int held;
    Py_ssize_t size;
    const int64_t *i0, *i1;
    const double *d, *e;
} axis_t;

static void axis_release(axis_t *a)
{
    int k;
    for (k = 0; k < a->held; k++) PyBuffer_Release(&a->b[k]);
    a->held = 0;
}

static int axis_get(PyObject *o, axis_t *a, Py_ssize_t n, const char *name)
{
    int k;
    Py_ssize_t i;
    a->held = 0;
    a->size = -1;
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
        PyErr_Format(PyExc_ValueError, "%s: expected (i0, i1, d, e) or None", name);
        return -1;
    }
    for (k = 0; k < 4; k++) {
        if (get_buf(PyTuple_GET_ITEM(o, k), &a->b[k], 0, 1, name) < 0) goto fail;
        a->held++;
        if (kind_of(&a->b[k]) != (k < 2 ? K_I64 : K_F64)) {
            PyErr_Format(PyExc_ValueError, "%s: wrong dtype of part %d", name, k);
            goto fail;
        }
        if (k && n_items(&a->b[k]) != n_items(&a->b[0])) {
            PyErr_Format(PyExc_ValueError, "%s: parts of different lengths", name);
            goto fail;
        }
    }
    a->size = n_items(&a->b[0]);
    a->i0 = (const int64_t *)a->b[0].buf;
    a->i1 = (const int64_t *)a->b[1].buf;
    a->d = (const double *)a->b[2].buf;
    a->e = (const double *)a->b[3].buf;
    for (i = 0; i < a->size; i++) {
        if (a->i0[i] < 0 || a->i0[i] >= n || a->i1[i] < 0 || a->i1[i] >= n) {
            PyErr_Format(PyExc_ValueError, "%s: source index out of range", name);
            goto fail;
        }
    }
    return 0;
fail:
    axis_release(a);
    return -1;
}

PyDoc_STRVAR(resample_plane_doc,
"resample_plane(src, out, rows, cols)\n\n"
"Row pass then column pass of one station plane: src (rows, cols) uint16, float32 or\n"
"float64; out (rows', cols') float64. rows and cols are (i0, i1, d, e) maps or None\n"
"(identity): mid[r, c] = src[i1[r], c] * d[r] + src[i0[r], c] * e[r], then\n"
"out[r, c] = mid[r, j1[c]] * dc[c] + mid[r, j0[c]] * ec[c], each product and sum\n"
"rounded to float64.");

static PyObject *resample_plane(PyObject *self, PyObject *args)
{
    PyObject *so, *oo, *ro, *co;
    Py_buffer sb, ob;
    axis_t rm, cm;
    Py_ssize_t rows, cols, orows, ocols, r, c;
    double *mid = NULL;
    int kind;
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OOOO", &so, &oo, &ro, &co)) return NULL;
    if (get_buf(so, &sb, 0, 2, "src") < 0) return NULL;
    if (get_buf(oo, &ob, 1, 2, "out") < 0) { PyBuffer_Release(&sb); return NULL; }
    rm.held = cm.held = 0;
    kind = kind_of(&sb);
    if ((kind != K_U16 && kind != K_F32 && kind != K_F64) || kind_of(&ob) != K_F64) {
        PyErr_SetString(PyExc_ValueError, "src or out: unsupported dtype");
        goto done;
    }
    rows = sb.shape[0]; cols = sb.shape[1];
    orows = ob.shape[0]; ocols = ob.shape[1];
    if (axis_get(ro, &rm, rows, "rows") < 0 || axis_get(co, &cm, cols, "cols") < 0)
        goto done;
    if ((rm.size < 0 ? rows : rm.size) != orows || (cm.size < 0 ? cols : cm.size) != ocols) {
        PyErr_SetString(PyExc_ValueError, "out: shape does not match the maps");
        goto done;
    }
    if (cols > 0) {
        mid = PyMem_Malloc((size_t)cols * sizeof(double));
        if (!mid) { PyErr_NoMemory(); goto done; }
    }
    {
        double *o = (double *)ob.buf;
        for (r = 0; r < orows; r++) {
            double *orow = o + r * ocols;
            double *m = cm.size < 0 ? orow : mid;  /* no column pass: straight into out */
            if (rm.size < 0)
                load_row(sb.buf, kind, r, cols, m);
            else
                lerp_rows(sb.buf, kind, rm.i1[r], rm.d[r], rm.i0[r], rm.e[r], cols, m);
            if (cm.size >= 0) {
                const int64_t *restrict j1 = cm.i1, *restrict j0 = cm.i0;
                const double *restrict dc = cm.d, *restrict ec = cm.e;
                const double *restrict mm = m;
                double *restrict oo = orow;
                for (c = 0; c < ocols; c++) {
                    double p = mm[j1[c]] * dc[c];
                    double q = mm[j0[c]] * ec[c];
                    oo[c] = p + q;
                }
            }
        }
    }
    ret = Py_NewRef(Py_None);
done:
    PyMem_Free(mid);
    axis_release(&rm);
    axis_release(&cm);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ob);
    return ret;
}

PyDoc_STRVAR(lerp_planes_doc,
"lerp_planes(p1, d, p0, e, out)\n\n"
"out = p1 * d + p0 * e (float64 planes of one size, d and e floats), each product and\n"
"the sum rounded to float64, the sum then rounded once to out's dtype (float64 or\n"
"float32). With p0 None: out = p1 (rounded to out's dtype).");

static PyObject *lerp_planes(PyObject *self, PyObject *args)
{
    PyObject *p1o, *p0o, *oo;
    double d, e;
    Py_buffer p1, p0, ob;
    int have0, okind;
    Py_ssize_t n, i;
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OdOdO", &p1o, &d, &p0o, &e, &oo)) return NULL;
    have0 = p0o != Py_None;
    if (get_buf(p1o, &p1, 0, 0, "p1") < 0) return NULL;
    if (have0 && get_buf(p0o, &p0, 0, 0, "p0") < 0) { PyBuffer_Release(&p1); return NULL; }
    if (get_buf(oo, &ob, 1, 0, "out") < 0) goto release_in;
    okind = kind_of(&ob);
    n = n_items(&p1);
    if (kind_of(&p1) != K_F64 || (have0 && kind_of(&p0) != K_F64)
        || (okind != K_F64 && okind != K_F32)
        || (have0 && n_items(&p0) != n) || n_items(&ob) != n) {
        PyErr_SetString(PyExc_ValueError, "lerp_planes: dtypes or sizes do not match");
        goto done;
    }
    {
        const double *restrict x1 = p1.buf, *restrict x0 = have0 ? p0.buf : NULL;
        if (okind == K_F64) {
            double *restrict o = ob.buf;
            if (have0) {
                for (i = 0; i < n; i++) { double p = x1[i] * d, q = x0[i] * e; o[i] = p + q; }
            } else {
                memcpy(o, x1, (size_t)n * sizeof(double));
            }
        } else {
            float *restrict o = ob.buf;
            if (have0) {
                for (i = 0; i < n; i++) {
                    double p = x1[i] * d, q = x0[i] * e, s = p + q;
                    o[i] = (float)s;
                }
            } else {
                for (i = 0; i < n; i++) o[i] = (float)x1[i];
            }
        }
    }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ob);
release_in:
    if (have0) PyBuffer_Release(&p0);
    PyBuffer_Release(&p1);
    return ret;
}

PyDoc_STRVAR(sum_range_doc,
"sum_range(water, fat, total, lo, hi)\n\n"
"For k planes of (Y, X) float64 values: total = water + fat, an exact zero of total\n"
"replaced by 1, and lo, hi ((Y, X) float64) the running element-wise minimum and\n"
"maximum of total over the planes, NaN propagating as numpy.minimum and maximum do.\n"
"water and fat: (k, Y, X), C-contiguous planes in any order of planes (any stride\n"
"between planes); total: (k, Y, X) C-contiguous.");

static int get_planes(PyObject *o, Py_buffer *b, const char *name)
{
    if (PyObject_GetBuffer(o, b, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: not a strided array", name);
        return -1;
    }
    if (b->ndim != 3 || kind_of(b) != K_F64 || b->strides[2] != 8
        || b->strides[1] != 8 * b->shape[2]) {
        PyErr_Format(PyExc_ValueError, "%s: not (k, Y, X) float64 with contiguous planes",
                     name);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

static PyObject *sum_range(PyObject *self, PyObject *args)
{
    PyObject *wo, *fo, *to, *lo_o, *hi_o;
    Py_buffer wb, fb, tb, lb, hb;
    int held = 0;
    PyObject *ret = NULL;
    Py_ssize_t k, plane, z, i;

    if (!PyArg_ParseTuple(args, "OOOOO", &wo, &fo, &to, &lo_o, &hi_o)) return NULL;
    if (get_planes(wo, &wb, "water") < 0) return NULL;
    held = 1;
    if (get_planes(fo, &fb, "fat") < 0) goto done;
    held = 2;
    if (get_buf(to, &tb, 1, 3, "total") < 0) goto done;
    held = 3;
    if (get_buf(lo_o, &lb, 1, 2, "lo") < 0) goto done;
    held = 4;
    if (get_buf(hi_o, &hb, 1, 2, "hi") < 0) goto done;
    held = 5;
    k = wb.shape[0];
    plane = wb.shape[1] * wb.shape[2];
    if (kind_of(&tb) != K_F64 || kind_of(&lb) != K_F64 || kind_of(&hb) != K_F64
        || fb.shape[0] != k || fb.shape[1] != wb.shape[1] || fb.shape[2] != wb.shape[2]
        || tb.shape[0] != k || tb.shape[1] != wb.shape[1] || tb.shape[2] != wb.shape[2]
        || n_items(&lb) != plane || n_items(&hb) != plane) {
        PyErr_SetString(PyExc_ValueError, "sum_range: dtypes or shapes do not match");
        goto done;
    }
    {
        double *restrict lo = lb.buf, *restrict hi = hb.buf;
        for (z = 0; z < k; z++) {
            const double *restrict w =
                (const double *)((const char *)wb.buf + z * wb.strides[0]);
            const double *restrict f =
                (const double *)((const char *)fb.buf + z * fb.strides[0]);
            double *restrict t = (double *)tb.buf + z * plane;
            for (i = 0; i < plane; i++) {
                double s = w[i] + f[i];
                double l = lo[i], h = hi[i];
                s = s == 0.0 ? 1.0 : s;
                t[i] = s;
                /* numpy.minimum / maximum: a NaN on either side wins; as selects on
                 * one comparison each, so that the loop vectorizes */
                double m = l <= s ? l : s, n = h >= s ? h : s;
                lo[i] = l != l ? l : m;
                hi[i] = h != h ? h : n;
            }
        }
    }
    ret = Py_NewRef(Py_None);
done:
    if (held >= 5) PyBuffer_Release(&hb);
    if (held >= 4) PyBuffer_Release(&lb);
    if (held >= 3) PyBuffer_Release(&tb);
    if (held >= 2) PyBuffer_Release(&fb);
    PyBuffer_Release(&wb);
    return ret;
}

PyDoc_STRVAR(hist_estimate_doc,
"hist_estimate(v, a, b, two_eps, counts, hits, start) -> (stop, n_hits)\n\n"
"v: (Z, Y, X) float64, C-contiguous; a, b: (Y,) float64; counts: int64, n_bins long;\n"
"hits: int64 scratch. From flat position start on, every value x of plane y gets\n"
"f = x * a[y] + b[y]; where trunc(f) == trunc(f - two_eps) counts[trunc(f)] += 1,\n"
"otherwise its flat position goes into hits. Stops where hits is full or at the end;\n"
"returns the position reached and the number of hits. ValueError when a bin falls\n"
"outside counts.");

static PyObject *hist_estimate(PyObject *self, PyObject *args)
{
    PyObject *vo, *ao, *bo, *co, *ho;
    double two_eps;
    Py_ssize_t start;
    Py_buffer vb, ab, bb, cb, hb;
    int held = 0;
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OOOdOOn", &vo, &ao, &bo, &two_eps, &co, &ho, &start))
        return NULL;
    if (get_buf(vo, &vb, 0, 3, "v") < 0) return NULL;
    held = 1;
    if (get_buf(ao, &ab, 0, 1, "a") < 0) goto done;
    held = 2;
    if (get_buf(bo, &bb, 0, 1, "b") < 0) goto done;
    held = 3;
    if (get_buf(co, &cb, 1, 1, "counts") < 0) goto done;
    held = 4;
    if (get_buf(ho, &hb, 1, 1, "hits") < 0) goto done;
    held = 5;
    {
        Py_ssize_t Y = vb.shape[1], X = vb.shape[2], size = n_items(&vb);
        Py_ssize_t nb = n_items(&cb), cap = n_items(&hb), nh = 0, pos;
        int bad = 0;
        const double *v = vb.buf, *a = ab.buf, *b = bb.buf;
        int64_t *counts = cb.buf, *hits = hb.buf;
        if (kind_of(&vb) != K_F64 || kind_of(&ab) != K_F64 || kind_of(&bb) != K_F64
            || kind_of(&cb) != K_I64 || kind_of(&hb) != K_I64
            || n_items(&ab) != Y || n_items(&bb) != Y || cap < 1 || start < 0
            || start > size || X < 1) {
            PyErr_SetString(PyExc_ValueError, "hist_estimate: dtypes or shapes do not match");
            goto done;
        }
        pos = start;
        while (pos < size && nh < cap && !bad) {
            Py_ssize_t y = (pos / X) % Y, end = pos - pos % X + X, i;
            double ay = a[y], by = b[y];
            for (i = pos; i < end; i++) {
                double f = v[i] * ay + by;
                double g = f - two_eps;
                /* trunc toward zero, as numpy's float -> intp cast; the range check
                 * keeps the casts defined */
                if (!(f > -1.0 && f < (double)nb && g > -1.0)) { bad = 1; break; }
                {
                    int64_t ik = (int64_t)f, lk = (int64_t)g;
                    if (ik == lk) {
                        counts[ik] += 1;
                    } else {
                        hits[nh++] = (int64_t)i;
                        if (nh == cap) { i++; break; }
                    }
                }
            }
            pos = i;
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "histogram estimate out of range");
            goto done;
        }
        ret = Py_BuildValue("nn", pos, nh);
    }
done:
    if (held >= 5) PyBuffer_Release(&hb);
    if (held >= 4) PyBuffer_Release(&cb);
    if (held >= 3) PyBuffer_Release(&bb);
    if (held >= 2) PyBuffer_Release(&ab);
    PyBuffer_Release(&vb);
    return ret;
}

static PyMethodDef methods[] = {
    {"resample_plane", resample_plane, METH_VARARGS, resample_plane_doc},
    {"lerp_planes", lerp_planes, METH_VARARGS, lerp_planes_doc},
    {"sum_range", sum_range, METH_VARARGS, sum_range_doc},
    {"hist_estimate", hist_estimate, METH_VARARGS, hist_estimate_doc},
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
