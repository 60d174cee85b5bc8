/* mimir._kernels: resampling (fusion.resample's arithmetic, in the same order). */
#include "_kernels.h"

/* One row of a station plane as float64 (exact for uint16, float32 and float64). */
#define LOAD_ROW(T)                                                                    \
    {                                                                                  \
        const T *s = (const T *)base + row * cols;                                     \
        for (c = 0; c < cols; c++) dst[c] = (double)s[c];                              \
    }

static MULTI void load_row(const char *base, int kind, Py_ssize_t row, Py_ssize_t cols,
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

static MULTI void lerp_rows(const char *base, int kind, Py_ssize_t i1, double d, Py_ssize_t i0,
                      double e, Py_ssize_t cols, double *restrict dst)
{
    Py_ssize_t c;
    if (kind == K_U16) LERP_ROWS(uint16_t)
    else if (kind == K_F32) LERP_ROWS(float)
    else LERP_ROWS(double)
}

/* An axis map given as four arrays (i0, i1 int64; d, e float64) of one length, every
 * index within [0, n); or None (identity: size -1). Its buffers start zeroed. */
typedef struct {
    Py_buffer b[4];
    Py_ssize_t size;
    const int64_t *i0, *i1;
    const double *d, *e;
} axis_t;

static void axis_release(axis_t *a)
{
    int k;
    for (k = 0; k < 4; k++) PyBuffer_Release(&a->b[k]);
}

static int axis_get(PyObject *o, axis_t *a, Py_ssize_t n, const char *name)
{
    int k;
    Py_ssize_t i;
    a->size = -1;
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
        PyErr_Format(PyExc_ValueError, "%s: expected (i0, i1, d, e) or None", name);
        return -1;
    }
    for (k = 0; k < 4; k++) {
        if (mk_get_buf(PyTuple_GET_ITEM(o, k), &a->b[k], 0, 1, k < 2 ? K_I64 : K_F64,
                       name) < 0)
            return -1;
        if (k && mk_n_items(&a->b[k]) != mk_n_items(&a->b[0])) {
            PyErr_Format(PyExc_ValueError, "%s: parts of different lengths", name);
            return -1;
        }
    }
    a->i0 = (const int64_t *)a->b[0].buf;
    a->i1 = (const int64_t *)a->b[1].buf;
    a->d = (const double *)a->b[2].buf;
    a->e = (const double *)a->b[3].buf;
    for (i = 0; i < mk_n_items(&a->b[0]); i++) {
        if (a->i0[i] < 0 || a->i0[i] >= n || a->i1[i] < 0 || a->i1[i] >= n) {
            PyErr_Format(PyExc_ValueError, "%s: source index out of range", name);
            return -1;
        }
    }
    a->size = mk_n_items(&a->b[0]);
    return 0;
}

/* The column pass of one row: out[c] = mid[j1[c]] * dc[c] + mid[j0[c]] * ec[c]. */
static MULTI void col_pass(const double *restrict mid, const axis_t *cm, Py_ssize_t ocols,
                           double *restrict out)
{
    const int64_t *restrict j1 = cm->i1, *restrict j0 = cm->i0;
    const double *restrict dc = cm->d, *restrict ec = cm->e;
    Py_ssize_t c;
    for (c = 0; c < ocols; c++) {
        double p = mid[j1[c]] * dc[c];
        double q = mid[j0[c]] * ec[c];
        out[c] = p + q;
    }
}

const char mk_resample_plane_doc[] =
"resample_plane(src, out, rows, cols)\n\n"
"Row pass then column pass of one station plane: src (rows, cols) uint16, float32 or\n"
"float64; out (rows', cols') float64. rows and cols are (i0, i1, d, e) maps or None\n"
"(identity): mid[r, c] = src[i1[r], c] * d[r] + src[i0[r], c] * e[r], then\n"
"out[r, c] = mid[r, j1[c]] * dc[c] + mid[r, j0[c]] * ec[c], each product and sum\n"
"rounded to float64.";

