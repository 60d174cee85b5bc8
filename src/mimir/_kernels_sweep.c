/* mimir._kernels: the signal sum with its ranges and coronal projections, and the Otsu
 * histogram estimate (projection.passes' and projection.fractions' arithmetic). */
#include "_kernels.h"

const char mk_sum_range_doc[] =
"sum_range(water, fat, total, lo, hi, cor_water, cor_fat, keep)\n\n"
"For k planes of (Y, X) float64 values: total = water + fat, an exact zero of total\n"
"replaced by 1, and lo, hi ((Y, X) float64) the running element-wise minimum and\n"
"maximum of total over the planes, NaN propagating as numpy.minimum and maximum do;\n"
"cor_water and cor_fat ((k, X) float64) the sums of water and fat over their first keep\n"
"rows, 0 plus one row after another (numpy's order for a sum over a non-contiguous\n"
"axis). water and fat: (k, Y, X), C-contiguous planes in any order of planes (any\n"
"stride between planes); total: (k, Y, X) C-contiguous.";

static int get_planes(PyObject *o, Py_buffer *b, const char *name)
{
    if (PyObject_GetBuffer(o, b, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: not a strided array", name);
        return -1;
    }
    if (b->ndim != 3 || mk_kind_of(b) != K_F64 || b->strides[2] != 8
        || b->strides[1] != 8 * b->shape[2]) {
        PyErr_Format(PyExc_ValueError, "%s: not (k, Y, X) float64 with contiguous planes",
                     name);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* One plane of sum_range, row by row (the coronal sums take each row while it is in
 * the first-level cache). */
static MULTI void sum_range_plane(const double *restrict w, const double *restrict f,
                                  double *restrict t, double *restrict lo,
                                  double *restrict hi, double *restrict cw,
                                  double *restrict cf, Py_ssize_t Y, Py_ssize_t X,
                                  Py_ssize_t keep)
{
    Py_ssize_t y, i;
    for (y = 0; y < Y; y++) {
        const double *restrict wr = w + y * X, *restrict fr = f + y * X;
        double *restrict tr = t + y * X, *restrict lr = lo + y * X, *restrict hr = hi + y * X;
        for (i = 0; i < X; i++) {
            double s = wr[i] + fr[i];
            double l = lr[i], h = hr[i];
            s = s == 0.0 ? 1.0 : s;
            tr[i] = s;
            /* numpy.minimum / maximum: a NaN on either side wins; as selects on one
             * comparison each, so that the loop vectorizes */
            double m = l <= s ? l : s, n = h >= s ? h : s;
            lr[i] = l != l ? l : m;
            hr[i] = h != h ? h : n;
        }
        if (y >= keep) continue;
        /* 0, then each row added in turn (numpy starts from add's identity: a sum of
         * -0.0 alone is +0.0) */
        if (y == 0) {
            for (i = 0; i < X; i++) { cw[i] = 0.0 + wr[i]; cf[i] = 0.0 + fr[i]; }
        } else {
            for (i = 0; i < X; i++) { cw[i] += wr[i]; cf[i] += fr[i]; }
        }
    }
}

PyObject *mk_sum_range(PyObject *self, PyObject *args)
{
    PyObject *wo, *fo, *to, *lo_o, *hi_o, *cwo, *cfo;
    Py_ssize_t keep;
    Py_buffer wb = {0}, fb = {0}, tb = {0}, lb = {0}, hb = {0}, cwb = {0}, cfb = {0};
    PyObject *ret = NULL;
    Py_ssize_t k, Y, X, plane, z;

    if (!PyArg_ParseTuple(args, "OOOOOOOn", &wo, &fo, &to, &lo_o, &hi_o, &cwo, &cfo, &keep))
        return NULL;
    if (get_planes(wo, &wb, "water") < 0 || get_planes(fo, &fb, "fat") < 0
        || mk_get_buf(to, &tb, 1, 3, K_F64, "total") < 0
        || mk_get_buf(lo_o, &lb, 1, 2, K_F64, "lo") < 0
        || mk_get_buf(hi_o, &hb, 1, 2, K_F64, "hi") < 0
        || mk_get_buf(cwo, &cwb, 1, 2, K_F64, "cor_water") < 0
        || mk_get_buf(cfo, &cfb, 1, 2, K_F64, "cor_fat") < 0)
        goto done;
    k = wb.shape[0];
    Y = wb.shape[1];
    X = wb.shape[2];
    plane = Y * X;
    if (fb.shape[0] != k || fb.shape[1] != Y || fb.shape[2] != X
        || tb.shape[0] != k || tb.shape[1] != Y || tb.shape[2] != X
        || mk_n_items(&lb) != plane || mk_n_items(&hb) != plane
        || cwb.shape[0] != k || cwb.shape[1] != X || cfb.shape[0] != k || cfb.shape[1] != X
        || keep < 1 || keep > Y) {
        PyErr_SetString(PyExc_ValueError, "sum_range: dtypes or shapes do not match");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (z = 0; z < k; z++)
        sum_range_plane((const double *)((const char *)wb.buf + z * wb.strides[0]),
                        (const double *)((const char *)fb.buf + z * fb.strides[0]),
                        (double *)tb.buf + z * plane, lb.buf, hb.buf,
                        (double *)cwb.buf + z * X, (double *)cfb.buf + z * X, Y, X, keep);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&cfb);
    PyBuffer_Release(&cwb);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&lb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&wb);
    return ret;
}

const char mk_hist_estimate_doc[] =
"hist_estimate(v, a, b, two_eps, counts, hits, start) -> (stop, n_hits)\n\n"
"v: (Z, Y, X) float64, C-contiguous; a, b: (Y,) float64; counts: int64, n_bins long;\n"
"hits: int64 scratch. From flat position start on, every value x of plane y gets\n"
"f = x * a[y] + b[y]; where trunc(f) == trunc(f - two_eps) counts[trunc(f)] += 1,\n"
"otherwise its flat position goes into hits. Stops where hits is full or at the end;\n"
"returns the position reached and the number of hits. ValueError when a bin falls\n"
"outside counts.";

PyObject *mk_hist_estimate(PyObject *self, PyObject *args)
{
    PyObject *vo, *ao, *bo, *co, *ho;
    double two_eps;
    Py_ssize_t start;
    Py_buffer vb = {0}, ab = {0}, bb = {0}, cb = {0}, hb = {0};
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OOOdOOn", &vo, &ao, &bo, &two_eps, &co, &ho, &start))
        return NULL;
    if (mk_get_buf(vo, &vb, 0, 3, K_F64, "v") < 0
        || mk_get_buf(ao, &ab, 0, 1, K_F64, "a") < 0
        || mk_get_buf(bo, &bb, 0, 1, K_F64, "b") < 0
        || mk_get_buf(co, &cb, 1, 1, K_I64, "counts") < 0
        || mk_get_buf(ho, &hb, 1, 1, K_I64, "hits") < 0)
        goto done;
    {
        Py_ssize_t Y = vb.shape[1], X = vb.shape[2], size = mk_n_items(&vb);
        Py_ssize_t nb = mk_n_items(&cb), cap = mk_n_items(&hb), nh = 0, pos;
        int bad = 0;
        const double *v = vb.buf, *a = ab.buf, *b = bb.buf;
        int64_t *counts = cb.buf, *hits = hb.buf;
        if (mk_n_items(&ab) != Y || mk_n_items(&bb) != Y || cap < 1 || start < 0
            || start > size || X < 1) {
            PyErr_SetString(PyExc_ValueError, "hist_estimate: dtypes or shapes do not match");
            goto done;
        }
        pos = start;
        Py_BEGIN_ALLOW_THREADS
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
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "histogram estimate out of range");
            goto done;
        }
        ret = Py_BuildValue("nn", pos, nh);
    }
done:
    PyBuffer_Release(&hb);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&bb);
    PyBuffer_Release(&ab);
    PyBuffer_Release(&vb);
    return ret;
}

