#!/usr/bin/python3
"""Side-by-side anchor for `npm run bench -- cf --latency`: numpy's exact top-k by inner product over an
items × dim float32 matrix (sgemv + argpartition + sort of the k, one BLAS thread), and this machine's
single-thread memory read bandwidth (BLAS sdot over two 512 MiB float32 arrays). Prints one JSON line.

  topk_compare.py ITEMS DIM K QUERIES"""
import json, sys, time
import numpy as np

items, dim, k, queries = (int(a) for a in sys.argv[1:5])
try:
    from threadpoolctl import threadpool_limits
    limit = threadpool_limits(limits=1)
except Exception:  # without threadpoolctl: OPENBLAS_NUM_THREADS=1 is set by the caller
    limit = None
rng = np.random.default_rng(1)
m = rng.standard_normal((items, dim), dtype=np.float32)
us = rng.standard_normal((queries, dim), dtype=np.float32)
def one(u):
    s = m @ u
    p = np.argpartition(s, -k)[-k:]
    return p[np.argsort(-s[p])]
one(us[0])
ts, tg = [], []
for u in us:
    t0 = time.perf_counter(); s = m @ u; t1 = time.perf_counter()
    p = np.argpartition(s, -k)[-k:]; p = p[np.argsort(-s[p])]; t2 = time.perf_counter()
    ts.append(t2 - t0); tg.append(t1 - t0)
# read bandwidth: BLAS sdot over two 512 MiB float32 arrays (SIMD, one thread: bound by the reads of both)
a = np.ones((1 << 29) // 4, dtype=np.float32)
b = np.ones((1 << 29) // 4, dtype=np.float32)
np.dot(a, b)
bw = []
for _ in range(5):
    t0 = time.perf_counter(); np.dot(a, b); bw.append(time.perf_counter() - t0)
print(json.dumps({'numpy': np.__version__, 'msMedian': float(np.median(ts)) * 1e3, 'sgemvMsMedian': float(np.median(tg)) * 1e3,
                  'readGBs': (a.nbytes + b.nbytes) / min(bw) / 1e9}))
