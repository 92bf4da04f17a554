"""timm's eval transform of the generated images in test/fixtures/images, for the parity check
of imagesToTensor (test/images.test.ts). Run where timm is installed (the GPU machine):

    python tools/timm_eval_transform.py [test/fixtures/images]

Writes timm_eval.safetensors there: one float32 [3, H, W] tensor per image and configuration
(configs.json), named '<file>|<config>', as timm.data.create_transform(is_training=False)
gives it from PIL.Image.open(file).convert('RGB'), and timm_eval.json (the versions).
"""
import json
import os
import sys

import PIL
import timm
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
from timm.data import create_transform

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.avif', '.tif', '.tiff')


def main(folder: str) -> None:
    with open(os.path.join(folder, 'configs.json')) as f:
        configs = json.load(f)
    files = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    out = {}
    for name, cfg in configs.items():
        transform = create_transform(
            input_size=tuple(cfg['input_size']), is_training=False, interpolation=cfg['interpolation'],
            crop_pct=cfg['crop_pct'], crop_mode='center', mean=tuple(cfg['mean']), std=tuple(cfg['std']))
        for file in files:
            with Image.open(os.path.join(folder, file)) as img:
                out[f'{file}|{name}'] = transform(img.convert('RGB')).to(torch.float32).contiguous()
    save_file(out, os.path.join(folder, 'timm_eval.safetensors'))
    with open(os.path.join(folder, 'timm_eval.json'), 'w') as f:
        json.dump({'timm': timm.__version__, 'torch': torch.__version__, 'torchvision': torchvision.__version__,
                   'pillow': PIL.__version__, 'files': files, 'configs': list(configs)}, f, indent=1)
    print(f'wrote {len(out)} tensors for {len(files)} images x {len(configs)} configurations')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'images'))
