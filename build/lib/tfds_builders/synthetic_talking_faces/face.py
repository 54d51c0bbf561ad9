"""Procedural faces whose 68 iBUG landmarks are the drawing's own control points.

Every face is built in a head-local frame (units of the image side, origin at the face centre,
+y down) from an identity (shape and colours), a mouth state and an eye openness, then moved by a
head pose (translation, scale, in-plane rotation) and drawn with PIL on a supersampled canvas that
is box-filtered down, which gives antialiased edges. Landmarks are returned in output-pixel
coordinates (pixel centres at integers), the convention of dlib and the DiffDub release.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SKIN_TONES = np.array(
    [(255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 105), (161, 102, 75),
     (125, 80, 58), (92, 60, 44)], np.float64)
HAIR_COLOURS = np.array(
    [(25, 20, 18), (60, 40, 28), (105, 70, 40), (190, 150, 90), (150, 60, 30), (150, 150, 150),
     (40, 35, 45)], np.float64)
IRIS_COLOURS = np.array([(70, 45, 25), (40, 90, 150), (60, 110, 60), (110, 110, 120)], np.float64)
MOUTH_INTERIOR = np.array((32, 8, 12), np.float64)
TEETH = np.array((235, 230, 215), np.float64)
HAIR_STYLES = ("short", "long", "fringe", "buzz")
BACKGROUND_STYLES = ("gradient", "panels", "bokeh", "tiles")


@dataclasses.dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person look like themselves."""

    half_width: float
    chin_depth: float
    crown_height: float
    jaw_taper: float
    skin: tuple
    lips: tuple
    hair: tuple
    hair_style: str
    iris: tuple
    shirt: tuple
    eye_y: float
    eye_spacing: float
    eye_half_width: float
    eye_half_height: float
    brow_raise: float
    brow_thickness: float
    nose_tip_y: float
    nostril_half_width: float
    mouth_y: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float
    max_opening: float
    background_style: str
    background_colours: tuple

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Identity":
        def jitter(colour, amount):
            return tuple(np.clip(colour + rng.uniform(-amount, amount, 3), 0, 255))

        skin = np.asarray(jitter(SKIN_TONES[rng.integers(len(SKIN_TONES))], 10))
        lips = jitter(skin * np.array([0.82, 0.55, 0.6]) + np.array([28, 0, 8]), 8)
        hair = jitter(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 12)
        backgrounds = tuple(jitter(rng.uniform(30, 230, 3), 0) for _ in range(3))
        return cls(
            half_width=rng.uniform(0.17, 0.205),
            chin_depth=rng.uniform(0.25, 0.29),
            crown_height=rng.uniform(0.27, 0.32),
            jaw_taper=rng.uniform(0.0, 0.28),
            skin=tuple(skin),
            lips=lips,
            hair=hair,
            hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
            iris=jitter(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], 15),
            shirt=jitter(rng.uniform(20, 235, 3), 0),
            eye_y=rng.uniform(-0.06, -0.035),
            eye_spacing=rng.uniform(0.072, 0.088),
            eye_half_width=rng.uniform(0.033, 0.042),
            eye_half_height=rng.uniform(0.013, 0.019),
            brow_raise=rng.uniform(0.035, 0.05),
            brow_thickness=rng.uniform(0.008, 0.015),
            nose_tip_y=rng.uniform(0.06, 0.085),
            nostril_half_width=rng.uniform(0.028, 0.04),
            mouth_y=rng.uniform(0.145, 0.165),
            mouth_half_width=rng.uniform(0.052, 0.06),
            upper_lip=rng.uniform(0.01, 0.017),
            lower_lip=rng.uniform(0.013, 0.022),
            max_opening=rng.uniform(0.052, 0.062),
            background_style=BACKGROUND_STYLES[rng.integers(len(BACKGROUND_STYLES))],
            background_colours=backgrounds,
        )


