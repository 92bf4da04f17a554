"""timm's side of tools/timm-hf-check.ts (issue 27, "a timm directory saved from timm with random
weights"): for each name, timm.create_model(name, pretrained=False) with random weights (seeded,
10 classes, depth 2), saved with timm's save_for_hf (config.json with pretrained_cfg and
label_names, model.safetensors), and expected.safetensors beside it: 'input', timm's eval transform
of each test image (float32 [B, 3, H, W]), and 'logits', the float64 model's logits for that input.

Usage (where timm is installed): python3 tools/timm_hf_dirs.py out_dir
Then: node --import tsx tools/timm-hf-check.ts out_dir
"""
import os
import sys

import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from timm.data import create_transform, resolve_data_config
from timm.models import save_for_hf

NAMES = ['vit_tiny_patch16_224', 'vit_small_patch32_384', 'deit_tiny_patch16_224', 'deit_tiny_distilled_patch16_224']
IMAGES = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'images')
FILES = ['gradient_61x47.png', 'noise_33x50.png', 'checker_45x39.webp']
LABELS = ['tench', 'goldfish', 'shark', 'tiger shark', 'hammerhead', 'electric ray', 'stingray', 'cock', 'hen', 'ostrich']


def main(out: str) -> None:
    for i, name in enumerate(NAMES):
        torch.manual_seed(i)
        model = timm.create_model(name, pretrained=False, num_classes=len(LABELS), depth=2).eval()
        folder = os.path.join(out, name)
        save_for_hf(model, folder, model_config={'label_names': LABELS}, model_args={'depth': 2}, safe_serialization=True)
        transform = create_transform(**resolve_data_config({}, model=model), is_training=False)
        batch = torch.stack([transform(Image.open(os.path.join(IMAGES, f)).convert('RGB')) for f in FILES])
        with torch.no_grad():
            logits = model.double()(batch.double())
        save_file({'input': batch.float().contiguous(), 'logits': logits.contiguous()}, os.path.join(folder, 'expected.safetensors'),
                  metadata={'files': ','.join(FILES), 'timm': timm.__version__, 'torch': torch.__version__})
        print(f'{folder}: {sorted(os.listdir(folder))}')


if __name__ == '__main__':
    main(sys.argv[1])
