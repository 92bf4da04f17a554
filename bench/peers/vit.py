"""PyTorch + timm side of bench/vit.ts: the notebook ViT (224/16, embed 96, depth 8, 8 heads,
mlp 3, no qkv bias, LayerNorm eps 1e-5), batch B, forward under no_grad, same method.

Usage: python3 bench/peers/vit.py cases.json out.json   (cases: [{dtype, batch, patch?, manual?, compile?}];
compile adds torch.compile in its default mode and in mode='reduce-overhead', which replays CUDA graphs)
"""
import json
import sys

import timm
import torch
import torch.nn as nn

from timing import blocked_autorange, summary

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def notebook_vit(fused_attn, patch_size=16):
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=224, patch_size=patch_size, embed_dim=96, depth=8, num_heads=8, mlp_ratio=3.0, qkv_bias=False,
        norm_layer=nn.LayerNorm)
    for block in model.blocks:
        block.attn.fused_attn = fused_attn
    return model.eval().cuda()


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        dt = DTYPES[case["dtype"]]
        x = torch.rand(case["batch"], 3, 224, 224, device="cuda", dtype=dt)
        row = {}
        variants = [("timm eager SDPA", True, None)]
        if case.get("manual", True):
            variants.append(("timm eager manual attention", False, None))
        if case.get("compile"):
            variants.append(("timm torch.compile", True, "default"))
            variants.append(("timm torch.compile CUDA graphs", True, "reduce-overhead"))
        for name, fused, mode in variants:
            model = notebook_vit(fused, case.get("patch", 16)).to(dt)
            fn_model = torch.compile(model, mode=mode) if mode else model
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()

            def fn():
                with torch.no_grad():
                    return fn_model(x)
            try:
                times, number = blocked_autorange(fn, min_run_time=case.get("minRunTime", 1.0))
                row[name] = {**summary(times, number), "peakMemoryBytes": torch.cuda.max_memory_allocated() - base}
            except Exception as e:
                row[name] = {"error": str(e).split("\n")[0][:200]}
            del model, fn_model
            torch.cuda.empty_cache()
        results.append({**case, "torch": row})
    json.dump({"torch": torch.__version__, "timm": timm.__version__, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
