"""PyTorch CPU peer of `msae bench kernels`: float32 GEMM GFLOP/s on the same shapes, side by side.

For each layout, C[m, n] = op(A) op(B) with op(A) [m, k], op(B) [k, n] (row-major, as msae's sgemm):
    NN: A stored [m, k], B stored [k, n]      -> torch.mm(A, B)
    NT: A stored [m, k], B stored [n, k]      -> torch.mm(A, B.t())
    TN: A stored [k, m], B stored [k, n]      -> torch.mm(A.t(), B)
The transposed operands are views (no copy), so torch's BLAS sees the transpose flags, as msae's
does. C is preallocated (out=). GFLOP/s = 2 m n k / seconds, best of --reps timed calls after
--warmup untimed ones. Threads: torch.set_num_threads(--threads); the caller also sets
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS for torch's BLAS pool.

Prints one JSON object on stdout: {"torch": version, "threads": n, "blas": torch's BLAS_INFO,
"results": [{"layout": "NN", "m": .., "n": .., "k": .., "gflops": ..}, ...]}.
Exits with status 3 and a one-line JSON {"error": ...} when torch cannot be imported.

Usage: torch_gemm.py --threads N --reps R [--warmup W] --shape LAYOUT:m,n,k [--shape ...]
"""

import argparse
import json
import re
import sys
import time

try:
    import torch
except Exception as e:  # ImportError, or a broken install raising something else
    print(json.dumps({"error": f"cannot import torch: {type(e).__name__}: {e}".splitlines()[0]}))
    sys.exit(3)


def parse_shape(text):
    m = re.fullmatch(r"(NN|NT|TN|TT):(\d+),(\d+),(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected LAYOUT:m,n,k with LAYOUT in NN, NT, TN, TT")
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))


def bench_one(layout, m, n, k, reps, warmup):
    gen = torch.Generator().manual_seed(1234)
    a = torch.rand((k, m) if layout[0] == "T" else (m, k), generator=gen, dtype=torch.float32) * 2 - 1
    b = torch.rand((n, k) if layout[1] == "T" else (k, n), generator=gen, dtype=torch.float32) * 2 - 1
    opa = a.t() if layout[0] == "T" else a
    opb = b.t() if layout[1] == "T" else b
    c = torch.empty((m, n), dtype=torch.float32)
    for _ in range(warmup):
        torch.mm(opa, opb, out=c)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(opa, opb, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * n * k / best / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--shape", type=parse_shape, action="append", required=True)
    args = ap.parse_args()
    if args.threads < 1 or args.reps < 1 or args.warmup < 0:
        ap.error("--threads and --reps must be >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)
    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    results = []
    with torch.no_grad():
        for layout, m, n, k in args.shape:
            gflops = bench_one(layout, m, n, k, args.reps, args.warmup)
            results.append({"layout": layout, "m": m, "n": n, "k": k, "gflops": gflops})
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas.group(1) if blas else None,
        "results": results,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
