/*
 * pinrec's native kernels: the dense and sparse loops of the SVD and of CF scoring, in C over N-API.
 *
 * Every kernel computes exactly what its JavaScript twin computes (src/cf/csr.ts, src/cf/dense.ts,
 * src/cf/scoring.ts), in the same order of floating-point operations — vectorised across the independent
 * output entries only, never across a sum, and compiled with -ffp-contract=off so no multiply-add is fused —
 * so the native and JavaScript paths agree bit for bit. GCC's target_clones gives each kernel an AVX-512,
 * an AVX2 and a baseline x86-64 (SSE2) build and picks one at load time for the CPU it runs on.
 *
 * Safety: every array argument is checked for its type and length, and every sparse index for its range,
 * before or while it is used; a bad argument throws a RangeError/TypeError naming it, never reads or writes
 * out of bounds. No kernel starts threads: parallelism comes from the library's own worker threads (see
 * src/core/threads.ts), each calling a kernel on its own row range.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define HAVE_CLONES 1
#else
#define CLONES
#define HAVE_CLONES 0
#endif

/* ---------------------------------------------------------------- kernels ---------------------------- */

/* The sparse products gather rows of a dense matrix at random: bound by memory latency, not arithmetic. Asking
 * for the row PF_AHEAD nonzeros ahead (every cache line of it) keeps several misses in flight. Prefetches never
 * fault, and the index is range-checked before its address is formed anyway. */
#define PF_AHEAD 16
#define PREFETCH_ROW(base, indices, q, nnz, cols, l, esize)                                                   \
  do {                                                                                                         \
    if ((q) < (nnz)) {                                                                                         \
      const int32_t pi_ = (indices)[q];                                                                        \
      if ((uint32_t)pi_ < (uint32_t)(cols)) {                                                                  \
        const char *pr_ = (const char *)((base) + (size_t)pi_ * (l));                                          \
        for (int32_t b_ = 0; b_ < (l) * (esize); b_ += 64) __builtin_prefetch(pr_ + b_, 0, 3);                 \
      }                                                                                                        \
    }                                                                                                          \
  } while (0)

/* out[r0..r1) = A[r0..r1) · Z (spmmRows): two nonzeros at a time. Returns -1 on an out-of-range index. */
CLONES static int k_spmm(const int32_t *indptr, const int32_t *indices, const float *data, int32_t cols,
                         const double *z, int32_t l, double *out, int32_t r0, int32_t r1, int32_t nnz) {
  for (int32_t r = r0; r < r1; r++) {
    double *o = out + (size_t)r * l;
    for (int32_t c = 0; c < l; c++) o[c] = 0;
    const int32_t pe = indptr[r + 1];
    int32_t p = indptr[r];
    for (; p + 1 < pe; p += 2) {
      const int32_t i0 = indices[p], i1 = indices[p + 1];
      if ((uint32_t)i0 >= (uint32_t)cols || (uint32_t)i1 >= (uint32_t)cols) return -1;
      PREFETCH_ROW(z, indices, p + PF_AHEAD, nnz, cols, l, 8);
      PREFETCH_ROW(z, indices, p + 1 + PF_AHEAD, nnz, cols, l, 8);
      const double a0 = data[p], a1 = data[p + 1];
      const double *z0 = z + (size_t)i0 * l, *z1 = z + (size_t)i1 * l;
      for (int32_t c = 0; c < l; c++) o[c] += a0 * z0[c] + a1 * z1[c];
    }
    if (p < pe) {
      const int32_t i0 = indices[p];
      if ((uint32_t)i0 >= (uint32_t)cols) return -1;
      const double a0 = data[p];
      const double *z0 = z + (size_t)i0 * l;
      for (int32_t c = 0; c < l; c++) o[c] += a0 * z0[c];
    }
  }
  return 0;
}

/* out[r0..r1) = A[r0..r1) · Z for a float32 Z (spmmRowsF32): each row summed in double in `acc`, nonzeros in
 * order, rounded once into out (float when out32, else double). */
