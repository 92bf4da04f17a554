"""Masks the benchmarks hand to the peers: a CSR mask as two int32 little-endian files (row
offsets, column indices; ts/bench/suite/peers.ts writeCsr) read back as a dense boolean."""
import numpy as np
import torch


def read_csr_mask(csr):
    """{offsets, cols, n} -> a dense [n, n] boolean tensor on the GPU, True where attended."""
    n = csr["n"]
    offsets = torch.from_numpy(np.fromfile(csr["offsets"], dtype=np.int32).astype(np.int64))
    cols = torch.from_numpy(np.fromfile(csr["cols"], dtype=np.int32).astype(np.int64))
    rows = torch.repeat_interleave(torch.arange(n), offsets[1:] - offsets[:-1])
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[rows, cols] = True
    return dense.cuda()
