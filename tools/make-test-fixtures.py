"""Makes test/fixtures: the small timm fixtures a fresh clone's tests hold the ViT against.

A tiny ViT of the notebook's parts (patch embedding, class token, pre-norm blocks with head
dim 12, exact GELU, final norm, class-token head), random-initialized by a fixed seed, run by
timm's own VisionTransformer in float64. Two sets, as ../shared/fixtures (the CI's fuller
set, whose README this follows):
  vit_tiny.*         dense attention
  vit_tiny_sparse.*  other weights, with a mask (`attn_mask`, 1 = attend) in every block
Each set: <name>.json (config, seed, versions), <name>.weights.safetensors (timm's names,
float32), <name>.io.safetensors (input, embed_out, block0_out, pre_logits, logits,
logits_f64, and attn_mask for the sparse set) and <name>.grads.safetensors (labels, loss,
and d loss / d parameter for the mean cross-entropy, computed in float64, stored float32).
All of it stays under 1 MB.

Usage (on a machine with torch and timm; no GPU needed):  python3 tools/make-test-fixtures.py [out_dir]
"""
import functools
import json
import math
import os
import struct
import sys

import torch
import timm
from timm.models.vision_transformer import VisionTransformer

CONFIG = {
    "img_size": 48, "patch_size": 8, "embed_dim": 24, "depth": 2, "num_heads": 2, "mlp_ratio": 3.0,
    "qkv_bias": False, "norm_eps": 1e-5, "num_classes": 10,
}
BATCH = 2
SETS = [("vit_tiny", 0, False), ("vit_tiny_sparse", 10, True)]


def build(seed):
    """timm's ViT of CONFIG, every parameter random and non-zero (LayerNorm weights near 1), float64."""
    kw = {k: v for k, v in CONFIG.items() if k != "norm_eps"}
    model = VisionTransformer(**kw, norm_layer=functools.partial(torch.nn.LayerNorm, eps=CONFIG["norm_eps"]))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "norm" in name and name.endswith("weight"):
                v = 1 + 0.1 * r
            elif name.endswith("bias"):
                v = 0.1 * r
            elif p.dim() >= 2 and name not in ("cls_token", "pos_embed"):
                v = r / math.sqrt(p[0].numel())
            else:
                v = 0.5 * r
            p.copy_(v.to(p.dtype))
    return model.double().eval()


def tiny_mask(grid, seed):
    """The notebook's kind of mask over grid x grid patches plus the class token: class row and column
    dense; patches attend along their row and column, within distance < 2, and to 5% random others."""
    n = grid * grid + 1
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, n, dtype=torch.uint8)
    mask[0, :] = 1
    mask[:, 0] = 1
    for i in range(grid * grid):
        yi, xi = divmod(i, grid)
        for j in range(grid * grid):
            yj, xj = divmod(j, grid)
            if yi == yj or xi == xj or (yi - yj) ** 2 + (xi - xj) ** 2 < 4:
                mask[i + 1, j + 1] = 1
    mask[1:, 1:] |= (torch.rand(n - 1, n - 1, generator=g) < 0.05).to(torch.uint8)
    return mask


def masked_attention(attn, mask):
    """timm Attention's forward with masked-out scores taking no part in the softmax."""
    def forward(x, *args, **kwargs):
        B, N, C = x.shape
        qkv = attn.qkv(x).reshape(B, N, 3, attn.num_heads, C // attn.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = (q * attn.scale) @ k.transpose(-2, -1)
        scores = scores.masked_fill(mask == 0, float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)
        return attn.proj_drop(attn.proj(out))
    return forward


def save(path, tensors, metadata):
    """safetensors: 8-byte little-endian header length, the JSON header, then the raw little-endian bytes."""
    kinds = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.uint8: "U8"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": kinds[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make(out, name, seed, sparse):
    model = build(seed)
    grid = CONFIG["img_size"] // CONFIG["patch_size"]
    mask = tiny_mask(grid, seed) if sparse else None
    if mask is not None:
        for block in model.blocks:
            block.attn.forward = masked_attention(block.attn, mask)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.rand(BATCH, 3, CONFIG["img_size"], CONFIG["img_size"], generator=g, dtype=torch.float64)
    images = images.float().double()  # the stored float32 input is exactly what was run
    labels = torch.randint(0, CONFIG["num_classes"], (BATCH,), generator=g)

    with torch.no_grad():
        embed = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(images))))
        block0 = model.blocks[0](embed)
        pre_logits = model.forward_head(model.forward_features(images), pre_logits=True)
        logits = model(images)
        f32 = build(seed).float()
        if mask is not None:
            for block in f32.blocks:
                block.attn.forward = masked_attention(block.attn, mask)
        rel = ((f32(images.float()).double() - logits).norm() / logits.norm()).item()

    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()

    params = {k: v.float() for k, v in model.state_dict().items()}
    meta = {"source": f"timm {timm.__version__} VisionTransformer", "format": "pt"}
    save(os.path.join(out, f"{name}.weights.safetensors"), params, meta)
    io = {"input": images.float(), "embed_out": embed.float(), "block0_out": block0.float(), "pre_logits": pre_logits.float(),
          "logits": logits.float(), "logits_f64": logits}
    if mask is not None:
        io["attn_mask"] = mask
    save(os.path.join(out, f"{name}.io.safetensors"), io, meta)
    grads = {k: p.grad.float() for k, p in model.named_parameters()}
    grads["labels"] = labels.to(torch.int32)
    grads["loss"] = loss.detach().float().reshape(1)
    save(os.path.join(out, f"{name}.grads.safetensors"), grads, meta)
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({"name": name, "timm": timm.__version__, "torch": torch.__version__, "config": CONFIG, "batch": BATCH,
                   "seed": seed, "sparse": sparse, "mask_density": None if mask is None else mask.double().mean().item(),
                   "fp32_vs_f64_rel_err": rel, "loss": loss.item(), "keys": sorted(params)}, f, indent=1)
    print(f"{name}: loss {loss.item():.5f}, float32 forward {rel:.2e} from float64"
          + ("" if mask is None else f", mask density {mask.double().mean().item():.3f}"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")
    os.makedirs(out, exist_ok=True)
    for name, seed, sparse in SETS:
        make(out, name, seed, sparse)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out}: {total / 1e6:.2f} MB")
    if total >= 1e6:
        sys.exit("test fixtures over 1 MB: make CONFIG smaller")


if __name__ == "__main__":
    main()
