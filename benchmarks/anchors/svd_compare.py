#!/usr/bin/python3
"""Side-by-side anchor for `npm run bench -- cf --anchor`: time scikit-learn randomized_svd and scipy svds on
the same matrix the TypeScript benchmark wrote ("row col weight" lines, 0-based), and print one JSON line with
seconds and singular values. Use Debian's /usr/bin/python3 (python3-sklearn, python3-scipy)."""
import json, sys, time
import numpy as np, scipy.sparse as sp
from scipy.sparse.linalg import svds
from sklearn.utils.extmath import randomized_svd

path, k, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1
t = np.loadtxt(path, dtype=np.float64, ndmin=2)
A = sp.csr_matrix((t[:, 2], (t[:, 0].astype(np.int64), t[:, 1].astype(np.int64))))
out = {'shape': list(A.shape), 'nnz': int(A.nnz), 'k': k}
def best(f):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t0)
    return min(ts), r
for it in (5, 'auto'):
    sec, (_, s, _) = best(lambda: randomized_svd(A, n_components=k, n_iter=it, random_state=0))
    out[f'randomized_svd_{it}'] = {'seconds': sec, 's': s.tolist()}
sec, (_, s, _) = best(lambda: svds(A, k=k))
out['svds'] = {'seconds': sec, 's': sorted(s.tolist(), reverse=True)}
print(json.dumps(out))