CLONES static int k_spmm_f32(const int32_t *restrict indptr, const int32_t *restrict indices, const float *restrict data, int32_t cols,
                             const float *restrict z, int32_t l, void *out, int out32, double *restrict acc, int32_t r0, int32_t r1, int32_t nnz) {
  for (int32_t r = r0; r < r1; r++) {
    for (int32_t c = 0; c < l; c++) acc[c] = 0;
    const int32_t pe = indptr[r + 1];
    for (int32_t p = indptr[r]; p < pe; p++) {
      const int32_t i = indices[p];
      if ((uint32_t)i >= (uint32_t)cols) return -1;
      PREFETCH_ROW(z, indices, p + PF_AHEAD, nnz, cols, l, 4);
      const double av = data[p];
      const float *restrict zr = z + (size_t)i * l;
      for (int32_t c = 0; c < l; c++) acc[c] += av * (double)zr[c];
    }
    if (out32) { float *o = (float *)out + (size_t)r * l; for (int32_t c = 0; c < l; c++) o[c] = (float)acc[c]; }
    else { double *o = (double *)out + (size_t)r * l; for (int32_t c = 0; c < l; c++) o[c] = acc[c]; }
  }
  return 0;
}

/* y += Aᵀ(A Z) over rows [r0, r1) (gramApplyRows); w is an l-length scratch. */
CLONES static int k_gram_apply(const int32_t *indptr, const int32_t *indices, const float *data, int32_t cols,
                               const double *z, int32_t l, double *y, double *w, int32_t r0, int32_t r1, int32_t nnz) {
  for (int32_t r = r0; r < r1; r++) {
    const int32_t ps = indptr[r], pe = indptr[r + 1];
    if (ps == pe) continue;
    for (int32_t c = 0; c < l; c++) w[c] = 0;
    for (int32_t p = ps; p < pe; p++) {
      const int32_t i = indices[p];
      if ((uint32_t)i >= (uint32_t)cols) return -1;
      PREFETCH_ROW(z, indices, p + PF_AHEAD, nnz, cols, l, 8);
      const double av = data[p];
      const double *zr = z + (size_t)i * l;
      for (int32_t c = 0; c < l; c++) w[c] += av * zr[c];
    }
    for (int32_t p = ps; p < pe; p++) {
      if (p + PF_AHEAD < pe) PREFETCH_ROW(y, indices, p + PF_AHEAD, nnz, cols, l, 8);
      const double av = data[p];
      double *yr = y + (size_t)indices[p] * l;
      for (int32_t c = 0; c < l; c++) yr[c] += av * w[c];
    }
  }
  return 0;
}

/* C (upper triangle) += Aᵀ A over rows [r0, r1) (syrkUpperAcc): four rows at a time. */
CLONES static void k_syrk_upper(const double *a, int32_t l, int32_t r0, int32_t r1, double *c) {
  int32_t r = r0;
  for (; r + 3 < r1; r += 4) {
    const double *a0 = a + (size_t)r * l, *a1 = a0 + l, *a2 = a1 + l, *a3 = a2 + l;
    for (int32_t i = 0; i < l; i++) {
      const double x0 = a0[i], x1 = a1[i], x2 = a2[i], x3 = a3[i];
      double *g = c + (size_t)i * l;
      for (int32_t j = i; j < l; j++) g[j] += x0 * a0[j] + x1 * a1[j] + x2 * a2[j] + x3 * a3[j];
    }
  }
  for (; r < r1; r++) {
    const double *a0 = a + (size_t)r * l;
    for (int32_t i = 0; i < l; i++) {
      const double x0 = a0[i];
      double *g = c + (size_t)i * l;
      for (int32_t j = i; j < l; j++) g[j] += x0 * a0[j];
    }
  }
}

/* C (l × m) += Aᵀ B over rows [r0, r1) (gemmTNAcc). */
CLONES static void k_gemm_tn(const double *a, int32_t l, const double *b, int32_t m, int32_t r0, int32_t r1, double *c) {
  int32_t r = r0;
  for (; r + 3 < r1; r += 4) {
    const double *a0 = a + (size_t)r * l, *a1 = a0 + l, *a2 = a1 + l, *a3 = a2 + l;
    const double *b0 = b + (size_t)r * m, *b1 = b0 + m, *b2 = b1 + m, *b3 = b2 + m;
    for (int32_t i = 0; i < l; i++) {
      const double x0 = a0[i], x1 = a1[i], x2 = a2[i], x3 = a3[i];
      double *g = c + (size_t)i * m;
      for (int32_t j = 0; j < m; j++) g[j] += x0 * b0[j] + x1 * b1[j] + x2 * b2[j] + x3 * b3[j];
    }
  }
  for (; r < r1; r++) {
    const double *a0 = a + (size_t)r * l, *b0 = b + (size_t)r * m;
    for (int32_t i = 0; i < l; i++) {
      const double x0 = a0[i];
      double *g = c + (size_t)i * m;
      for (int32_t j = 0; j < m; j++) g[j] += x0 * b0[j];
    }
  }
}

