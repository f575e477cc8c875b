#!/usr/bin/env python3
"""A PyTorch port of ssdface's default network and training step, for one purpose only:
comparing training speed (images/s of a full optimisation step) with ssdface's own step at
the same batch size and input size. `check` proves the port is the same network: it loads an
ssdface weights file (by default the bundled model) and compares its outputs with ssdface's
own on the same input tensor.

It mirrors, module for module:
- src/model/config.rs   SsdConfig defaults (320x240, width 0.5, stages, extra layer, priors);
- src/model/layers.rs   ConvBn: conv (half padding, no bias) + batch norm + optional ReLU6;
- src/model/backbone.rs MobileNetV2 inverted residual stages;
- src/model/heads.rs    3x3 classifier / regressor heads, stride-2 extra layer;
- src/model/top_down.rs optional top-down paths (1x1 convolution, nearest upsampling, sum);
- src/model/ssd.rs      the whole network and its output layout;
- src/boxes/priors.rs, codec.rs, matching.rs  priors, box encoding and prior matching;
- src/train/loss.rs     MultiBox loss with 3:1 hard-negative mining;
- burn's Adam (epsilon 1e-5; weight decay as an L2 term added to the gradient, which is
  torch.optim.Adam's `weight_decay`, not AdamW).

Targets are matched outside the timed region, as benches/training.rs does. Images are real
training images from ../shared/data/train resized to 320x240 without augmentation (ssdface's
bench uses augmented crops of them), or random pixels with random boxes (`--data synthetic`);
step time does not depend on pixel values, and the loss is computed over every prior with
masks, so it does not depend on the number of faces either.

Known differences from ssdface (none changes the work a step does):
- ReLU6 is F.relu6 (hardtanh), torch's idiom, where burn writes clamp(0, 6): the same function;
  the gradient at exactly 0 or 6 differs (hardtanh passes none there, clamp passes it).
- Weight initialisation uses torch's defaults (kaiming-uniform weights with the same bound as
  burn's, but different random numbers and bias init); the timed step does not depend on it.
- No weight decay by default, as benches/training.rs (`AdamConfig::new()`); `--weight-decay
  5e-4` gives ssdface's training setting.
- Ties in prior matching follow Rust's `max_by` (last maximum); argsort ties in the mining may
  order equal losses differently from burn.
- The parameter count is burn's, which includes batch norm's running mean and variance.

Usage:
  python bench/torch_ssd.py check [--weights FILE] [--frame PHOTO]
  python bench/torch_ssd.py info
  python bench/torch_ssd.py speed --batch 16 --rounds 5 --steps 5 --warm-up 1 --out FILE.json
  python bench/torch_ssd.py layers --batch 16 --rounds 2 --repeats 3 --out FILE.json
  python bench/torch_ssd.py overfit --steps 20
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ssdface_bench import REPO, cargo_bench, cpu_model, layer_kind_table, run_cargo_bench


# What ssdface's default network has (`ssdface info`): the port must match both exactly.
EXPECTED_PARAMS = 464_940
EXPECTED_PRIORS_320X240 = 4_420

NUM_CLASSES = 2
BOX_OFFSETS = 4


# --- src/model/config.rs -------------------------------------------------------------------


class SsdConfig:
    """SsdConfig::new(): every default of src/model/config.rs."""

    def __init__(self, width: int = 320, height: int = 240):
        self.input_width = width
        self.input_height = height
        self.width_multiplier = 0.5
        self.stem_channels = 32
        # (expansion t, channels c, repeats n, stride s, tap)
        self.stages = [
            (1, 32, 1, 1, False),
            (4, 48, 1, 2, False),
            (4, 64, 2, 2, True),
            (6, 128, 3, 2, False),
            (6, 192, 1, 1, True),
            (6, 320, 1, 2, True),
        ]
        self.extra_channels = [384]
        self.top_down_levels = 0
        self.min_sizes = [[10.0, 16.0, 24.0], [32.0, 48.0], [64.0, 96.0], [128.0, 192.0, 256.0]]
        self.aspect_ratios = [1.0]
        self.variances = (0.1, 0.2)  # (center, size)
        self.pixel_mean = 127.0
        self.pixel_std = 128.0
        assert width % 8 == 0 and height % 8 == 0 and min(width, height) >= 32

    # Every field of the crate's `SsdConfig` that this port builds; `from_json` refuses others.
    FIELDS = {"input_width", "input_height", "width_multiplier", "stem_channels", "stages",
              "extra_channels", "top_down_levels", "context_levels", "min_sizes",
              "aspect_ratios", "variances", "pixel_mean", "pixel_std"}

    @classmethod
    def from_json(cls, cfg: dict) -> SsdConfig:
        """The config a weights file carries, as serde writes `SsdConfig` to JSON. A field this
        port does not know, or context blocks (`context_levels`), which it does not build, is
        refused rather than left out of the network."""
        unknown = sorted(set(cfg) - cls.FIELDS)
        if unknown:
            raise ValueError(f"the PyTorch port does not build these SsdConfig fields: {unknown}")
        if cfg.get("context_levels"):
            raise ValueError(f"the PyTorch port has no context blocks: context_levels = "
                             f"{cfg['context_levels']} (only networks without them compare)")
        config = cls(cfg["input_width"], cfg["input_height"])
        config.width_multiplier = cfg["width_multiplier"]
        config.stem_channels = cfg["stem_channels"]
        config.stages = [(s["expansion"], s["channels"], s["repeats"], s["stride"], s["tap"])
                         for s in cfg["stages"]]
        config.extra_channels = list(cfg["extra_channels"])
        config.top_down_levels = cfg.get("top_down_levels") or 0
        config.min_sizes = [list(sizes) for sizes in cfg["min_sizes"]]
        config.aspect_ratios = list(cfg["aspect_ratios"])
        config.variances = (cfg["variances"]["center"], cfg["variances"]["size"])
        config.pixel_mean = cfg["pixel_mean"]
        config.pixel_std = cfg["pixel_std"]
        return config

    def scaled(self, channels: int) -> int:
        target = channels * self.width_multiplier
        rounded = max(int(math.floor((target + 4.0) / 8.0)) * 8, 8)
        return rounded + 8 if rounded < 0.9 * target else rounded

    def feature_sizes(self) -> list[tuple[int, int]]:
        def halve(size, stride):
            return (-(-size[0] // stride), -(-size[1] // stride))

        size = halve((self.input_width, self.input_height), 2)
        levels = []
        for _, _, _, stride, tap in self.stages:
            size = halve(size, stride)
            if tap:
                levels.append(size)
        for _ in self.extra_channels:
            size = halve(size, 2)
            levels.append(size)
        return levels

    def priors_per_cell(self) -> list[int]:
        return [len(sizes) * len(self.aspect_ratios) for sizes in self.min_sizes]

    def priors(self) -> np.ndarray:
        """src/boxes/priors.rs generate_priors: `[P, 4]` (cx, cy, w, h), normalised, f32.

        Level by level; cells row-major (y, then x); per cell every min size, then every
        aspect ratio: the order the heads emit their rows in.
        """
        iw, ih = np.float32(self.input_width), np.float32(self.input_height)
        rows = []
        for (fw, fh), sizes in zip(self.feature_sizes(), self.min_sizes):
            for y in range(fh):
                for x in range(fw):
                    cx = (np.float32(x) + np.float32(0.5)) / np.float32(fw)
                    cy = (np.float32(y) + np.float32(0.5)) / np.float32(fh)
                    for size in sizes:
                        for ratio in self.aspect_ratios:
                            stretch = np.sqrt(np.float32(ratio))
                            rows.append(
                                (cx, cy, np.float32(size) * stretch / iw, np.float32(size) / stretch / ih)
                            )
        return np.asarray(rows, dtype=np.float32)


# --- src/model/layers.rs, backbone.rs, heads.rs, ssd.rs ------------------------------------


def padded_conv(cin: int, cout: int, kernel: int, stride: int, groups: int, bias: bool) -> nn.Conv2d:
    """A convolution with "half" padding (kernel / 2 on each side): ceil(n / stride) cells."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias)