@dataclasses.dataclass(frozen=True)
class HeadPose:
    """Similarity transform from head-local to image coordinates (units of the image side)."""

    x: float = 0.5
    y: float = 0.42
    scale: float = 1.35
    angle: float = 0.0  # radians, in-plane

    def apply(self, points: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        rotation = np.array([[c, -s], [s, c]])
        return points @ rotation.T * self.scale + np.array([self.x, self.y])


def mouth_points(identity: Identity, mouth: np.ndarray) -> np.ndarray:
    """Landmarks 48-67 (outer then inner lip contour) for a mouth state (open, width, round)."""
    openness, width, rounding = (float(v) for v in mouth)
    # Spread and rounding reshape the lips more than the opening between them, so the dark
    # interior's area follows openness (what the lip-sync metric measures) closely.
    half_width = identity.mouth_half_width * (0.94 + 0.12 * width - 0.16 * rounding)
    inner_half_width = identity.mouth_half_width * (0.8 - 0.08 * rounding)
    opening = identity.max_opening * openness
    top, bottom = -0.35 * opening, 0.65 * opening  # the jaw carries the lower lip
    pucker = 1.0 + 0.25 * rounding  # rounded lips protrude and look thicker
    up, lo = identity.upper_lip * pucker, identity.lower_lip * pucker
    inner_curve = 0.85 + 0.15 * rounding
    y0 = identity.mouth_y
    outer = [
        (-half_width, 0.0), (-0.6 * half_width, top - 0.9 * up), (-0.22 * half_width, top - up),
        (0.0, top - 0.8 * up), (0.22 * half_width, top - up), (0.6 * half_width, top - 0.9 * up),
        (half_width, 0.0), (0.6 * half_width, bottom + 0.85 * lo), (0.22 * half_width, bottom + lo),
        (0.0, bottom + lo), (-0.22 * half_width, bottom + lo), (-0.6 * half_width, bottom + 0.85 * lo),
    ]
    inner = [
        (-inner_half_width, 0.0), (-0.45 * inner_half_width, top * inner_curve), (0.0, top),
        (0.45 * inner_half_width, top * inner_curve), (inner_half_width, 0.0),
        (0.45 * inner_half_width, bottom * inner_curve), (0.0, bottom),
        (-0.45 * inner_half_width, bottom * inner_curve),
    ]
    return np.array(outer + inner) + np.array([0.0, y0])


def eye_points(identity: Identity, side: int, eye_openness: float) -> np.ndarray:
    """Six eye landmarks; side -1 is image-left (iBUG 36-41), +1 image-right (42-47)."""
    cx, cy = side * identity.eye_spacing, identity.eye_y
    w, h = identity.eye_half_width, identity.eye_half_height
    top = cy + 0.75 * h - 1.75 * h * eye_openness  # closed: the upper lid meets the lower one
    bottom = cy + 0.75 * h
    outer, inner = cx + side * w, cx - side * w
    near_outer, near_inner = cx + side * 0.35 * w, cx - side * 0.35 * w
    if side < 0:  # 36 outer, 37-38 top, 39 inner, 40-41 bottom
        pts = [(outer, cy), (near_outer, top), (near_inner, top), (inner, cy),
               (near_inner, bottom), (near_outer, bottom)]
    else:  # 42 inner, 43-44 top, 45 outer, 46-47 bottom
        pts = [(inner, cy), (near_inner, top), (near_outer, top), (outer, cy),
               (near_outer, bottom), (near_inner, bottom)]
    return np.array(pts)


def jaw_points(identity: Identity, jaw_drop: float, num: int = 17) -> np.ndarray:
    """Face contour from temple to temple through the chin; the chin drops as the mouth opens."""
    phi = np.linspace(-0.25, np.pi + 0.25, num)
    below = np.clip(np.sin(phi), 0, None)
    x = -identity.half_width * np.cos(phi) * (1.0 - identity.jaw_taper * below**2)
    y = identity.chin_depth * np.sin(phi) + jaw_drop * below**2
    return np.stack([x, y], -1)


def landmarks_local(identity: Identity, mouth: np.ndarray, eye_openness: float) -> np.ndarray:
    """All 68 iBUG landmarks in head-local coordinates."""
    jaw = jaw_points(identity, 0.35 * identity.max_opening * float(mouth[0]))
    brows = []
    for side in (-1, 1):
        xs = side * (identity.eye_spacing + np.linspace(1.35, -0.85, 5) * identity.eye_half_width)
        arch = np.sin(np.linspace(0.15, np.pi - 0.5, 5))
        ys = identity.eye_y - identity.eye_half_height - identity.brow_raise * (0.6 + 0.4 * arch)
        brow = np.stack([xs, ys], -1)
        brows.append(brow if side < 0 else brow[::-1])
    bridge_top = identity.eye_y
    nose = [(0.0, bridge_top + f * (identity.nose_tip_y - bridge_top)) for f in (0.0, 0.33, 0.66, 1.0)]
    base = identity.nose_tip_y + 0.018
    nw = identity.nostril_half_width
    nose += [(-nw, base - 0.006), (-0.5 * nw, base + 0.002), (0.0, base + 0.005),
             (0.5 * nw, base + 0.002), (nw, base - 0.006)]
    return np.concatenate([
        jaw, brows[0], brows[1], np.array(nose),
        eye_points(identity, -1, eye_openness), eye_points(identity, 1, eye_openness),
        mouth_points(identity, mouth),
    ]).astype(np.float64)


def _catmull_rom(points: np.ndarray, closed: bool, steps: int = 6) -> np.ndarray:
    """Smooth curve through points, so polygons of landmarks draw as rounded shapes."""
    pts = np.asarray(points, np.float64)
    n = len(pts)
    if closed:
        index = np.arange(n)[:, None] + np.arange(-1, 3)[None, :]
        controls = pts[index % n]  # (segments, 4, 2)
    else:
        index = np.arange(n - 1)[:, None] + np.arange(-1, 3)[None, :]
        controls = pts[np.clip(index, 0, n - 1)]
    t = np.linspace(0, 1, steps, endpoint=False)
    basis = 0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2,
                            -3 * t**3 + 4 * t**2 + t, t**3 - t**2], -1)  # (steps, 4)
    curve = np.einsum("sk,nkd->nsd", basis, controls).reshape(-1, 2)
    return curve if closed else np.concatenate([curve, pts[-1:]])


