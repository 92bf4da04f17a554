"""Compiles a fused row softmax with Triton, ahead of time, into what loadTritonKernel reads.

Run on the GPU machine (Triton 3.6, PyTorch), from the repository's root:

    python3 examples/triton/compile_softmax.py [--out examples/triton/softmax]

It writes, for the kernel K that triton.compile() names (softmax_kernel):
    K.cubin  the machine code for this GPU (CompiledKernel.asm['cubin'])
    K.json   Triton's metadata (name, num_warps, shared, target, scratch sizes, ...) as
             triton.compile() keeps it in its cache, plus "signature": the runtime arguments
             and their Triton types, in order (the constexpr BLOCK_SIZE is compiled in), and
             "constants"
then checks the kernel, launched by Triton itself, against torch.softmax. test/kernels/triton.test.ts
loads the files with loadTritonKernel and holds the kernel against the CPU's softmax.
"""
import argparse
import dataclasses
import enum
import json
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_row_stride, out_row_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    # One program a row: the row in registers, its max, exp and sum, written once.
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_row_stride + cols, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    tl.store(out_ptr + row * out_row_stride + cols, num / tl.sum(num, axis=0), mask=mask)


# The runtime arguments in order, as ASTSource takes them; rows of at most BLOCK_SIZE columns.
SIGNATURE = {"out_ptr": "*fp32", "in_ptr": "*fp32", "in_row_stride": "i32", "out_row_stride": "i32", "n_cols": "i32"}
CONSTANTS = {"BLOCK_SIZE": 1024}
NUM_WARPS = 4


def jsonable(o):
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, enum.Enum):
        return o.name
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    return str(o)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "softmax")
    args = parser.parse_args()

    major, minor = torch.cuda.get_device_capability()
    target = GPUTarget("cuda", major * 10 + minor, 32)
    backend = triton.compiler.make_backend(target)
    options = backend.parse_options({"num_warps": NUM_WARPS, "num_stages": 1})
    src = triton.compiler.ASTSource(fn=softmax_kernel, signature={**SIGNATURE, "BLOCK_SIZE": "constexpr"}, constexprs=CONSTANTS)
    compiled = triton.compile(src, target=target, options=options.__dict__)
    meta = compiled.metadata._asdict()
    for key in ("global_scratch_size", "profile_scratch_size"):
        if meta.get(key, 0) > 0:
            sys.exit(f"{key} is {meta[key]}: loadTritonKernel does not pass scratch memory")

    args.out.mkdir(parents=True, exist_ok=True)
    name = meta["name"]
    (args.out / f"{name}.cubin").write_bytes(compiled.asm["cubin"])
    meta.update(signature=SIGNATURE, constants=CONSTANTS)
    (args.out / f"{name}.json").write_text(json.dumps(meta, indent=2, default=jsonable) + "\n")
    print(f"wrote {args.out}/{name}.cubin ({len(compiled.asm['cubin'])} bytes) and {name}.json: triton {triton.__version__}, "
          f"sm_{target.arch}, num_warps {meta['num_warps']}, shared {meta['shared']} bytes")

    # The kernel as Triton launches it, against PyTorch.
    x = torch.randn(37, 1000, device="cuda")
    y = torch.empty_like(x)
    softmax_kernel[(x.shape[0],)](y, x, x.stride(0), y.stride(0), x.shape[1], BLOCK_SIZE=CONSTANTS["BLOCK_SIZE"], num_warps=NUM_WARPS)
    err = (y - torch.softmax(x, dim=1)).abs().max().item()
    print(f"max |triton - torch.softmax| = {err:.3g}")
    if err > 1e-5:
        sys.exit("the Triton kernel does not match torch.softmax")


if __name__ == "__main__":
    main()