/* out[r0..r1) = A[r0..r1) · B (gemmNNRows); `upper`: B upper triangular. `row` is an m-length scratch, so out
 * may alias a. */
CLONES static void k_gemm_nn(const double *a, int32_t l, const double *b, int32_t m, double *out, int32_t r0, int32_t r1,
                             int upper, double *row) {
  for (int32_t r = r0; r < r1; r++) {
    for (int32_t j = 0; j < m; j++) row[j] = 0;
    const double *ar = a + (size_t)r * l;
    int32_t i = 0;
    for (; i + 3 < l; i += 4) {
      const double x0 = ar[i], x1 = ar[i + 1], x2 = ar[i + 2], x3 = ar[i + 3];
      const double *b0 = b + (size_t)i * m, *b1 = b0 + m, *b2 = b1 + m, *b3 = b2 + m;
      for (int32_t j = upper ? i : 0; j < m; j++) row[j] += x0 * b0[j] + x1 * b1[j] + x2 * b2[j] + x3 * b3[j];
    }
    for (; i < l; i++) {
      const double x0 = ar[i];
      const double *b0 = b + (size_t)i * m;
      for (int32_t j = upper ? i : 0; j < m; j++) row[j] += x0 * b0[j];
    }
    memcpy(out + (size_t)r * m, row, sizeof(double) * (size_t)m);
  }
}

/* EASE's sparse co-occurrence term (scoreBlocked): for each row r and each of its pins i (in order), for each
 * entry (j, g) of G's row i (in order): base[r, j] += (w · g) · scale[j]. Scalar, in exactly the JavaScript
 * order. Returns -1 on an index out of range. */
static int k_sparse_base(const int32_t *rptr, const int32_t *ridx, const float *rval, int32_t b,
                         const int32_t *gptr, const int32_t *gind, const float *gdat, int32_t grows, size_t gnnz,
                         const float *scale, int32_t n, double *base) {
  for (int32_t r = 0; r < b; r++) {
    double *o = base + (size_t)r * n;
    for (int32_t p = rptr[r]; p < rptr[r + 1]; p++) {
      const int32_t i = ridx[p];
      if (i < 0) return -1;
      if (i >= grows) continue;
      const double w = rval[p];
      const int32_t e0 = gptr[i], e1 = gptr[i + 1];
      if (e0 < 0 || e1 < e0 || (size_t)e1 > gnnz) return -1;
      for (int32_t e = e0; e < e1; e++) {
        const int32_t j = gind[e];
        if ((uint32_t)j >= (uint32_t)n) return -1;
        o[j] += w * (double)gdat[e] * (double)scale[j];
      }
    }
  }
  return 0;
}

/* Scale each column of Z (n × l, row-major) to unit norm (svd.ts normalizeColumns): norms summed over rows in
 * order, 1/√ of each (a zero column is left as it is). `norms` is an l-length scratch. */
CLONES static void k_normalize_columns(double *restrict z, int32_t n, int32_t l, double *restrict norms) {
  for (int32_t c = 0; c < l; c++) norms[c] = 0;
  for (int32_t i = 0; i < n; i++) { const double *zr = z + (size_t)i * l; for (int32_t c = 0; c < l; c++) norms[c] += zr[c] * zr[c]; }
  for (int32_t c = 0; c < l; c++) norms[c] = norms[c] > 0 ? 1 / sqrt(norms[c]) : 1;
  for (int32_t i = 0; i < n; i++) { double *zr = z + (size_t)i * l; for (int32_t c = 0; c < l; c++) zr[c] *= norms[c]; }
}