def _skull_outline(identity: Identity, jaw: np.ndarray, grow: float = 1.0) -> np.ndarray:
    phi = np.linspace(np.pi + 0.25, 2 * np.pi - 0.25, 15)[1:-1]
    crown = np.stack([-identity.half_width * grow * np.cos(phi),
                      identity.crown_height * grow * np.sin(phi)], -1)
    return np.concatenate([jaw, crown])


def _hair_shapes(identity: Identity) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(polygons drawn behind the face, polygons drawn over it) for the identity's hair style."""
    a, c = identity.half_width, identity.crown_height
    phi = np.linspace(np.pi - 0.1, 2 * np.pi + 0.1, 24)
    outer = np.stack([-a * 1.1 * np.cos(phi), c * 1.12 * np.sin(phi) + 0.01], -1)
    hairline_drop = 0.03 if identity.hair_style == "fringe" else 0.08
    hairline_y = identity.eye_y - identity.brow_raise - hairline_drop
    xs = np.linspace(-a * 1.02, a * 1.02, 12)  # left to right, closing the cap polygon
    hairline = np.stack([xs, hairline_y - 0.03 * (1 - (xs / a) ** 2)], -1)
    hairline[[0, -1], 1] = -0.02
    cap = np.concatenate([outer, hairline])
    if identity.hair_style == "long":
        return [np.concatenate([outer, [(-a * 1.3, 0.34), (a * 1.3, 0.34)]])], [cap]
    return [], [cap]