class ConvBn(nn.Module):
    """Convolution (no bias), batch norm (eps 1e-5, momentum 0.1) and optionally ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int, activate: bool):
        super().__init__()
        self.conv = padded_conv(cin, cout, kernel, stride, groups, bias=False)
        self.norm = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.activate = activate

    def forward(self, x):
        x = self.norm(self.conv(x))
        # burn: x.clamp(0.0, 6.0). relu6 (hardtanh) is the same function and torch's idiom
        # (torchvision's MobileNetV2); its backward is one fused kernel where clamp's is several.
        return F.relu6(x) if self.activate else x


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvBn(cin, hidden, 1, 1, 1, True) if expansion != 1 else None
        self.depthwise = ConvBn(hidden, hidden, 3, stride, hidden, True)
        self.project = ConvBn(hidden, cout, 1, 1, 1, False)
        self.residual = stride == 1 and cin == cout

    def forward(self, inp):
        x = self.expand(inp) if self.expand is not None else inp
        x = self.project(self.depthwise(x))
        return x + inp if self.residual else x


class Stage(nn.Module):
    def __init__(self, blocks: list[InvertedResidual], tap: bool):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.tap = tap


class Backbone(nn.Module):
    def __init__(self, config: SsdConfig):
        super().__init__()
        stem = config.scaled(config.stem_channels)
        self.stem = ConvBn(3, stem, 3, 2, 1, True)
        cin = stem
        stages = []
        for expansion, channels, repeats, stride, tap in config.stages:
            cout = config.scaled(channels)
            blocks = []
            for i in range(repeats):
                blocks.append(InvertedResidual(cin, cout, expansion, stride if i == 0 else 1))
                cin = cout
            stages.append(Stage(blocks, tap))
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        taps = []
        for stage in self.stages:
            for block in stage.blocks:
                x = block(x)
            if stage.tap:
                taps.append(x)
        return taps


def rows_per_prior(fmap, values: int):
    """`[batch, priors * values, h, w]` -> `[batch, h * w * priors, values]`."""
    b = fmap.shape[0]
    return fmap.permute(0, 2, 3, 1).reshape(b, -1, values)


class DetectionHead(nn.Module):
    def __init__(self, channels: int, priors_per_cell: int):
        super().__init__()
        self.classifier = padded_conv(channels, priors_per_cell * NUM_CLASSES, 3, 1, 1, bias=True)
        self.regressor = padded_conv(channels, priors_per_cell * BOX_OFFSETS, 3, 1, 1, bias=True)

    def forward(self, features):
        return (
            rows_per_prior(self.classifier(features), NUM_CLASSES),
            rows_per_prior(self.regressor(features), BOX_OFFSETS),
        )


class ExtraLayer(nn.Module):
    """1x1 reduce, 3x3 stride-2 depthwise, 1x1 expand; all three with ReLU6."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        hidden = max(cout // 4, 8)
        self.reduce = ConvBn(cin, hidden, 1, 1, 1, True)
        self.depthwise = ConvBn(hidden, hidden, 3, 2, hidden, True)
        self.expand = ConvBn(hidden, cout, 1, 1, 1, True)

    def forward(self, x):
        return self.expand(self.depthwise(self.reduce(x)))