/*
 * CF scoring (scoreBlocked / streamRow): out[r, j] = (float)(base[r, j] + Σ_f q[r, f] · wt[f·stride + j]) for
 * rows r < b and pins j < n, f ascending, accumulated in double. Blocked over pins (SBLOCK at a time) and over
 * rows (up to four); within a block, eight factor rows are read per pass and added one after another into each
 * accumulator, so each accumulator is loaded and stored once per eight factors, the eight streams stay few
 * enough for the prefetcher, and the sum keeps the exact order of the JavaScript kernel.
 */
#define SBLOCK 2048
#define SCORE_ROWS(NR)                                                                                         \
  {                                                                                                            \
    int32_t f = 0;                                                                                             \
    for (; f + 7 < k; f += 8) {                                                                                \
      const float *restrict w = wt + f * stride + j0;                                                          \
      double c[NR][8];                                                                                         \
      for (int32_t t = 0; t < NR; t++) for (int32_t u = 0; u < 8; u++) c[t][u] = q[(size_t)(r0 + t) * k + f + u]; \
      for (int32_t j = 0; j < len; j++) {                                                                      \
        const double w0 = w[j], w1 = w[j + stride], w2 = w[j + 2 * stride], w3 = w[j + 3 * stride];           \
        const double w4 = w[j + 4 * stride], w5 = w[j + 5 * stride], w6 = w[j + 6 * stride], w7 = w[j + 7 * stride]; \
        for (int32_t t = 0; t < NR; t++) {                                                                     \
          double a = acc[t * SBLOCK + j];                                                                      \
          a += c[t][0] * w0; a += c[t][1] * w1; a += c[t][2] * w2; a += c[t][3] * w3;                          \
          a += c[t][4] * w4; a += c[t][5] * w5; a += c[t][6] * w6; a += c[t][7] * w7;                          \
          acc[t * SBLOCK + j] = a;                                                                             \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
    for (; f < k; f++) {                                                                                       \
      const float *w = wt + f * stride + j0;                                                                   \
      for (int32_t j = 0; j < len; j++) {                                                                      \
        const double x = w[j];                                                                                 \
        for (int32_t t = 0; t < NR; t++) acc[t * SBLOCK + j] += q[(size_t)(r0 + t) * k + f] * x;               \
      }                                                                                                        \
    }                                                                                                          \
  }

CLONES static void k_score(const double *restrict q, int32_t b, int32_t k, const float *restrict wt, int64_t stride, int32_t n,
                           const double *restrict base, float *restrict out, double *restrict acc) {
  for (int32_t j0 = 0; j0 < n; j0 += SBLOCK) {
    const int32_t len = n - j0 < SBLOCK ? n - j0 : SBLOCK;
    for (int32_t r0 = 0; r0 < b; r0 += 4) {
      const int32_t nr = b - r0 < 4 ? b - r0 : 4;
      for (int32_t t = 0; t < nr; t++) {
        double *at = acc + t * SBLOCK;
        if (base) { const double *bs = base + (size_t)(r0 + t) * n + j0; for (int32_t j = 0; j < len; j++) at[j] = bs[j]; }
        else for (int32_t j = 0; j < len; j++) at[j] = 0;
      }
      switch (nr) {
        case 4: SCORE_ROWS(4) break;
        case 3: SCORE_ROWS(3) break;
        case 2: SCORE_ROWS(2) break;
        default: SCORE_ROWS(1) break;
      }
      for (int32_t t = 0; t < nr; t++) {
        float *o = out + (size_t)(r0 + t) * n + j0;
        const double *at = acc + t * SBLOCK;
        for (int32_t j = 0; j < len; j++) o[j] = (float)at[j];
      }
    }
  }
}

/* ------------------------------------------------------------ argument checks ----------------------- */

typedef struct { void *data; size_t length; napi_typedarray_type type; } Arr;

static napi_value throw_range(napi_env env, const char *what) {
  napi_throw_range_error(env, "ERR_PINREC_NATIVE_ARG", what);
  return NULL;
}

static int get_arr(napi_env env, napi_value v, napi_typedarray_type want, Arr *out, const char *name) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    char msg[160]; snprintf(msg, sizeof msg, "pinrec native: %s must be a typed array", name);
    napi_throw_type_error(env, "ERR_PINREC_NATIVE_ARG", msg); return 0;
  }
  napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &out->type, &out->length, &out->data, &ab, &off) != napi_ok || out->type != want) {
    char msg[160]; snprintf(msg, sizeof msg, "pinrec native: %s has the wrong element type", name);
    napi_throw_type_error(env, "ERR_PINREC_NATIVE_ARG", msg); return 0;
  }
  if (out->data == NULL && out->length > 0) { throw_range(env, "pinrec native: detached buffer"); return 0; }
  return 1;
}