def make_background(identity: Identity, rng: np.random.Generator, side: int) -> np.ndarray:
    """A textured (side, side, 3) float background in the identity's style and colours."""
    c0, c1, c2 = (np.asarray(c, np.float64) for c in identity.background_colours)
    yy, xx = np.mgrid[0:side, 0:side] / side
    style = identity.background_style
    if style == "gradient":
        w = yy[..., None]
        img = c0 * (1 - w) + c1 * w
    elif style == "panels":
        period = rng.uniform(0.12, 0.3)
        w = (0.5 + 0.5 * np.sin(2 * np.pi * xx / period))[..., None] ** 3
        img = c0 * (1 - w) + c1 * w
    elif style == "bokeh":
        img = np.broadcast_to(c0, (side, side, 3)).copy()
        for _ in range(8):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.04, 0.14)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
            colour = c1 if rng.random() < 0.5 else c2
            img = img * (1 - 0.8 * blob) + colour * 0.8 * blob
    else:  # tiles
        n = rng.integers(4, 9)
        tile = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        img = c0 * (1 - 0.25 * tile) + c1 * 0.25 * tile
    texture = ndimage.zoom(rng.standard_normal((8, 8)), side / 8, order=3)[:side, :side, None]
    img = img * (1 + 0.05 * texture) + rng.normal(0, 3, (side, side, 1))
    return np.clip(img, 0, 255)


def _rgb(colour) -> tuple:
    return tuple(int(round(v)) for v in np.clip(colour, 0, 255))


