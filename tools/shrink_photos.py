"""A compact copy of a WIDER-layout folder (labels.txt and images/) for a machine that takes few
bytes: each photo scaled down to fit a longest side and re-encoded as JPEG, its boxes scaled
with it.

    python3 tools/shrink_photos.py FOLDER OUT [--max-side PX] [--quality Q] [--max-photos N]
                                              [--share F --salt S]

OUT gets labels.txt (same faces and flags, boxes in the new pixels) and images/ (the same
names). A photo already within the side is re-encoded at its own size. `--share F` keeps a
fraction F of the photos, chosen by the MD5 of S and the name (another S, another sample). Used
by tools/gpu_run.sh; needs Pillow.
"""

import argparse
import hashlib
import sys
from pathlib import Path

from PIL import Image, ImageOps


def read_blocks(labels: Path):
    """(name, [face line]) per photo of a WIDER labels file."""
    lines = labels.read_text().splitlines()
    at = 0
    while at < len(lines):
        name = lines[at].strip()
        if not name:
            at += 1
            continue
        try:
            count = int(lines[at + 1])
        except (IndexError, ValueError):
            sys.exit(f"{labels}: line {at + 2}: expected the face count of {name}")
        # WIDER writes one placeholder line of zeros for a photo without faces.
        rows = max(count, 1)
        faces = lines[at + 2:at + 2 + rows][:count]
        if len(faces) != count:
            sys.exit(f"{labels}: {name}: {count} faces announced, {len(faces)} found")
        yield name, faces
        at += 2 + rows


def scaled_face(line: str, scale: float) -> str:
    """A face line with its box (the first four numbers) multiplied by `scale`."""
    numbers = line.split()
    if len(numbers) < 4:
        sys.exit(f"a face line needs a box: {line!r}")
    box = [f"{float(v) * scale:.2f}" for v in numbers[:4]]
    return " ".join(box + numbers[4:])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--max-photos", type=int, default=None,
                        help="only the first N photos (for a dry run)")
    parser.add_argument("--share", type=float, default=1.0)
    parser.add_argument("--salt", default="")
    args = parser.parse_args()
    if args.max_side < 32 or not 1 <= args.quality <= 100 or not 0 < args.share <= 1:
        sys.exit("--max-side must be at least 32, --quality 1 to 100 and --share in (0, 1]")

    def chosen(name):
        digest = hashlib.md5(f"{args.salt}/{name}".encode()).digest()
        return int.from_bytes(digest[:4], "big") < args.share * 2**32

    out_labels = []
    for index, (name, faces) in enumerate(read_blocks(args.folder / "labels.txt")):
        if args.max_photos is not None and index >= args.max_photos:
            break
        if not chosen(name):
            continue
        source = args.folder / "images" / name
        try:
            with Image.open(source) as photo:
                # Upright by its EXIF orientation, as ssdface reads it (and its labels are).
                photo = ImageOps.exif_transpose(photo).convert("RGB")
                scale = min(1.0, args.max_side / max(photo.size))
                if scale < 1.0:
                    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
                    # The exact factor per axis differs from `scale` by under a pixel's rounding.
                    scale = size[0] / photo.width
                    photo = photo.resize(size, Image.Resampling.LANCZOS)
                target = args.out / "images" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                photo.save(target, "JPEG", quality=args.quality)
        except OSError as error:
            sys.exit(f"{source}: {error}")
        out_labels.append(name)
        out_labels.append(str(len(faces)))
        out_labels.extend(scaled_face(face, scale) for face in faces)
        if not faces:
            out_labels.append("0 0 0 0 0 0 0 0 0 0")
    (args.out / "labels.txt").write_text("\n".join(out_labels) + "\n")


if __name__ == "__main__":
    main()