static int get_i32(napi_env env, napi_value v, int32_t lo, int32_t hi, int32_t *out, const char *name) {
  if (napi_get_value_int32(env, v, out) != napi_ok || *out < lo || *out > hi) {
    char msg[160]; snprintf(msg, sizeof msg, "pinrec native: %s must be an integer in [%d, %d]", name, lo, hi);
    napi_throw_range_error(env, "ERR_PINREC_NATIVE_ARG", msg); return 0;
  }
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out, const char *name) {
  if (napi_get_value_int64(env, v, out) != napi_ok || *out < lo || *out > hi) {
    char msg[160]; snprintf(msg, sizeof msg, "pinrec native: %s is out of range", name);
    napi_throw_range_error(env, "ERR_PINREC_NATIVE_ARG", msg); return 0;
  }
  return 1;
}

#define ARGS(nwant) \
  size_t argc = nwant; napi_value argv[nwant]; \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < nwant) return throw_range(env, "pinrec native: missing arguments");

/* Check the CSR rows [r0, r1): indptr monotone within [0, nnz]. Column indices are checked by the kernels. */
static int check_csr(napi_env env, const Arr *indptr, const Arr *indices, const Arr *data, int32_t rows, int32_t r0, int32_t r1) {
  if (indptr->length != (size_t)rows + 1) { throw_range(env, "pinrec native: indptr.length must be rows + 1"); return 0; }
  if (indices->length != data->length) { throw_range(env, "pinrec native: indices and data lengths differ"); return 0; }
  if (r0 > r1 || r1 > rows) { throw_range(env, "pinrec native: row range outside the matrix"); return 0; }
  const int32_t *p = (const int32_t *)indptr->data;
  for (int32_t r = r0; r <= r1; r++) {
    if (p[r] < 0 || (size_t)p[r] > indices->length || (r > r0 && p[r] < p[r - 1])) { throw_range(env, "pinrec native: indptr is not a valid row pointer"); return 0; }
  }
  return 1;
}

static int fits(size_t len, int64_t need) { return need >= 0 && (uint64_t)need <= (uint64_t)len; }

/* The arguments the three sparse products share: (indptr, indices, data, rows, cols, z, l, <out>, r0, r1),
 * with the CSR rows [r0, r1) checked and z at least cols × l of element type `ztype`. */
typedef struct { Arr ip, ix, dt, z; int32_t rows, cols, l, r0, r1; } CsrArgs;

static int get_csr_args(napi_env env, napi_value *argv, napi_typedarray_type ztype, CsrArgs *a) {
  if (!get_arr(env, argv[0], napi_int32_array, &a->ip, "indptr") || !get_arr(env, argv[1], napi_int32_array, &a->ix, "indices") ||
      !get_arr(env, argv[2], napi_float32_array, &a->dt, "data") || !get_i32(env, argv[3], 0, INT32_MAX - 1, &a->rows, "rows") ||
      !get_i32(env, argv[4], 0, INT32_MAX, &a->cols, "cols") || !get_arr(env, argv[5], ztype, &a->z, "z") ||
      !get_i32(env, argv[6], 1, 1 << 20, &a->l, "l") || !get_i32(env, argv[8], 0, INT32_MAX, &a->r0, "r0") ||
      !get_i32(env, argv[9], 0, INT32_MAX, &a->r1, "r1")) return 0;
  if (!check_csr(env, &a->ip, &a->ix, &a->dt, a->rows, a->r0, a->r1)) return 0;
  if (!fits(a->z.length, (int64_t)a->cols * a->l)) { throw_range(env, "pinrec native: z or out too short"); return 0; }
  return 1;
}