PyObject *mk_resample_plane(PyObject *self, PyObject *args)
{
    PyObject *so, *oo, *ro, *co;
    Py_buffer sb = {0}, ob = {0};
    axis_t rm = {0}, cm = {0};
    Py_ssize_t rows, cols, orows, ocols, r;
    double *mid = NULL;
    int kind;
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OOOO", &so, &oo, &ro, &co)) return NULL;
    if (mk_get_buf(so, &sb, 0, 2, K_ANY, "src") < 0
        || mk_get_buf(oo, &ob, 1, 2, K_F64, "out") < 0)
        goto done;
    kind = mk_kind_of(&sb);
    if (kind != K_U16 && kind != K_F32 && kind != K_F64) {
        PyErr_SetString(PyExc_ValueError, "src: wrong dtype");
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
    Py_BEGIN_ALLOW_THREADS  /* plain C below: other Python threads may run */
    {
        double *o = (double *)ob.buf;
        for (r = 0; r < orows; r++) {
            double *orow = o + r * ocols;
            double *m = cm.size < 0 ? orow : mid;  /* no column pass: straight into out */
            if (rm.size < 0)
                load_row(sb.buf, kind, r, cols, m);
            else
                lerp_rows(sb.buf, kind, rm.i1[r], rm.d[r], rm.i0[r], rm.e[r], cols, m);
            if (cm.size >= 0) col_pass(m, &cm, ocols, orow);
        }
    }
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyMem_Free(mid);
    axis_release(&rm);
    axis_release(&cm);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ob);
    return ret;
}

const char mk_lerp_planes_doc[] =
"lerp_planes(p1, d, p0, e, out)\n\n"
"out = p1 * d + p0 * e (float64 planes of one size, d and e floats), each product and\n"
"the sum rounded to float64, the sum then rounded once to out's dtype (float64 or\n"
"float32). With p0 None: out = p1 (rounded to out's dtype).";

static MULTI void lerp64(const double *restrict x1, double d, const double *restrict x0,
                         double e, double *restrict o, Py_ssize_t n)
{
    Py_ssize_t i;
    if (x0) {
        for (i = 0; i < n; i++) { double p = x1[i] * d, q = x0[i] * e; o[i] = p + q; }
    } else {
        memcpy(o, x1, (size_t)n * sizeof(double));
    }
}

static MULTI void lerp32(const double *restrict x1, double d, const double *restrict x0,
                         double e, float *restrict o, Py_ssize_t n)
{
    Py_ssize_t i;
    if (x0) {
        for (i = 0; i < n; i++) {
            double p = x1[i] * d, q = x0[i] * e, s = p + q;
            o[i] = (float)s;
        }
    } else {
        for (i = 0; i < n; i++) o[i] = (float)x1[i];
    }
}

PyObject *mk_lerp_planes(PyObject *self, PyObject *args)
{
    PyObject *p1o, *p0o, *oo;
    double d, e;
    Py_buffer p1 = {0}, p0 = {0}, ob = {0};
    int have0, okind;
    Py_ssize_t n;
    PyObject *ret = NULL;

    if (!PyArg_ParseTuple(args, "OdOdO", &p1o, &d, &p0o, &e, &oo)) return NULL;
    have0 = p0o != Py_None;
    if (mk_get_buf(p1o, &p1, 0, 0, K_F64, "p1") < 0
        || (have0 && mk_get_buf(p0o, &p0, 0, 0, K_F64, "p0") < 0)
        || mk_get_buf(oo, &ob, 1, 0, K_ANY, "out") < 0)
        goto done;
    okind = mk_kind_of(&ob);
    n = mk_n_items(&p1);
    if ((okind != K_F64 && okind != K_F32) || (have0 && mk_n_items(&p0) != n)
        || mk_n_items(&ob) != n) {
        PyErr_SetString(PyExc_ValueError, "lerp_planes: dtypes or sizes do not match");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (okind == K_F64)
        lerp64(p1.buf, d, have0 ? p0.buf : NULL, e, ob.buf, n);
    else
        lerp32(p1.buf, d, have0 ? p0.buf : NULL, e, ob.buf, n);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ob);
    PyBuffer_Release(&p0);
    PyBuffer_Release(&p1);
    return ret;
}

