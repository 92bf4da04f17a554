"""Exports the notebook ViT to ONNX for bench/ort/vit.ts: builds timm's VisionTransformer of
dir/config.json, loads dir/model.safetensors strictly (our weights, timm's names), and writes
dir/notebook_vit.onnx (float32, opset 17, dynamic batch). Needs torch, timm, safetensors.

Usage: python3 tools/export_vit_onnx.py bench/ort/notebook_vit
"""
import functools
import json
import os
import sys

import torch
from timm.models import load_checkpoint
from timm.models.vision_transformer import VisionTransformer

TIMM_KEYS = ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias")


def main():
    d = sys.argv[1]
    config = json.load(open(os.path.join(d, "config.json")))
    kw = {k: config[k] for k in TIMM_KEYS if k in config}
    model = VisionTransformer(**kw, norm_layer=functools.partial(torch.nn.LayerNorm, eps=config.get("norm_eps", 1e-6)))
    load_checkpoint(model, os.path.join(d, "model.safetensors"), strict=True)
    model = model.float().eval()
    size = config.get("img_size", 224)
    x = torch.rand(1, config.get("in_chans", 3), size, size)
    out = os.path.join(d, "notebook_vit.onnx")
    torch.onnx.export(model, (x,), out, input_names=["images"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    print(f"wrote {out} (torch {torch.__version__}, timm {__import__('timm').__version__})")


if __name__ == "__main__":
    main()