/* spmm(indptr, indices, data, rows, cols, z, l, out, r0, r1) */
static napi_value js_spmm(napi_env env, napi_callback_info info) {
  ARGS(10)
  CsrArgs a; Arr out;
  if (!get_csr_args(env, argv, napi_float64_array, &a) || !get_arr(env, argv[7], napi_float64_array, &out, "out")) return NULL;
  if (!fits(out.length, (int64_t)a.r1 * a.l)) return throw_range(env, "pinrec native: z or out too short");
  if (k_spmm(a.ip.data, a.ix.data, a.dt.data, a.cols, a.z.data, a.l, out.data, a.r0, a.r1, (int32_t)a.ix.length) != 0) return throw_range(env, "pinrec native: a column index is out of range");
  return NULL;
}

/* spmmF32(indptr, indices, data, rows, cols, z: Float32Array, l, out: Float32Array | Float64Array, r0, r1) */
static napi_value js_spmm_f32(napi_env env, napi_callback_info info) {
  ARGS(10)
  CsrArgs a; Arr out;
  if (!get_csr_args(env, argv, napi_float32_array, &a)) return NULL;
  bool is = false; napi_value ab; size_t off;
  if (napi_is_typedarray(env, argv[7], &is) != napi_ok || !is) { napi_throw_type_error(env, "ERR_PINREC_NATIVE_ARG", "pinrec native: out must be a typed array"); return NULL; }
  napi_get_typedarray_info(env, argv[7], &out.type, &out.length, &out.data, &ab, &off);
  if (out.type != napi_float32_array && out.type != napi_float64_array) { napi_throw_type_error(env, "ERR_PINREC_NATIVE_ARG", "pinrec native: out must be a Float32Array or Float64Array"); return NULL; }
  if (!fits(out.length, (int64_t)a.r1 * a.l)) return throw_range(env, "pinrec native: z or out too short");
  double *acc = malloc(sizeof(double) * (size_t)a.l);
  if (!acc) return throw_range(env, "pinrec native: out of memory");
  int rc = k_spmm_f32(a.ip.data, a.ix.data, a.dt.data, a.cols, a.z.data, a.l, out.data, out.type == napi_float32_array, acc, a.r0, a.r1, (int32_t)a.ix.length);
  free(acc);
  if (rc != 0) return throw_range(env, "pinrec native: a column index is out of range");
  return NULL;
}

/* gramApply(indptr, indices, data, rows, cols, z, l, y, r0, r1) */
static napi_value js_gram_apply(napi_env env, napi_callback_info info) {
  ARGS(10)
  CsrArgs a; Arr y;
  if (!get_csr_args(env, argv, napi_float64_array, &a) || !get_arr(env, argv[7], napi_float64_array, &y, "y")) return NULL;
  if (!fits(y.length, (int64_t)a.cols * a.l)) return throw_range(env, "pinrec native: z or y too short");
  double *w = malloc(sizeof(double) * (size_t)a.l);
  if (!w) return throw_range(env, "pinrec native: out of memory");
  int rc = k_gram_apply(a.ip.data, a.ix.data, a.dt.data, a.cols, a.z.data, a.l, y.data, w, a.r0, a.r1, (int32_t)a.ix.length);
  free(w);
  if (rc != 0) return throw_range(env, "pinrec native: a column index is out of range");
  return NULL;
}

/* syrk(a, l, r0, r1, c) */
static napi_value js_syrk(napi_env env, napi_callback_info info) {
  ARGS(5)
  Arr a, c; int32_t l, r0, r1;
  if (!get_arr(env, argv[0], napi_float64_array, &a, "a") || !get_i32(env, argv[1], 1, 1 << 16, &l, "l") ||
      !get_i32(env, argv[2], 0, INT32_MAX, &r0, "r0") || !get_i32(env, argv[3], 0, INT32_MAX, &r1, "r1") ||
      !get_arr(env, argv[4], napi_float64_array, &c, "c")) return NULL;
  if (r0 > r1 || !fits(a.length, (int64_t)r1 * l) || !fits(c.length, (int64_t)l * l)) return throw_range(env, "pinrec native: syrk shapes");
  k_syrk_upper(a.data, l, r0, r1, c.data);
  return NULL;
}