class TopDown(nn.Module):
    """Adds a coarser level's features to a finer one: 1x1 convolution, nearest upsampling."""

    def __init__(self, coarse: int, fine: int):
        super().__init__()
        self.lateral = nn.Conv2d(coarse, fine, 1)

    def forward(self, fine, coarse):
        return fine + F.interpolate(self.lateral(coarse), size=fine.shape[-2:], mode="nearest")


class Ssd(nn.Module):
    def __init__(self, config: SsdConfig):
        super().__init__()
        self.backbone = Backbone(config)
        tapped = [config.scaled(c) for _, c, _, _, tap in config.stages if tap]
        cin = config.scaled(config.stages[-1][1]) if config.stages else config.scaled(config.stem_channels)
        extras = []
        for channels in config.extra_channels:
            cout = config.scaled(channels)
            extras.append(ExtraLayer(cin, cout))
            cin = cout
        self.extras = nn.ModuleList(extras)
        level_channels = tapped + [config.scaled(c) for c in config.extra_channels]
        self.top_down = nn.ModuleList(
            TopDown(coarse, fine)
            for fine, coarse in list(zip(level_channels, level_channels[1:]))[:config.top_down_levels]
        )
        self.heads = nn.ModuleList(
            DetectionHead(c, p) for c, p in zip(level_channels, config.priors_per_cell())
        )

    def forward(self, images):
        features = self.backbone(images)
        x = features[-1]
        for extra in self.extras:
            x = extra(x)
            features.append(x)
        # Coarsest first, so that a level passes on what it received from above.
        for level in reversed(range(len(self.top_down))):
            features[level] = self.top_down[level](features[level], features[level + 1])
        logits, offsets = zip(*(head(f) for f, head in zip(features, self.heads)))
        return torch.cat(logits, 1), torch.cat(offsets, 1)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def num_params(model: nn.Module) -> int:
    """burn's `Module::num_params`: it visits batch norm's running mean and variance as float
    parameters too (burn-core's RunningState), so they count, though no optimiser touches them.
    """
    running = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    return trainable_params(model) + running


# --- src/weights.rs: ssdface weights files ----------------------------------------------------


def cbor_item(buf: bytes, pos: int):
    """The CBOR data item at `pos` and the position after it: the subset burnpack's metadata
    uses (integers, strings, arrays, maps, tags, simple values and floats; definite lengths).
    """
    head = buf[pos]
    pos += 1
    major, info = head >> 5, head & 31
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if info in simple:
            return simple[info], pos
        widths = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}
        if info not in widths:
            raise ValueError(f"unsupported CBOR simple value {info} at byte {pos - 1}")
        fmt, width = widths[info]
        return struct.unpack(fmt, buf[pos:pos + width])[0], pos + width
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        width = 1 << (info - 24)
        n = int.from_bytes(buf[pos:pos + width], "big")
        pos += width
    else:
        raise ValueError(f"unsupported CBOR length {info} at byte {pos - 1}")
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2:
        return bytes(buf[pos:pos + n]), pos + n
    if major == 3:
        return buf[pos:pos + n].decode(), pos + n
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = cbor_item(buf, pos)
            items.append(item)
        return items, pos
    if major == 5:
        pairs = {}
        for _ in range(n):
            key, pos = cbor_item(buf, pos)
            pairs[key], pos = cbor_item(buf, pos)
        return pairs, pos
    return cbor_item(buf, pos)  # major 6: a tag, followed by the item it tags