def render(
    identity: Identity,
    background: np.ndarray,
    pose: HeadPose,
    mouth: np.ndarray,
    eye_openness: float,
    size: int,
    supersample: int = 4,
    light: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws one frame. Returns (uint8 image (size, size, 3), landmarks (68, 2) in output pixels).

    background is a float array of the supersampled side (size * supersample). light in [-1, 1]
    moves the key light left/right.
    """
    side = size * supersample
    local = landmarks_local(identity, mouth, eye_openness)
    to_px = lambda pts: pose.apply(np.asarray(pts)) * side  # noqa: E731
    body_pose = dataclasses.replace(pose, angle=0.0, x=0.5 + 0.5 * (pose.x - 0.5),
                                    y=HeadPose.y + 0.3 * (pose.y - HeadPose.y))
    body_px = lambda pts: body_pose.apply(np.asarray(pts)) * side  # noqa: E731
    poly = lambda pts: [tuple(p) for p in pts]  # noqa: E731

    canvas = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    a = identity.half_width
    skin = np.asarray(identity.skin)
    # Body: shoulders in the shirt colour, then the neck.
    draw.polygon(poly(body_px([(-0.5, 0.6), (-0.42, 0.42), (-0.1, 0.36), (0.1, 0.36),
                               (0.42, 0.42), (0.5, 0.6)])), fill=_rgb(identity.shirt))
    draw.polygon(poly(body_px([(-0.55 * a, 0.1), (0.55 * a, 0.1), (0.6 * a, 0.4), (-0.6 * a, 0.4)])),
                 fill=_rgb(skin * 0.78))
    behind, over = _hair_shapes(identity)
    hair = np.asarray(identity.hair)
    if identity.hair_style == "buzz":  # skin shows through a buzz cut
        hair = 0.55 * hair + 0.45 * skin
    for shape in behind:
        draw.polygon(poly(to_px(_catmull_rom(shape, closed=True, steps=3))), fill=_rgb(hair))
    for side_sign in (-1, 1):  # ears
        ear = to_px([(side_sign * a * 0.98, identity.eye_y + 0.05)])[0]
        rx, ry = 0.022 * side * pose.scale, 0.045 * side * pose.scale
        draw.ellipse([ear[0] - rx, ear[1] - ry, ear[0] + rx, ear[1] + ry], fill=_rgb(skin * 0.85))

    # Face with soft shading: a mask of the skull outline, lit from one side.
    jaw = local[:17]
    outline = to_px(_catmull_rom(_skull_outline(identity, jaw), closed=True, steps=3))
    face_mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(face_mask).polygon(poly(outline), fill=255)
    left, top = np.maximum(np.floor(outline.min(0)).astype(int), 0)
    right, bottom = np.minimum(np.ceil(outline.max(0)).astype(int) + 1, side)
    centre = pose.apply(np.array([[0.0, 0.0]]))[0] * side
    ys, xs = np.mgrid[top:bottom, left:right]
    dx = (xs - centre[0]) / (a * side * pose.scale)
    dy = (ys - centre[1]) / (identity.chin_depth * side * pose.scale)
    shade = np.clip(1.02 - 0.16 * (dx**2 + dy**2) + 0.08 * light * dx, 0.6, 1.1)[..., None]
    face = Image.fromarray(np.clip(skin * shade, 0, 255).astype(np.uint8))
    canvas.paste(face, (int(left), int(top)), face_mask.crop((left, top, right, bottom)))
    draw = ImageDraw.Draw(canvas)
    for shape in over:
        draw.polygon(poly(to_px(_catmull_rom(shape, closed=True, steps=3))), fill=_rgb(hair))

    px = to_px(local)
    unit = side * pose.scale
    brow_colour = _rgb(np.asarray(identity.hair) * 0.8)
    for brow in (px[17:22], px[22:27]):
        draw.line(poly(_catmull_rom(brow, closed=False)), fill=brow_colour,
                  width=max(1, int(identity.brow_thickness * unit)), joint="curve")
    for eye in (px[36:42], px[42:48]):
        contour = _catmull_rom(eye, closed=True)
        opening = np.linalg.norm(eye[1] - eye[5])
        if opening > 0.1 * identity.eye_half_height * unit:
            draw.polygon(poly(contour), fill=(245, 242, 235))
            centre_eye = eye.mean(0)
            r = 0.55 * identity.eye_half_height * unit * 1.3
            ry = min(r, 0.5 * opening)
            draw.ellipse([centre_eye[0] - r, centre_eye[1] - ry, centre_eye[0] + r,
                          centre_eye[1] + ry], fill=_rgb(identity.iris))
            pr, pry = 0.45 * r, 0.45 * ry
            draw.ellipse([centre_eye[0] - pr, centre_eye[1] - pry, centre_eye[0] + pr,
                          centre_eye[1] + pry], fill=(15, 12, 12))
        upper_lid = _catmull_rom(eye[[0, 1, 2, 3]], closed=False)
        draw.line(poly(upper_lid), fill=_rgb(skin * 0.35), width=max(1, int(0.006 * unit)))
    # Nose: a shaded bridge line and nostrils.
    draw.line(poly(_catmull_rom(px[[28, 29, 30]], closed=False)), fill=_rgb(skin * 0.82),
              width=max(1, int(0.006 * unit)))
    draw.line(poly(_catmull_rom(px[31:36], closed=False)), fill=_rgb(skin * 0.7),
              width=max(1, int(0.005 * unit)))
    for nostril in (px[32], px[34]):
        r = 0.007 * unit
        draw.ellipse([nostril[0] - r, nostril[1] - 1.6 * r, nostril[0] + r, nostril[1]],
                     fill=_rgb(skin * 0.45))
    # Mouth: lips, the dark interior, then the upper teeth inside it.
    draw.polygon(poly(_catmull_rom(px[48:60], closed=True)), fill=_rgb(identity.lips))
    inner = px[60:68]
    if np.linalg.norm(inner[2] - inner[6]) > 0.5:
        draw.polygon(poly(_catmull_rom(inner, closed=True)), fill=_rgb(MOUTH_INTERIOR))
        teeth_depth = 0.3 * (inner[6] - inner[2])
        upper = _catmull_rom(inner[[0, 1, 2, 3, 4]], closed=False, steps=4)
        middle = np.abs(np.arange(len(upper)) - (len(upper) - 1) / 2) < 0.35 * len(upper)
        teeth = np.concatenate([upper[middle], (upper[middle] + teeth_depth)[::-1]])
        draw.polygon(poly(teeth), fill=_rgb(TEETH))
    draw.line(poly(_catmull_rom(inner[[0, 1, 2, 3, 4]], closed=False)), fill=_rgb(np.asarray(identity.lips) * 0.6),
              width=max(1, int(0.004 * unit)))

    image = np.asarray(canvas.reduce(supersample))  # box filter: the antialiasing step
    landmarks = (px - (supersample - 1) / 2) / supersample
    return image, landmarks.astype(np.float32)
