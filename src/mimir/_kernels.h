/* Shared declarations of the mimir._kernels sources (see _kernels.c). */
#ifndef MIMIR_KERNELS_H
#define MIMIR_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The loops are compiled for the x86-64 baseline and, where GCC can dispatch at run time
 * (Linux), for AVX2 and AVX-512 as well; the CPU picks its clone at load time. Wider
 * vectors do the same IEEE operations element by element (no contraction, no
 * reassociation), so every clone gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MULTI __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTI
#endif

enum { K_U16, K_F32, K_F64, K_I64, K_BAD, K_ANY };

/* The kind of a buffer's items (K_BAD for any other). */
int mk_kind_of(const Py_buffer *b);
/* A C-contiguous buffer of ndim dimensions (ndim 0: any) and items of a kind (K_ANY:
 * any), optionally writable; ValueError naming it otherwise (and b left unheld).
 * Buffers start zeroed ({0}): PyBuffer_Release of one never held does nothing, so a
 * kernel releases all of its buffers in one place, whichever were acquired. */
int mk_get_buf(PyObject *o, Py_buffer *b, int writable, int ndim, int kind,
               const char *name);
Py_ssize_t mk_n_items(const Py_buffer *b);

/* The module's functions and their docstrings. */
PyObject *mk_resample_plane(PyObject *self, PyObject *args);
PyObject *mk_lerp_planes(PyObject *self, PyObject *args);
PyObject *mk_sum_range(PyObject *self, PyObject *args);
PyObject *mk_hist_estimate(PyObject *self, PyObject *args);
extern const char mk_resample_plane_doc[], mk_lerp_planes_doc[], mk_sum_range_doc[],
    mk_hist_estimate_doc[];

#endif
