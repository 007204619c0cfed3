"""Hand crops that keep the camera, geometric and photometric augmentation, deterministic under a seed.

Crops. A crop is an affine map A of pixel coordinates (continuous convention: the image's corner at (0, 0))
from the source image to the crop: translation, in-plane rotation and scale. The crop's own intrinsics are
K' = A K: the 3D labels stay in the same camera frame (the physical camera did not move) and project with
K' exactly where the cropped 2D labels are. Without rotation K' is an ordinary upper-triangular K; with a
rotation it is a general 3x3 whose inverse still gives each pixel's ray (what absolute placement and
WildHands' intrinsics-aware positional encoding need).

Horizontal flip. Flipping the image (u -> W - u) shows the mirror-image hand: a right hand becomes a left
hand. The labels follow: side swapped, 3D points mirrored x -> -x, parameters mirrored (axis-angle
(x, y, z) -> (x, -y, -z), translation x -> -x: `handrecon.hand.params.HandParams.mirrored`), and
K'' = F K' M with F the pixel flip and M = diag(-1, 1, 1), again an upper-triangular K when K' was
(fx stays positive, the skew and cx change). The mirrored parameters are exact for the openhand model (its
left hand is the mirrored right hand); MANO's left model is mirrored too, up to the small asymmetry of its
released files.

Determinism. Every random choice comes from a `numpy.random.Generator` seeded by (seed, epoch, key) where
the key is the sample's index (map-style datasets) or its shard key (streams), never from global state or
the worker: a sample is augmented identically in any worker, with any number of workers, in any order.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

from handrecon.data.sample import MASK_ANY_HAND, SIDES, HandLabel, Sample
from handrecon.hand.mirror import mirror_axis_angle, mirror_points

FLIP_3D = np.diag([-1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# geometry of a crop
def crop_matrix(center: np.ndarray, side: float, out_size: int, rotation: float = 0.0) -> np.ndarray:
    """3x3 affine A taking source pixels to the pixels of an `out_size` square crop: the square of `side`
    source pixels centred on `center`, turned by `rotation` radians (counter-clockwise as seen in the
    image, whose y axis points down), maps onto the crop."""
    if side <= 0:
        raise ValueError(f"crop side must be positive, got {side}")
    s = out_size / side
    c, n = math.cos(rotation), math.sin(rotation)
    R = np.array([[c, n, 0.0], [-n, c, 0.0], [0.0, 0.0, 1.0]])
    T0 = np.array([[1.0, 0.0, -center[0]], [0.0, 1.0, -center[1]], [0.0, 0.0, 1.0]])
    S = np.diag([s, s, 1.0])
    T1 = np.array([[1.0, 0.0, out_size / 2], [0.0, 1.0, out_size / 2], [0.0, 0.0, 1.0]])
    return T1 @ S @ R @ T0


def _apply(P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return uv @ P[:2, :2].T + P[:2, 2]


def _transform_hand(h: HandLabel, P: np.ndarray, flip: bool) -> HandLabel:
    """Labels of a hand under the pixel map P (flip included) and, with `flip`, the 3D mirror."""
    out = replace(h)
    if h.keypoints_2d is not None:
        kp = h.keypoints_2d.copy()
        known = kp[:, 2] > 0
        kp[:, :2] = np.where(known[:, None], _apply(P, kp[:, :2]), 0.0)
        out.keypoints_2d = kp
    if h.box is not None:
        x0, y0, x1, y1 = h.box
        corners = _apply(P, np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]))
        out.box = np.concatenate([corners.min(0), corners.max(0)])
    if flip:
        out.side = SIDES[1 - SIDES.index(h.side)]
        if h.joints_3d is not None:
            out.joints_3d = h.joints_3d @ FLIP_3D
        if h.global_orient is not None:
            out.global_orient = mirror_axis_angle(torch.from_numpy(h.global_orient)).numpy()
            out.hand_pose = mirror_axis_angle(torch.from_numpy(h.hand_pose)).numpy()
        if h.transl is not None:
            out.transl = mirror_points(torch.from_numpy(h.transl)).numpy()
    return out


def warp_sample(sample: Sample, A: np.ndarray, out_size: tuple[int, int], flip: bool = False) -> Sample:
    """The sample seen through the pixel map A (3x3 affine) into an image of `out_size` (width, height),
    then flipped horizontally when `flip`; K' = A K (see the module docstring). `extras`, which hold values
    in the source image's frame, are dropped."""
    W, H = out_size
    P = A
    if flip:
        P = np.array([[-1.0, 0.0, W], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ A
    # cv2 maps pixel indices (centres at integers): continuous = index + 0.5 on both sides.
    to_idx = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    from_idx = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    P_idx = to_idx @ P @ from_idx
    identity = np.allclose(P_idx, np.eye(3)) and sample.size == (W, H)
    pure_flip = flip and np.allclose(A, np.eye(3)) and sample.size == (W, H)
    if identity:
        image, mask = sample.image.copy(), None if sample.mask is None else sample.mask.copy()
    elif pure_flip:  # exact, and cheaper than a warp
        image = np.ascontiguousarray(sample.image[:, ::-1])
        mask = None if sample.mask is None else np.ascontiguousarray(sample.mask[:, ::-1])
    else:
        image = cv2.warpAffine(sample.image, P_idx[:2], (W, H), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        mask = None
        if sample.mask is not None:
            mask = cv2.warpAffine(sample.mask, P_idx[:2], (W, H), flags=cv2.INTER_NEAREST, borderValue=0)
    K = P @ sample.K @ FLIP_3D if flip else A @ sample.K
    hands = [_transform_hand(h, P, flip) for h in sample.hands]
    return Sample(image, K, hands, mask, sample.source, sample.sample_id, {}, sample.K_known)


def flip_sample(sample: Sample) -> Sample:
    """The horizontally flipped sample (mirror-image hands: see the module docstring)."""
    return warp_sample(sample, np.eye(3), sample.size, flip=True)


def hand_box(hand: HandLabel, K: np.ndarray) -> np.ndarray | None:
    """(4,) x0, y0, x1, y1 around a hand: its box, else its labelled 2D keypoints, else its valid 3D joints
    projected with K; None when it has none of these."""
    if hand.box is not None:
        return hand.box
    if hand.keypoints_2d is not None and (hand.keypoints_2d[:, 2] > 0).sum() >= 2:
        uv = hand.keypoints_2d[hand.keypoints_2d[:, 2] > 0, :2]
    elif hand.joints_3d is not None and hand.joints_3d_valid.sum() >= 2:
        p = hand.joints_3d[hand.joints_3d_valid] @ K.T
        uv = p[:, :2] / p[:, 2:3]
    else:
        return None
    return np.concatenate([uv.min(0), uv.max(0)])


def reorder_hands(sample: Sample, order: list[int]) -> Sample:
    """The sample with its hands in `order` (a permutation), the mask's slot codes renumbered to match."""
    if sorted(order) != list(range(len(sample.hands))):
        raise ValueError(f"{order} is not a permutation of the {len(sample.hands)} hands")
    mask = sample.mask
    if mask is not None and order != sorted(order):
        lut = np.arange(256, dtype=np.uint8)
        for new, old in enumerate(order):
            lut[old + 1] = new + 1
        lut[MASK_ANY_HAND] = MASK_ANY_HAND
        mask = lut[mask]
    return replace(sample, hands=[sample.hands[i] for i in order], mask=mask)


# ---------------------------------------------------------------------------------------------
# configuration
@dataclass
class CropConfig:
    """A square crop around one hand (the centred hand is moved to slot 0), with jitter."""

    size: int = 224  # output side, pixels
    box_scale: float = 1.5  # crop side = box_scale x the longer side of the hand's box
    scale_jitter: float = 0.0  # side x uniform(1 - s, 1 + s)
    shift_jitter: float = 0.0  # centre moved by uniform(-t, t) x side along each axis
    rotation_deg: float = 0.0  # uniform(-r, r) degrees
    flip_prob: float = 0.0  # horizontal flip probability (swaps left and right)
    hand: str = "random"  # which hand centres the crop: "random" or "first"
    min_side: float = 16.0  # smallest crop side in source pixels (tiny or degenerate boxes)


@dataclass
class PhotometricConfig:
    """Colour jitter, blur and synthetic occluders (zero values turn each off)."""

    brightness: float = 0.0  # gain uniform(1 - b, 1 + b)
    contrast: float = 0.0  # about the mean grey, uniform(1 - c, 1 + c)
    saturation: float = 0.0  # about the per-pixel grey, uniform(1 - s, 1 + s)
    colour: float = 0.0  # per-channel gains uniform(1 - c, 1 + c) (white balance)
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 2.0)  # Gaussian sigma range, pixels
    occluder_prob: float = 0.0
    occluder_size: tuple[float, float] = (0.15, 0.4)  # fraction of the image's shorter side
    max_occluders: int = 2


@dataclass
class AugmentConfig:
    crop: CropConfig | None = field(default_factory=CropConfig)  # None: keep the full image
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)

    @classmethod
    def training(cls, size: int = 224) -> AugmentConfig:
        """Jitter of the usual strength in hand-mesh training (scale +-25 %, shift +-10 %, rotation +-30
        degrees, flips, colour +-30 %, blur and occluders on some samples)."""
        return cls(
            CropConfig(size=size, scale_jitter=0.25, shift_jitter=0.1, rotation_deg=30.0, flip_prob=0.5),
            PhotometricConfig(
                brightness=0.3, contrast=0.3, saturation=0.3, colour=0.1, blur_prob=0.2, occluder_prob=0.3
            ),
        )


# ---------------------------------------------------------------------------------------------
# random transforms
def random_crop(sample: Sample, config: CropConfig, rng: np.random.Generator) -> Sample:
    """A jittered square crop around one of the sample's hands (the image centre without a usable hand)."""
    boxes = [hand_box(h, sample.K) for h in sample.hands]
    usable = [k for k, b in enumerate(boxes) if b is not None]
    if usable:
        k = usable[int(rng.integers(len(usable)))] if config.hand == "random" else usable[0]
        sample = reorder_hands(sample, [k] + [i for i in range(len(sample.hands)) if i != k])
        b = boxes[k]
        center = (b[:2] + b[2:]) / 2
        side = max(float(np.max(b[2:] - b[:2])) * config.box_scale, config.min_side)
    else:
        center = np.array(sample.size, dtype=np.float64) / 2
        side = float(min(sample.size))
    side *= rng.uniform(1 - config.scale_jitter, 1 + config.scale_jitter)
    center = center + rng.uniform(-config.shift_jitter, config.shift_jitter, 2) * side
    rotation = math.radians(rng.uniform(-config.rotation_deg, config.rotation_deg))
    flip = bool(rng.random() < config.flip_prob)
    A = crop_matrix(center, side, config.size, rotation)
    return warp_sample(sample, A, (config.size, config.size), flip)


GREY = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma weights


def colour_jitter(image: np.ndarray, config: PhotometricConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, white-balance, contrast and saturation gains on a uint8 RGB image.

    With per-channel gains G, contrast c about the mean grey m of G x and saturation s about each pixel's
    grey (S = s I + (1 - s) 1 w^T, which keeps greys), the result c S G x + (1 - c) m is one affine colour
    map, applied in a single pass (saturating to 0..255)."""
    gain = rng.uniform(1 - config.brightness, 1 + config.brightness)
    G = np.diag(gain * rng.uniform(1 - config.colour, 1 + config.colour, 3))
    c = rng.uniform(1 - config.contrast, 1 + config.contrast)
    s = rng.uniform(1 - config.saturation, 1 + config.saturation)
    S = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), GREY)
    m = float(np.mean(G @ np.asarray(cv2.mean(image)[:3])))
    M = np.concatenate([c * S @ G, np.full((3, 1), (1 - c) * m)], 1)
    return cv2.transform(image, M)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation `sigma` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def add_occluders(sample: Sample, config: PhotometricConfig, rng: np.random.Generator) -> Sample:
    """Paint 1..max_occluders flat shapes (outlines of the synthetic engine's occluders) over the image, filled
    with a flat colour or a patch of the image itself, near the first hand; covered pixels leave the mask.
    The 2D / 3D labels stay (they are positions, known behind an occluder too)."""
    from handrecon.synth.occluders import SHAPES, outline

    image = sample.image.copy()
    mask = None if sample.mask is None else sample.mask.copy()
    W, H = sample.size
    box = hand_box(sample.hands[0], sample.K) if sample.hands else None
    for _ in range(int(rng.integers(1, config.max_occluders + 1))):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        r = outline(rng, shape)
        size = min(W, H) * rng.uniform(*config.occluder_size) / 2
        if shape == "bar":
            sx, sy = size * rng.uniform(1.5, 3.0), size * rng.uniform(0.1, 0.3)
        else:
            sx, sy = size, size * rng.uniform(0.5, 1.0)
        c = rng.uniform(box[:2], box[2:]) if box is not None else rng.uniform([0, 0], [W, H])
        a = np.arange(r.size) * (2 * math.pi / r.size)
        rot = rng.uniform(0, math.pi)
        x, y = r * np.cos(a) * sx, r * np.sin(a) * sy
        cr, sr = math.cos(rot), math.sin(rot)
        pts = np.stack([c[0] + x * cr - y * sr, c[1] + x * sr + y * cr], 1)
        cover = np.zeros((H, W), np.uint8)
        cv2.fillPoly(cover, [np.round(pts - 0.5).astype(np.int32)], 1)
        covered = cover.astype(bool)
        if rng.random() < 0.5:
            image[covered] = rng.integers(0, 256, 3, dtype=np.uint8)
        else:  # texture: the same image, shifted
            dx, dy = (int(v) for v in rng.integers(-W // 2, W // 2 + 1, 2))
            image[covered] = np.roll(sample.image, (dy, dx), (0, 1))[covered]
        if mask is not None:
            mask[covered] = 0
    return replace(sample, image=image, mask=mask)


def photometric(sample: Sample, config: PhotometricConfig, rng: np.random.Generator) -> Sample:
    """Occluders, colour jitter and blur (in that order: the occluders get the same colour and blur)."""
    if config.occluder_prob > 0 and rng.random() < config.occluder_prob:
        sample = add_occluders(sample, config, rng)
    image = sample.image
    if config.brightness or config.contrast or config.saturation or config.colour:
        image = colour_jitter(image, config, rng)
    if config.blur_prob > 0 and rng.random() < config.blur_prob:
        image = blur(image, rng.uniform(*config.blur_sigma))
    return replace(sample, image=image)


class Augmenter:
    """`AugmentConfig` as a callable (sample, rng) -> sample: crop (with its jitter and flip), then the
    photometric changes."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.config.crop is not None:
            sample = random_crop(sample, self.config.crop, rng)
        return photometric(sample, self.config.photometric, rng)


def sample_rng(seed: int, epoch: int, key: int | str) -> np.random.Generator:
    """The generator of one sample's augmentation: a function of (seed, epoch, key) only. String keys (shard
    keys) are hashed with CRC-32 (stable across processes, unlike Python's `hash`)."""
    k = key if isinstance(key, int) else zlib.crc32(key.encode("utf-8"))
    return np.random.default_rng([int(seed), int(epoch), int(k)])


class AugmentedDataset(torch.utils.data.Dataset):
    """A map-style dataset of `Sample`s, augmented: item i uses `sample_rng(seed, epoch, i)`, so it is the same
    in any worker; `set_epoch` changes the draws between epochs."""

    def __init__(self, dataset, augment: Augmenter | AugmentConfig | None = None, seed: int = 0) -> None:
        self.dataset = dataset
        self.augment = augment if isinstance(augment, Augmenter) else Augmenter(augment)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Sample:
        return self.augment(self.dataset[i], sample_rng(self.seed, self.epoch, i))
