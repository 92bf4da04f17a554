"""PyTorch + timm side of ts/bench/suite/training.ts: the notebook ViT's forward + backward and
a training step, timed with the same method (blocked autorange, CUDA events).

Usage: python3 bench/peers/training.py cases.json out.json
Cases:
  {kind: "fb", dtype, batch, patch, variants, csr?: {offsets, cols, n}, mask?}: the notebook's
      model(x).sum().backward() in training mode, gradients accumulating as in the notebook.
      variants, of: "sdpa" timm eager (SDPA); "sdpa_masked" the CSR mask (int32 files) through
      SDPA as a dense boolean; "flex" the mask through FlexAttention (compiled) as a BlockMask,
      q, k, v zero-padded to a head dim of 16 (FlexAttention refuses 12; the scale stays 12's);
      "compile" torch.compile (default mode) of the eager SDPA model.
  {kind: "step", batch, compile?}: one step of fused AdamW on float32 master weights, the
      forward under autocast float16, cross-entropy on fixed labels, a GradScaler; eager, and
      with compile the model under torch.compile.
Peak memory: the most allocated during the timed runs above what was allocated after a
warm-up (weights, gradients and optimizer state in the base), as ts/bench/timer.ts takes it.
"""
import json
import sys

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from masks import read_csr_mask
from timing import blocked_autorange, summary
from vit import DTYPES, notebook_vit

STEP_EAGER = "timm eager (fused AdamW, autocast float16, GradScaler)"
STEP_COMPILE = "timm torch.compile (fused AdamW, autocast float16, GradScaler)"


class Attend(nn.Module):
    """timm's Attention (qkv without bias, no q/k norm, no dropout) with softmax(q k^T) v computed by attend(q, k, v)."""

    def __init__(self, attn, attend):
        super().__init__()
        self.num_heads = attn.num_heads
        self.qkv = attn.qkv
        self.proj = attn.proj
        self.attend = attend

    def forward(self, x, attn_mask=None):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = self.attend(q, k, v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


def masked_sdpa(dense):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=dense)


def flex_attend(dense):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    flex = torch.compile(flex_attention)
    n = dense.shape[0]
    block_mask = create_block_mask(lambda b, h, qi, ki: dense[qi, ki], None, None, n, n, device="cuda")

    def attend(q, k, v):
        d = q.shape[-1]
        padded = max(16, 1 << (d - 1).bit_length())
        if padded != d:
            q, k, v = (F.pad(t, (0, padded - d)) for t in (q, k, v))
        return flex(q, k, v, block_mask=block_mask, scale=d ** -0.5)[..., :d]
    return attend


def measure(fn, min_run_time):
    """Blocked autorange of fn with the peak memory above what a warm-up leaves allocated; or the error."""
    try:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        times, number = blocked_autorange(fn, min_run_time=min_run_time)
        return {**summary(times, number), "peakMemoryBytes": torch.cuda.max_memory_allocated() - base}
    except Exception as e:  # a variant that cannot run says why
        return {"error": str(e).split("\n")[0][:200]}


FB_NAMES = {
    "sdpa": "timm eager SDPA",
    "sdpa_masked": "timm eager SDPA, {mask} as a dense boolean",
    "flex": "timm eager FlexAttention, {mask} as a BlockMask",
    "compile": "timm torch.compile",
}


def fb_variant(case, variant, dense, x):
    """model(x).sum().backward() of one variant's model, measured."""
    try:
        model = notebook_vit(True, case["patch"]).to(x.dtype).train()
        if variant in ("sdpa_masked", "flex"):
            attend = masked_sdpa(dense) if variant == "sdpa_masked" else flex_attend(dense)
            for block in model.blocks:
                block.attn = Attend(block.attn, attend)
        fn_model = torch.compile(model) if variant == "compile" else model
    except Exception as e:
        return {"error": str(e).split("\n")[0][:200]}
    return measure(lambda: fn_model(x).sum().backward(), case.get("minRunTime", 1.0))


def fb_case(case):
    dense = read_csr_mask(case["csr"]) if "csr" in case else None
    x = torch.rand(case["batch"], 3, 224, 224, device="cuda", dtype=DTYPES[case["dtype"]])
    row = {}
    for variant in case["variants"]:
        row[FB_NAMES[variant].format(mask=case.get("mask", "the mask"))] = fb_variant(case, variant, dense, x)
        torch.cuda.empty_cache()
    return row


def step_variant(case, compiled):
    """One training step (see the module's doc) of a fresh float32 model, measured."""
    B = case["batch"]
    x = torch.rand(B, 3, 224, 224, device="cuda")
    labels = (torch.arange(B, device="cuda") * 7919) % 1000
    try:
        model = notebook_vit(True).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        scaler = torch.amp.GradScaler("cuda")
        fn_model = torch.compile(model) if compiled else model
    except Exception as e:
        return {"error": str(e).split("\n")[0][:200]}

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = F.cross_entropy(fn_model(x), labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return measure(step, case.get("minRunTime", 1.0))


def step_case(case):
    row = {STEP_EAGER: step_variant(case, False)}
    torch.cuda.empty_cache()
    if case.get("compile"):
        row[STEP_COMPILE] = step_variant(case, True)
        torch.cuda.empty_cache()
    return row


def run_case(case):
    row = fb_case(case) if case["kind"] == "fb" else step_case(case)
    print(f"peer {case['kind']} {case.get('dtype', 'float16')} batch {case['batch']}: " + ", ".join(
        f"{key} {t['median'] * 1e3:.3f} ms" if "median" in t else f"{key} {t['error']}" for key, t in row.items()), flush=True)
    return row


def main():
    # float32 as ours computes it, without TF32 (as bench/peers/vit.py).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = [{**case, "torch": run_case(case)} for case in json.load(open(sys.argv[1]))]
    json.dump({"torch": torch.__version__, "timm": timm.__version__, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
