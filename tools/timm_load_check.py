"""timm's side of tools/timm-load-check.ts: builds timm's VisionTransformer of config.json, loads
model.safetensors with timm's load_checkpoint (strict), and prints the largest difference of its
float64 logits from ours (io.safetensors: input, logits), relative to the largest |logit|.

Usage: python3 tools/timm_load_check.py dir
"""
import functools
import json
import os
import sys

import torch
from safetensors.torch import load_file
from timm.models import load_checkpoint
from timm.models.vision_transformer import VisionTransformer

TIMM_KEYS = ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias")


def main():
    d = sys.argv[1]
    config = json.load(open(os.path.join(d, "config.json")))
    kw = {k: config[k] for k in TIMM_KEYS if k in config}
    eps = config.get("norm_eps", 1e-6)
    model = VisionTransformer(**kw, norm_layer=functools.partial(torch.nn.LayerNorm, eps=eps))
    load_checkpoint(model, os.path.join(d, "model.safetensors"), strict=True)
    model = model.double().eval()
    io = load_file(os.path.join(d, "io.safetensors"))
    with torch.no_grad():
        theirs = model(io["input"].double())
    ours = io["logits"].double()
    err = ((theirs - ours).abs().max() / theirs.abs().max()).item()
    print(f"timm {__import__('timm').__version__} loaded {len(model.state_dict())} tensors strictly; "
          f"logits {list(theirs.shape)}, max relative error {err:.3e}")


if __name__ == "__main__":
    main()
