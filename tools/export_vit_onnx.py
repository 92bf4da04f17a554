"""Exports a ViT of timm's layout to ONNX for the onnxruntime-node peer (ts/bench/suite/ort.ts):
reads dir/config.json (timm's keywords, with norm_eps), loads dir/model.safetensors strictly
(timm's parameter names), and writes dir/model.onnx (float32, opset 17, dynamic batch).

The model is timm's VisionTransformer forward written out in torch.nn (class token, learned
position embedding, pre-norm blocks of qkv attention and an erf-GELU MLP, the class token's
head), so that only torch and safetensors are needed: timm imports torchvision, whose wheel
cannot load beside a CPU-only torch. The peer's check that its logits match ours within
1e-4 is what holds the two models to one another.

Usage: python3 tools/export_vit_onnx.py <dir>
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        return self.proj((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, qkv_bias, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        dim, eps = c.get("embed_dim", 768), c.get("norm_eps", 1e-6)
        size, patch = c.get("img_size", 224), c.get("patch_size", 16)
        self.patch_embed = PatchEmbed(patch, c.get("in_chans", 3), dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (size // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[
            Block(dim, c.get("num_heads", 12), c.get("mlp_ratio", 4.0), c.get("qkv_bias", True), eps) for _ in range(c.get("depth", 12))
        ])
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, c.get("num_classes", 1000))

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def main():
    d = sys.argv[1]
    config = json.load(open(os.path.join(d, "config.json")))
    model = VisionTransformer(config)
    model.load_state_dict(load_file(os.path.join(d, "model.safetensors")), strict=True)
    model = model.float().eval()
    size = config.get("img_size", 224)
    x = torch.rand(1, config.get("in_chans", 3), size, size)
    out = os.path.join(d, "model.onnx")
    torch.onnx.export(model, (x,), out, input_names=["images"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    print(f"wrote {out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