/* gemmTN(a, l, b, m, r0, r1, c) */
static napi_value js_gemm_tn(napi_env env, napi_callback_info info) {
  ARGS(7)
  Arr a, b, c; int32_t l, m, r0, r1;
  if (!get_arr(env, argv[0], napi_float64_array, &a, "a") || !get_i32(env, argv[1], 1, 1 << 16, &l, "l") ||
      !get_arr(env, argv[2], napi_float64_array, &b, "b") || !get_i32(env, argv[3], 1, 1 << 16, &m, "m") ||
      !get_i32(env, argv[4], 0, INT32_MAX, &r0, "r0") || !get_i32(env, argv[5], 0, INT32_MAX, &r1, "r1") ||
      !get_arr(env, argv[6], napi_float64_array, &c, "c")) return NULL;
  if (r0 > r1 || !fits(a.length, (int64_t)r1 * l) || !fits(b.length, (int64_t)r1 * m) || !fits(c.length, (int64_t)l * m)) return throw_range(env, "pinrec native: gemmTN shapes");
  k_gemm_tn(a.data, l, b.data, m, r0, r1, c.data);
  return NULL;
}

/* gemmNN(a, l, b, m, out, r0, r1, upper) */
static napi_value js_gemm_nn(napi_env env, napi_callback_info info) {
  ARGS(8)
  Arr a, b, out; int32_t l, m, r0, r1; bool upper = false;
  if (!get_arr(env, argv[0], napi_float64_array, &a, "a") || !get_i32(env, argv[1], 1, 1 << 16, &l, "l") ||
      !get_arr(env, argv[2], napi_float64_array, &b, "b") || !get_i32(env, argv[3], 1, 1 << 16, &m, "m") ||
      !get_arr(env, argv[4], napi_float64_array, &out, "out") || !get_i32(env, argv[5], 0, INT32_MAX, &r0, "r0") ||
      !get_i32(env, argv[6], 0, INT32_MAX, &r1, "r1")) return NULL;
  napi_get_value_bool(env, argv[7], &upper);
  if (r0 > r1 || !fits(a.length, (int64_t)r1 * l) || !fits(b.length, (int64_t)l * m) || !fits(out.length, (int64_t)r1 * m)) return throw_range(env, "pinrec native: gemmNN shapes");
  double *row = malloc(sizeof(double) * (size_t)m);
  if (!row) return throw_range(env, "pinrec native: out of memory");
  k_gemm_nn(a.data, l, b.data, m, out.data, r0, r1, upper ? 1 : 0, row);
  free(row);
  return NULL;
}

/* score(q, b, k, wt, stride, n, base | null, out) */
static napi_value js_score(napi_env env, napi_callback_info info) {
  ARGS(8)
  Arr q, wt, base, out; int32_t b, k, n; int64_t stride;
  if (!get_arr(env, argv[0], napi_float64_array, &q, "q") || !get_i32(env, argv[1], 1, INT32_MAX, &b, "b") ||
      !get_i32(env, argv[2], 1, 1 << 16, &k, "k") || !get_arr(env, argv[3], napi_float32_array, &wt, "wt") ||
      !get_i64(env, argv[4], 0, INT64_C(1) << 40, &stride, "stride") || !get_i32(env, argv[5], 0, INT32_MAX, &n, "n")) return NULL;
  napi_valuetype bt; napi_typeof(env, argv[6], &bt);
  const double *bp = NULL;
  if (bt != napi_null && bt != napi_undefined) {
    if (!get_arr(env, argv[6], napi_float64_array, &base, "base")) return NULL;
    if (!fits(base.length, (int64_t)b * n)) return throw_range(env, "pinrec native: base too short");
    bp = base.data;
  }
  if (!get_arr(env, argv[7], napi_float32_array, &out, "out")) return NULL;
  if (stride < n || !fits(q.length, (int64_t)b * k) || !fits(out.length, (int64_t)b * n) ||
      (n > 0 && !fits(wt.length, (int64_t)(k - 1) * stride + n))) return throw_range(env, "pinrec native: score shapes");
  double *acc = aligned_alloc(64, sizeof(double) * 4 * SBLOCK);
  if (!acc) return throw_range(env, "pinrec native: out of memory");
  k_score(q.data, b, k, wt.data, stride, n, bp, out.data, acc);
  free(acc);
  return NULL;
}

