"""PyTorch side of bench/sparse.ts, timed with the same method (blocked autorange, CUDA events).

Usage: python3 bench/peers/sparse.py cases.json out.json
Cases:
  {name, B, H, D, csr: {offsets, cols, n}}: a CSR mask (int32 files) shared by every batch and head:
      SDPA dense without the mask (each backend that takes the shape), SDPA with the mask as a
      boolean tensor, and FlexAttention with the mask as a mask_mod over a dense boolean table
      (its BlockMask skips the 128 x 128 blocks without entries).
  {name, B, H, N, D, block, layout}: a block layout (row-major 0/1, N/block squared):
      FlexAttention with the equivalent BlockMask, and SDPA flash dense.
q, k, v are float16 in PyTorch's [B, H, N, D] layout.
"""
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from masks import read_csr_mask
from timing import timed


def flex():
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    return create_block_mask, torch.compile(flex_attention)


def csr_case(case, create_block_mask, flex_attention):
    n = case["csr"]["n"]
    dense = read_csr_mask(case["csr"])
    B, H, D = case["B"], case["H"], case["D"]
    q, k, v = (torch.randn(B, H, n, D, device="cuda", dtype=torch.float16) for _ in range(3))
    row = {}
    for name, backend in {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                          "cudnn": SDPBackend.CUDNN_ATTENTION}.items():
        def dense_fn(backend=backend):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v)
        row[f"sdpa_{name}"] = timed(dense_fn)
    row["sdpa_default"] = timed(lambda: F.scaled_dot_product_attention(q, k, v))
    if n <= 4096:
        row["sdpa_masked"] = timed(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=dense))
    try:
        block_mask = create_block_mask(lambda b, h, qi, ki: dense[qi, ki], None, None, n, n, device="cuda")
        row["flex"] = timed(lambda: flex_attention(q, k, v, block_mask=block_mask))
    except Exception as e:
        row["flex"] = {"error": str(e).split("\n")[0][:200]}
    return row


def block_case(case, create_block_mask, flex_attention):
    B, H, N, D, bs = case["B"], case["H"], case["N"], case["D"], case["block"]
    nb = N // bs
    layout = torch.tensor(case["layout"], dtype=torch.bool, device="cuda").reshape(nb, nb)
    q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.float16) for _ in range(3))
    row = {}
    block_mask = create_block_mask(lambda b, h, qi, ki: layout[qi // bs, ki // bs], None, None, N, N,
                                   device="cuda", BLOCK_SIZE=bs)
    # The kernel's tiles must divide the mask's blocks: FlexAttention's default BLOCK_M of 128
    # refuses 64-blocks ("Q and KV block size must be divisible by BLOCK_M and BLOCK_N").
    tiles = {"BLOCK_M": min(bs, 128), "BLOCK_N": min(bs, 64)}
    row["flex"] = timed(lambda: flex_attention(q, k, v, block_mask=block_mask, kernel_options=tiles))
    row["flex_sparsity"] = block_mask.sparsity()

    def flash():
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v)
    row["sdpa_flash"] = timed(flash)
    return row


def main():
    cases = json.load(open(sys.argv[1]))
    create_block_mask, flex_attention = flex()
    results = []
    for case in cases:
        fn = csr_case if "csr" in case else block_case
        row = fn(case, create_block_mask, flex_attention)
        print(f"peer {case['name']}: " + ", ".join(
            f"{k} {v['median'] * 1e3:.3f} ms" if isinstance(v, dict) and "median" in v else f"{k} {v}" for k, v in row.items()),
            flush=True)
        results.append({"name": case["name"], "torch": row})
        torch.cuda.empty_cache()
    json.dump({"torch": torch.__version__, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