def read_weights(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """An ssdface weights file: its network config and its parameters by burn's names, as f32.

    The file (src/weights.rs) is b"SSDFACE\\0", a u32 LE format version, a u32 LE config
    length, the config's JSON, then a burnpack record (burn-pack 0.22): u32 LE magic "BURN",
    u16 LE version, u32 LE metadata length, CBOR metadata naming each tensor's dtype, shape and
    byte range, and the tensor data from the next 256-byte boundary of the record.
    """
    data = path.read_bytes()
    if data[:8] != b"SSDFACE\0":
        raise ValueError(f"{path} is not an ssdface weights file")
    version, config_len = struct.unpack_from("<II", data, 8)
    if version != 1:
        raise ValueError(f"{path}: weights format version {version}, this reader knows 1")
    config = json.loads(data[16:16 + config_len])
    record = data[16 + config_len:]
    magic, _, metadata_len = struct.unpack_from("<IHI", record, 0)
    if magic != 0x4255524E:
        raise ValueError(f"{path}: the parameters are not a burnpack record")
    metadata, _ = cbor_item(record[10:10 + metadata_len], 0)
    start = -(-(10 + metadata_len) // 256) * 256
    dtypes = {"F16": np.float16, "F32": np.float32}
    tensors = {}
    for name, tensor in metadata["tensors"].items():
        begin, end = tensor["data_offsets"]
        values = np.frombuffer(record[start + begin:start + end], dtype=dtypes[tensor["dtype"]])
        tensors[name] = values.astype(np.float32).reshape(tensor["shape"])
    return config, tensors


def load_weights(model: nn.Module, tensors: dict[str, np.ndarray]):
    """Every parameter and running statistic of `model` from burn's tensors (batch norm's
    `gamma`/`beta` are torch's `weight`/`bias`); refuses missing, extra or misshapen ones."""
    renamed = {name.replace(".norm.gamma", ".norm.weight").replace(".norm.beta", ".norm.bias"): v
               for name, v in tensors.items()}
    state = model.state_dict()
    expected = {name for name in state if not name.endswith("num_batches_tracked")}
    if expected != set(renamed):
        raise ValueError(f"the port lacks {sorted(set(renamed) - expected)[:5]}, "
                         f"the file lacks {sorted(expected - set(renamed))[:5]}")
    for name in expected:
        if tuple(state[name].shape) != renamed[name].shape:
            raise ValueError(f"{name}: {renamed[name].shape} in the file, "
                             f"{tuple(state[name].shape)} in the port")
        state[name] = torch.from_numpy(renamed[name])
    model.load_state_dict(state)


# --- src/boxes/codec.rs, matching.rs; src/train/item.rs -------------------------------------


def center_to_corners(b: np.ndarray) -> np.ndarray:
    return np.stack(
        [b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1
    ).astype(np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`[A, B]` IoU of corner boxes; 0 where the union is empty (geometry.rs `iou`)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union <= 0, 0.0, inter / union).astype(np.float32)


def last_argmax(v: np.ndarray) -> int:
    """Rust's `Iterator::max_by` keeps the last of equal maxima."""
    return len(v) - 1 - int(np.argmax(v[::-1]))


def match_priors(priors: np.ndarray, faces: np.ndarray, iou_threshold: float, variances):
    """matching.rs `match_priors`: labels `[P]` (1 face, 0 background), offsets `[P, 4]`.

    1. each prior whose best IoU with a face reaches the threshold takes that face;
    2. each face, in order, also takes its best prior not yet forced (IoU > 0), even below
       the threshold.
    """
    p = len(priors)
    matched = np.full(p, -1, dtype=np.int64)
    if len(faces):
        overlaps = iou_matrix(center_to_corners(priors), faces)
        for i in range(p):
            row = overlaps[i]
            f = last_argmax(row)
            if row[f] >= iou_threshold:
                matched[i] = f
        forced = np.zeros(p, dtype=bool)
        for f in range(len(faces)):
            col = np.where(~forced & (overlaps[:, f] > 0.0), overlaps[:, f], -np.inf)
            if np.isfinite(col).any():
                best = last_argmax(col)
                forced[best] = True
                matched[best] = f
    offsets = np.zeros((p, 4), dtype=np.float32)
    pos = matched >= 0
    if pos.any():
        center, size = np.float32(variances[0]), np.float32(variances[1])
        f = faces[matched[pos]]
        t = np.stack(
            [(f[:, 0] + f[:, 2]) / 2, (f[:, 1] + f[:, 3]) / 2, f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]], 1
        )
        pr = priors[pos]
        offsets[pos] = np.stack(
            [
                (t[:, 0] - pr[:, 0]) / (center * pr[:, 2]),
                (t[:, 1] - pr[:, 1]) / (center * pr[:, 3]),
                np.log(t[:, 2] / pr[:, 2]) / size,
                np.log(t[:, 3] / pr[:, 3]) / size,
            ],
            1,
        )
    return pos.astype(np.int64), offsets


# --- src/train/loss.rs ----------------------------------------------------------------------


def multibox_loss(logits, offsets, labels, target_offsets, negatives_per_positive: int = 3):
    """MultiBox loss, op for op as loss.rs: returns (total, location, confidence)."""
    batch, priors, _ = logits.shape
    log_probs = F.log_softmax(logits, 2)
    positive = labels == 1

    background_loss = (-log_probs.detach()[:, :, 0]).masked_fill(positive, -1.0)
    rank = background_loss.argsort(1, descending=True).argsort(1).float()
    face = positive.float()
    positives = face.sum(1, keepdim=True)
    # An image without face priors mines as many as the batch's average image.
    wanted = torch.where(positives == 0, positives.mean(), positives) * negatives_per_positive
    negatives = torch.minimum(wanted, priors - positives)
    negative = rank < negatives.expand(batch, priors)
    selected = (positive | negative).float()

    normaliser = positives.sum().clamp_min(1.0)
    cross_entropy = -(log_probs[:, :, 1] * face + log_probs[:, :, 0] * (1.0 - face))
    confidence = (cross_entropy * selected).sum() / normaliser

    smooth_l1 = F.smooth_l1_loss(offsets, target_offsets, reduction="none", beta=1.0)
    location = (smooth_l1.sum(2) * face).sum() / normaliser
    return location + confidence, location, confidence


# --- data ----------------------------------------------------------------------------------


def read_labels(folder: Path):
    """WIDER FACE `bbx_gt` layout: path, count, then count lines `x y w h ... invalid ...`."""
    lines = (folder / "labels.txt").read_text().split("\n")
    i, out = 0, []
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        count = int(lines[i + 1])
        rows = lines[i + 2 : i + 2 + max(count, 1)]
        i += 2 + max(count, 1)
        boxes = []
        for row in rows[:count]:
            v = row.split()
            x, y, w, h = map(float, v[:4])
            invalid = len(v) > 7 and v[7] != "0"
            if not invalid:
                boxes.append((x, y, x + w, y + h))
        out.append((name, boxes))
    return out


def real_items(config: SsdConfig, priors: np.ndarray, n: int, folder: Path):
    """The first `n` training images, resized to the input (no augmentation), and targets."""
    from PIL import Image

    items = []
    for name, boxes in read_labels(folder)[:n]:
        image = Image.open(folder / "images" / name).convert("RGB")
        w, h = image.size
        resized = image.resize((config.input_width, config.input_height), Image.BILINEAR)
        pixels = (np.asarray(resized, dtype=np.float32) - config.pixel_mean) / config.pixel_std
        faces = []
        for x1, y1, x2, y2 in boxes:
            x1, x2 = np.clip([x1, x2], 0, w)
            y1, y2 = np.clip([y1, y2], 0, h)
            if x2 - x1 >= 1 and y2 - y1 >= 1:  # dataset.rs drops boxes under 1 px
                faces.append((x1 / w, y1 / h, x2 / w, y2 / h))
        faces = np.asarray(faces, dtype=np.float32).reshape(-1, 4)
        labels, offsets = match_priors(priors, faces, 0.35, config.variances)
        items.append((pixels.transpose(2, 0, 1).copy(), labels, offsets, len(faces)))
    return items


def synthetic_items(config: SsdConfig, priors: np.ndarray, n: int, seed: int = 0):
    """Random pixels and 1..8 random faces of 10..120 px per image."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        pixels = rng.uniform(-1, 1, (3, config.input_height, config.input_width)).astype(np.float32)
        faces = []
        for _ in range(rng.integers(1, 9)):
            s = rng.uniform(10, 120)
            bw, bh = s / config.input_width, s * rng.uniform(1.0, 1.3) / config.input_height
            x, y = rng.uniform(0, 1 - bw), rng.uniform(0, 1 - min(bh, 0.99))
            faces.append((x, y, x + bw, min(y + bh, 1.0)))
        faces = np.asarray(faces, dtype=np.float32)
        labels, offsets = match_priors(priors, faces, 0.35, config.variances)
        items.append((pixels, labels, offsets, len(faces)))
    return items


def make_items(config, priors, data: str, n: int):
    folder = Path(os.environ.get("SSDFACE_DATA", REPO.parent / "shared" / "data")) / "train"
    if data == "real" or (data == "auto" and (folder / "labels.txt").exists()):
        return "real", real_items(config, priors, n, folder)
    return "synthetic", synthetic_items(config, priors, n)


def make_batch(items, batch: int):
    """Like the Rust bench: the items cycled to `batch`, stacked once, outside any timing."""
    chosen = [items[i % len(items)] for i in range(batch)]
    images = torch.from_numpy(np.stack([c[0] for c in chosen]))
    labels = torch.from_numpy(np.stack([c[1] for c in chosen]))
    offsets = torch.from_numpy(np.stack([c[2] for c in chosen]))
    return images, labels, offsets, sum(c[3] for c in chosen)


# --- training step -------------------------------------------------------------------------


def build(seed: int = 42, weight_decay: float = 0.0, lr: float = 1e-3):
    torch.manual_seed(seed)
    config = SsdConfig()
    priors = config.priors()
    model = Ssd(config)
    params = num_params(model)
    print(f"pytorch port: {params:,} parameters as burn counts them ({trainable_params(model):,} "
          f"trainable + batch-norm running statistics), {len(priors):,} priors at 320x240", flush=True)
    assert params == EXPECTED_PARAMS, f"{params} parameters, ssdface has {EXPECTED_PARAMS}"
    assert len(priors) == EXPECTED_PRIORS_320X240, f"{len(priors)} priors, ssdface has 4420"
    model.train()
    # burn's AdamConfig: betas 0.9/0.999, epsilon 1e-5 (same formula as torch's: the epsilon
    # is added to sqrt(v) / sqrt(1 - beta2^t)); WeightDecayConfig adds penalty * w to the
    # gradient before the moments, i.e. torch.optim.Adam's weight_decay.
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-5, weight_decay=weight_decay
    )
    return config, priors, model, optimizer


PHASES = ("forward", "loss", "backward", "optimiser")


def train_step(model, optimizer, images, labels, offsets, phase_ms=None):
    """One step; with ``phase_ms`` (a dict of lists), each phase's milliseconds are appended
    under the names of ``PHASES``, as the ssdface bench splits its steps."""
    marks = [time.perf_counter()]
    out_logits, out_offsets = model(images)
    marks.append(time.perf_counter())
    total, location, confidence = multibox_loss(out_logits, out_offsets, labels, offsets, 3)
    marks.append(time.perf_counter())
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    marks.append(time.perf_counter())
    optimizer.step()
    marks.append(time.perf_counter())
    if phase_ms is not None:
        for name, start, end in zip(PHASES, marks, marks[1:]):
            phase_ms.setdefault(name, []).append(round((end - start) * 1e3, 3))
    return total, location, confidence


def time_steps(model, optimizer, batch, steps: int, warm_up: int, phase_ms=None) -> list[float]:
    images, labels, offsets = batch
    times = []
    for i in range(warm_up + steps):
        start = time.perf_counter()
        train_step(model, optimizer, images, labels, offsets, phase_ms if i >= warm_up else None)
        elapsed = (time.perf_counter() - start) * 1e3
        if i >= warm_up:
            times.append(round(elapsed, 3))
    return times


# --- ssdface side --------------------------------------------------------------------------


def run_ssdface(batch: int, steps: int, warm_up: int, threads: int | None, timeout: float | None):
    return cargo_bench("training", ["--batch", str(batch), "--steps", str(steps),
                                    "--warm-up", str(warm_up), "--backend", "cpu"], threads,
                       timeout=timeout)


# --- commands ------------------------------------------------------------------------------


def median(v):
    # The Rust bench's median: the upper middle element of the sorted values.
    return sorted(v)[len(v) // 2]


def report_header(kind: str, threads: int, batch: int, config: SsdConfig, rounds: int) -> dict:
    """What every results file of this script starts with: the machine, date and setting."""
    return {
        "kind": kind,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": threads},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "batch": batch,
        "size": f"{config.input_width}x{config.input_height}",
        "rounds": rounds,
    }


def cmd_check(args):
    """The port and ssdface on the same weights and the same input tensor (ssdface's own
    preprocessing of the photo, written by `cargo bench --bench detection -- --outputs`)."""
    torch.set_num_threads(args.threads or os.cpu_count())
    weights = Path(args.weights).resolve()
    config_json, tensors = read_weights(weights)
    model = Ssd(SsdConfig.from_json(config_json))
    load_weights(model, tensors)
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "outputs.json"
        bench_args = ["--outputs", str(file), "--frame", str(Path(args.frame).resolve())]
        run_cargo_bench("detection", bench_args, weights=weights, timeout=args.cargo_timeout)
        record = json.loads(file.read_text())

    def tensor(name):
        return np.asarray(record[name]["values"], dtype=np.float32).reshape(record[name]["shape"])

    with torch.no_grad():
        logits, offsets = (t[0].numpy() for t in model(torch.from_numpy(tensor("input"))[None]))
    print(f"{weights.name} on {Path(args.frame).name}: {len(tensors)} tensors, "
          f"{logits.shape[0]:,} priors")
    failed = False
    theirs_logits = tensor("logits")[0]
    scores = torch.softmax(torch.from_numpy(logits), -1)[:, 1].numpy()
    theirs_scores = torch.softmax(torch.from_numpy(theirs_logits), -1)[:, 1].numpy()
    for name, ours, theirs in (("logits", logits, theirs_logits),
                               ("offsets", offsets, tensor("offsets")[0]),
                               ("face scores", scores, theirs_scores)):
        difference = np.abs(ours - theirs).max()
        allowed = args.tolerance * max(1.0, float(np.abs(theirs).max()))
        failed |= not difference <= allowed
        print(f"  {name:<12} max |ssdface| {np.abs(theirs).max():8.3f}   max |port - ssdface| "
              f"{difference:.2e}   {'ok' if difference <= allowed else 'DIFFERENT'} "
              f"(allowed {allowed:.1e})")
    top = 20
    same_top = list(np.argsort(-scores)[:top]) == list(np.argsort(-theirs_scores)[:top])
    print(f"  the {top} highest-scoring priors, in order: {'the same' if same_top else 'DIFFERENT'}")
    if failed or not same_top:
        sys.exit("the port does not compute what ssdface computes")


def cmd_info(args):
    config, priors, model, _ = build()
    print("feature sizes:", config.feature_sizes(), "priors per cell:", config.priors_per_cell())
    kind, items = make_items(config, priors, args.data, 64)
    faces = [it[3] for it in items]
    positives = [int(it[1].sum()) for it in items]
    print(f"{kind} items: {len(items)}, faces/image mean {np.mean(faces):.1f}, "
          f"positive priors/image mean {np.mean(positives):.1f}")


def cmd_speed(args):
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    config, priors, model, optimizer = build(weight_decay=args.weight_decay)
    kind, items = make_items(config, priors, args.data, 64)
    images, labels, offsets, faces = make_batch(items, args.batch)
    print(f"{kind} input: batch {args.batch}, {faces} faces, {int(labels.sum())} positive priors; "
          f"torch {torch.__version__}, {threads} threads", flush=True)

    # One row per ssdface CPU backend the bench build has (flex; LibTorch with
    # SSDFACE_BENCH_FEATURES=libtorch), interleaved round by round with the port's.
    torch_row = {"detector": "pytorch-port", "backend": "torch cpu", "round_medians_ms": [], "step_ms": [],
                 "phase_ms": {}}
    ssdface_rows = {}
    ssdface_error = None
    for r in range(args.rounds):
        times = time_steps(model, optimizer, (images, labels, offsets), args.steps, args.warm_up,
                           torch_row["phase_ms"])
        torch_row["round_medians_ms"].append(median(times))
        torch_row["step_ms"].extend(times)
        print(f"round {r + 1}/{args.rounds}  pytorch-port: median {median(times):.0f} ms/step", flush=True)
        if args.no_ssdface or ssdface_error:
            continue
        try:
            records = run_ssdface(args.batch, args.steps, args.warm_up, threads, args.cargo_timeout)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            ssdface_error = str(e)
            print(f"ssdface bench failed, continuing with the port only:\n{e}", file=sys.stderr, flush=True)
            continue
        for backend, record in records.items():
            times = [float(t) for t in record["step_ms"]]
            row = ssdface_rows.setdefault(backend, {"detector": "ssdface", "backend": backend,
                                                    "round_medians_ms": [], "step_ms": [],
                                                    "phase_ms": {}})
            for name, ms in record.get("phase_ms", {}).items():
                row["phase_ms"].setdefault(name, []).extend(ms)
            row["threads"] = record.get("threads")
            row["round_medians_ms"].append(median(times))
            row["step_ms"].extend(times)
            print(f"round {r + 1}/{args.rounds}  ssdface {backend}: median {median(times):.0f} ms/step "
                  f"({record.get('threads')} threads)", flush=True)

    out = []
    for res in [*ssdface_rows.values(), torch_row]:
        if not res["step_ms"]:
            continue
        res["images_per_second"] = round(args.batch * 1000.0 / median(res["step_ms"]), 2)
        threads_used = res.pop("threads", None)
        out.append(res)
        phases = ", ".join(f"{name} {median(res['phase_ms'][name]):.0f}"
                           for name in PHASES if res["phase_ms"].get(name))
        print(f"{res['detector']:<13} {res['backend']:<15} batch {args.batch}: "
              f"{res['images_per_second']:.1f} images/s (median {median(res['step_ms']):.0f} ms/step "
              f"over {len(res['step_ms'])} steps in {len(res['round_medians_ms'])} rounds"
              + (f", {threads_used} threads" if threads_used else "") + ")"
              + (f"; median ms per phase: {phases}" if phases else ""))

    report = {**report_header("training-speed", threads, args.batch, config, args.rounds),
              "results": out}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    if ssdface_error:
        sys.exit(1)


# --- per layer -----------------------------------------------------------------------------


def layer_spec(model: nn.Module, batch: int, config: SsdConfig) -> list[dict]:
    """The units of one training step, in the order the forward pass runs them, with their
    input shapes (found by running the port once): each ConvBn, batch norm + activation alone
    on its output (so the convolution's share is the difference), and each head convolution."""
    layers = []
    handles = []

    def record(name, module):
        def hook(_, inputs, output):
            shape = list(inputs[0].shape)
            if isinstance(module, ConvBn):
                conv = module.conv
                common = {"kernel": conv.kernel_size[0], "stride": conv.stride[0],
                          "groups": conv.groups, "activate": module.activate}
                layers.append({"name": name, "kind": "conv_bn",
                               "channels": [conv.in_channels, conv.out_channels],
                               "input": shape, **common})
                layers.append({"name": name + " (norm+act)", "kind": "norm_act",
                               "channels": [conv.out_channels, conv.out_channels],
                               "input": list(output.shape), **common})
            else:
                layers.append({"name": name, "kind": "head_conv",
                               "channels": [module.in_channels, module.out_channels],
                               "kernel": module.kernel_size[0], "stride": module.stride[0],
                               "groups": module.groups, "activate": False, "input": shape})
        return hook

    for name, module in model.named_modules():
        if isinstance(module, ConvBn) or (name.startswith("heads.") and isinstance(module, nn.Conv2d)):
            handles.append(module.register_forward_hook(record(name, module)))
    with torch.no_grad():
        model(torch.zeros(batch, 3, config.input_height, config.input_width))
    for handle in handles:
        handle.remove()
    return layers


def torch_layer(spec: dict) -> nn.Module:
    cin, cout = spec["channels"]
    if spec["kind"] == "conv_bn":
        return ConvBn(cin, cout, spec["kernel"], spec["stride"], spec["groups"], spec["activate"])
    if spec["kind"] == "norm_act":
        norm = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        return nn.Sequential(norm, nn.ReLU6()) if spec["activate"] else norm
    return padded_conv(cin, cout, spec["kernel"], spec["stride"], spec["groups"], bias=True)


def time_torch_layer(spec: dict, repeats: int, warm_up: int) -> tuple[list[float], list[float]]:
    """As benches/layers.rs: forward, then backward of a fixed random weighting of the output."""
    layer = torch_layer(spec).train()
    source = torch.rand(spec["input"])
    forward_ms, backward_ms = [], []
    for i in range(warm_up + repeats):
        x = source.clone().requires_grad_(True)
        start = time.perf_counter()
        out = layer(x)
        forward = (time.perf_counter() - start) * 1e3
        loss = (out * torch.rand_like(out)).sum()
        start = time.perf_counter()
        loss.backward()
        backward = (time.perf_counter() - start) * 1e3
        layer.zero_grad(set_to_none=True)
        if i >= warm_up:
            forward_ms.append(round(forward, 3))
            backward_ms.append(round(backward, 3))
    return forward_ms, backward_ms


def layer_type(spec: dict) -> str:
    """The kind of work a unit does, for the summary."""
    if spec["kind"] == "norm_act":
        return "batch norm + ReLU6 alone" if spec["activate"] else "batch norm alone"
    if spec["kind"] == "head_conv":
        return "head 3x3 conv"
    if spec["groups"] > 1:
        return "depthwise 3x3 conv_bn"
    return f"{spec['kernel']}x{spec['kernel']} conv_bn"


def cmd_layers(args):
    """Forward and backward of each unit of the network at its training shape, in PyTorch and
    on ssdface's CPU backends (`cargo bench --bench layers`), in alternating rounds."""
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    config = SsdConfig()
    spec = layer_spec(Ssd(config).train(), args.batch, config)
    print(f"{len(spec)} units at batch {args.batch}, {config.input_width}x{config.input_height}; "
          f"torch {torch.__version__}, {threads} threads", flush=True)
    times = {}  # implementation -> name -> {"forward": [...], "backward": [...]}

    def add(implementation, name, forward, backward):
        entry = times.setdefault(implementation, {}).setdefault(name, {"forward": [], "backward": []})
        entry["forward"].extend(forward)
        entry["backward"].extend(backward)

    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "layers.json"
        spec_file.write_text(json.dumps({"batch": args.batch, "layers": spec}))
        for r in range(args.rounds):
            for layer in spec:
                add("pytorch-port", layer["name"], *time_torch_layer(layer, args.repeats, args.warm_up))
            print(f"round {r + 1}/{args.rounds}: pytorch-port done", flush=True)
            records = cargo_bench("layers", ["--spec", str(spec_file), "--repeats", str(args.repeats),
                                             "--warm-up", str(args.warm_up), "--backend", "cpu"],
                                  threads, timeout=args.cargo_timeout)
            for backend, record in records.items():
                for layer in record["layers"]:
                    add(f"ssdface {backend}", layer["name"], layer["forward_ms"], layer["backward_ms"])
            print(f"round {r + 1}/{args.rounds}: ssdface {', '.join(records)} done", flush=True)

    implementations = [i for i in times if i != "pytorch-port"] + ["pytorch-port"]
    medians = {i: {name: {d: median(v) for d, v in t.items()} for name, t in times[i].items()}
               for i in implementations}
    header = "| unit | input | " + " | ".join(f"{i} fwd | {i} bwd" for i in implementations) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(implementations))]
    for layer in spec:
        cells = [f"{medians[i][layer['name']]['forward']:.1f} | {medians[i][layer['name']]['backward']:.1f}"
                 for i in implementations]
        lines.append(f"| {layer['name']} | {'x'.join(map(str, layer['input'][1:]))} | " + " | ".join(cells) + " |")
    print("\nmedian ms per unit (norm+act rows: batch norm and ReLU6 alone on the unit's output)")
    print("\n".join(lines))

    # Totals by kind of work: where ssdface's time goes and how it compares with PyTorch's.
    by_kind = {}
    for layer in spec:
        for i in implementations:
            m = medians[i][layer["name"]]
            total = by_kind.setdefault(layer_type(layer), {}).setdefault(i, [0.0, 0.0])
            total[0] += m["forward"]
            total[1] += m["backward"]
    print("\nby kind of unit, sum of medians in ms (forward + backward), and over PyTorch's:")
    print("\n".join(layer_kind_table(by_kind, implementations)))

    if args.out:
        report = {
            **report_header("training-layers", threads, args.batch, config, args.rounds),
            "layers": spec,
            "implementations": implementations,
            "by_kind_ms": by_kind,
            "times_ms": times,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")


def cmd_overfit(args):
    torch.set_num_threads(args.threads or os.cpu_count())
    _, priors, model, optimizer = build(weight_decay=args.weight_decay)
    kind, items = make_items(SsdConfig(), priors, args.data, args.batch)
    images, labels, offsets, faces = make_batch(items, args.batch)
    print(f"overfitting one {kind} batch of {args.batch} ({faces} faces, {int(labels.sum())} positive priors)")
    for step in range(args.steps):
        total, location, confidence = train_step(model, optimizer, images, labels, offsets)
        print(f"step {step + 1:>3}: loss {total.item():.4f} (location {location.item():.4f}, "
              f"confidence {confidence.item():.4f})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
        p.add_argument("--data", choices=["auto", "real", "synthetic"], default="auto",
                       help="real: ../shared/data/train resized, no augmentation; auto: real if present")
        p.add_argument("--weight-decay", type=float, default=0.0,
                       help="Adam L2 penalty (benches/training.rs uses AdamConfig::new(): none; "
                            "training uses 5e-4)")

    p = sub.add_parser("check", help="compare the port's outputs with ssdface's on the same weights")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--weights", default=str(REPO / "models" / "default-320.ssdface"))
    p.add_argument("--frame", default=str(REPO / "assets" / "maksssksksss699.jpg"),
                   help="photo stretched to 640x480 as the detection bench does")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest difference, relative to the largest magnitude when above 1")
    p.add_argument("--cargo-timeout", type=float, default=None, help="seconds for cargo bench")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("info", help="parameter and prior counts, data statistics")
    common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("speed", help="time training steps, interleaved with ssdface's bench")
    common(p)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warm-up", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--no-ssdface", action="store_true", help="time the port only")
    p.add_argument("--cargo-timeout", type=float, default=None, help="seconds per cargo bench run")
    p.set_defaults(func=cmd_speed)

    p = sub.add_parser("layers", help="time each unit's forward and backward, against ssdface's")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm-up", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--cargo-timeout", type=float, default=None, help="seconds per cargo bench run")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("overfit", help="loss over a few steps on one fixed batch")
    common(p)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.set_defaults(func=cmd_overfit)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