/* sparseBase(rptr, ridx, rval, b, gptr, gind, gdat, grows, scale, n, base) */
static napi_value js_sparse_base(napi_env env, napi_callback_info info) {
  ARGS(11)
  Arr rp, ri, rv, gp, gi, gd, sc, bs; int32_t b, grows, n;
  if (!get_arr(env, argv[0], napi_int32_array, &rp, "rptr") || !get_arr(env, argv[1], napi_int32_array, &ri, "ridx") ||
      !get_arr(env, argv[2], napi_float32_array, &rv, "rval") || !get_i32(env, argv[3], 0, INT32_MAX - 1, &b, "b") ||
      !get_arr(env, argv[4], napi_int32_array, &gp, "gptr") || !get_arr(env, argv[5], napi_int32_array, &gi, "gind") ||
      !get_arr(env, argv[6], napi_float32_array, &gd, "gdat") || !get_i32(env, argv[7], 0, INT32_MAX - 1, &grows, "grows") ||
      !get_arr(env, argv[8], napi_float32_array, &sc, "scale") || !get_i32(env, argv[9], 0, INT32_MAX, &n, "n") ||
      !get_arr(env, argv[10], napi_float64_array, &bs, "base")) return NULL;
  if (rp.length != (size_t)b + 1 || ri.length != rv.length || gp.length != (size_t)grows + 1 || gi.length != gd.length ||
      sc.length < (size_t)n || !fits(bs.length, (int64_t)b * n)) return throw_range(env, "pinrec native: sparseBase shapes");
  const int32_t *pp = rp.data;
  for (int32_t r = 0; r <= b; r++) if (pp[r] < 0 || (size_t)pp[r] > ri.length || (r > 0 && pp[r] < pp[r - 1])) return throw_range(env, "pinrec native: rptr is not a valid row pointer");
  if (k_sparse_base(rp.data, ri.data, rv.data, b, gp.data, gi.data, gd.data, grows, gi.length, sc.data, n, bs.data) != 0) return throw_range(env, "pinrec native: an index is out of range");
  return NULL;
}

/* normalizeColumns(z, n, l) */
static napi_value js_normalize_columns(napi_env env, napi_callback_info info) {
  ARGS(3)
  Arr z; int32_t n, l;
  if (!get_arr(env, argv[0], napi_float64_array, &z, "z") || !get_i32(env, argv[1], 0, INT32_MAX, &n, "n") ||
      !get_i32(env, argv[2], 1, 1 << 20, &l, "l")) return NULL;
  if (!fits(z.length, (int64_t)n * l)) return throw_range(env, "pinrec native: z too short");
  double *norms = malloc(sizeof(double) * (size_t)l);
  if (!norms) return throw_range(env, "pinrec native: out of memory");
  k_normalize_columns(z.data, n, l, norms);
  free(norms);
  return NULL;
}

static const char *isa(void) {
#if HAVE_CLONES
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "x86-64";
#elif defined(__aarch64__)
  return "neon";
#else
  return "baseline";
#endif
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "spmm", NULL, js_spmm, NULL, NULL, NULL, napi_default, NULL },
    { "spmmF32", NULL, js_spmm_f32, NULL, NULL, NULL, napi_default, NULL },
    { "gramApply", NULL, js_gram_apply, NULL, NULL, NULL, napi_default, NULL },
    { "syrk", NULL, js_syrk, NULL, NULL, NULL, napi_default, NULL },
    { "gemmTN", NULL, js_gemm_tn, NULL, NULL, NULL, napi_default, NULL },
    { "gemmNN", NULL, js_gemm_nn, NULL, NULL, NULL, napi_default, NULL },
    { "score", NULL, js_score, NULL, NULL, NULL, napi_default, NULL },
    { "sparseBase", NULL, js_sparse_base, NULL, NULL, NULL, napi_default, NULL },
    { "normalizeColumns", NULL, js_normalize_columns, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value s;
  napi_create_string_utf8(env, isa(), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, exports, "isa", s);
  napi_value ver;
  napi_create_int32(env, 4, &ver);
  napi_set_named_property(env, exports, "version", ver);
  return exports;
}
