"""Procedural faces whose 68 iBUG landmarks are the drawing's own control points.

Every face is built in a head-local frame (units of the image side, origin at the face centre,
+y down) from an identity (shape and colours), a mouth state and an eye openness, then moved by a
head pose (translation, scale, in-plane rotation) and drawn with PIL on a supersampled canvas that
is box-filtered down, which gives antialiased edges. Landmarks are returned in output-pixel
coordinates (pixel centres at integers), the convention of dlib and the DiffDub release.
"""

from __future__ import annotations

import dataclasses
import functools

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


def _frozen(array: np.ndarray) -> np.ndarray:
    """Marks a cached array read-only, so no caller can change what later calls get."""
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=8)
def _jaw_grid(num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cos, sin, squared lower half of sin) of the contour's angles, the same for every face
    (render needs them every frame)."""
    phi = np.linspace(-0.25, np.pi + 0.25, num)
    below = np.clip(np.sin(phi), 0, None)
    return _frozen(np.cos(phi)), _frozen(np.sin(phi)), _frozen(below**2)


def jaw_points(identity: Identity, jaw_drop: float, num: int = 17) -> np.ndarray:
    """Face contour from temple to temple through the chin; the chin drops as the mouth opens."""
    cos, sin, below_sq = _jaw_grid(num)
    x = -identity.half_width * cos * (1.0 - identity.jaw_taper * below_sq)
    y = identity.chin_depth * sin + jaw_drop * below_sq
    return np.stack([x, y], -1)


def _brows_and_nose(identity: Identity) -> np.ndarray:
    """Landmarks 17-35 (brows, then nose), which only the identity moves."""
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
    return np.concatenate([brows[0], brows[1], np.array(nose)])


def landmarks_local(identity: Identity, mouth: np.ndarray, eye_openness: float) -> np.ndarray:
    """All 68 iBUG landmarks in head-local coordinates."""
    jaw = jaw_points(identity, 0.35 * identity.max_opening * float(mouth[0]))
    return np.concatenate([
        jaw, _identity_parts(identity).brows_and_nose,
        eye_points(identity, -1, eye_openness), eye_points(identity, 1, eye_openness),
        mouth_points(identity, mouth),
    ]).astype(np.float64)


@functools.lru_cache(maxsize=None)
def _spline_basis(steps: int) -> np.ndarray:
    """(steps, 4) Catmull-Rom weights of the four control points at each sub-step."""
    t = np.linspace(0, 1, steps, endpoint=False)
    return _frozen(0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2,
                                   -3 * t**3 + 4 * t**2 + t, t**3 - t**2], -1))


@functools.lru_cache(maxsize=None)
def _spline_controls(n: int, closed: bool) -> np.ndarray:
    """(segments, 4) indices of each segment's control points among n points."""
    segments = n if closed else n - 1
    index = np.arange(segments)[:, None] + np.arange(-1, 3)[None, :]
    return _frozen(index % n if closed else np.clip(index, 0, n - 1))


def _catmull_rom(points: np.ndarray, closed: bool, steps: int = 6) -> np.ndarray:
    """Smooth curve through points, so polygons of landmarks draw as rounded shapes.

    The basis and index tables are cached: they depend only on the sizes, and rebuilding them
    cost more than the curve itself at ~14 curves a frame.
    """
    pts = np.asarray(points, np.float64)
    controls = pts[_spline_controls(len(pts), closed)]  # (segments, 4, 2)
    curve = np.einsum("sk,nkd->nsd", _spline_basis(steps), controls).reshape(-1, 2)
    return curve if closed else np.concatenate([curve, pts[-1:]])


def _crown(identity: Identity) -> np.ndarray:
    """The top of the skull, which closes the jaw contour into the face outline."""
    phi = np.linspace(np.pi + 0.25, 2 * np.pi - 0.25, 15)[1:-1]
    return np.stack([-identity.half_width * np.cos(phi), identity.crown_height * np.sin(phi)], -1)


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


def _xy(points: np.ndarray) -> list[float]:
    """[x0, y0, x1, y1, ...] as Python floats, the coordinates PIL reads fastest (a list of
    tuples of numpy scalars took longer to build than the shapes took to draw)."""
    return points.ravel().tolist()


_SHOULDERS = _frozen(np.array([(-0.5, 0.6), (-0.42, 0.42), (-0.1, 0.36), (0.1, 0.36),
                               (0.42, 0.42), (0.5, 0.6)]))  # body-local


@dataclasses.dataclass(frozen=True)
class _IdentityParts:
    """What render draws the same way in every frame of an identity (head-local geometry and
    fill colours), worked out once per identity instead of once per frame."""

    brows_and_nose: np.ndarray  # landmarks 17-35
    crown: np.ndarray
    neck: np.ndarray  # body-local
    ears: tuple[np.ndarray, ...]  # one (1, 2) centre per side
    hair_behind: tuple[np.ndarray, ...]  # smoothed outlines
    hair_over: tuple[np.ndarray, ...]
    skin: np.ndarray
    colours: dict[str, tuple]


@functools.lru_cache(maxsize=16)
def _identity_parts(identity: Identity) -> _IdentityParts:
    """The identity's _IdentityParts, cached: render asks for them every frame."""
    a = identity.half_width
    skin = np.asarray(identity.skin)
    hair = np.asarray(identity.hair)
    if identity.hair_style == "buzz":  # skin shows through a buzz cut
        hair_fill = 0.55 * hair + 0.45 * skin
    else:
        hair_fill = hair

    def smooth(shapes):
        return tuple(_frozen(_catmull_rom(shape, closed=True, steps=3)) for shape in shapes)

    behind, over = _hair_shapes(identity)
    colours = {
        "shirt": identity.shirt, "neck": skin * 0.78, "hair": hair_fill, "ear": skin * 0.85,
        "brow": hair * 0.8, "iris": identity.iris, "lid": skin * 0.35, "bridge": skin * 0.82,
        "nostril_line": skin * 0.7, "nostril": skin * 0.45, "lips": identity.lips,
        "interior": MOUTH_INTERIOR, "teeth": TEETH, "lip_line": np.asarray(identity.lips) * 0.6,
    }
    return _IdentityParts(
        brows_and_nose=_frozen(_brows_and_nose(identity)),
        crown=_frozen(_crown(identity)),
        neck=_frozen(np.array([(-0.55 * a, 0.1), (0.55 * a, 0.1), (0.6 * a, 0.4),
                               (-0.6 * a, 0.4)])),
        ears=tuple(_frozen(np.array([(side_sign * a * 0.98, identity.eye_y + 0.05)]))
                   for side_sign in (-1, 1)),
        hair_behind=smooth(behind),
        hair_over=smooth(over),
        skin=_frozen(skin),
        colours={name: _rgb(colour) for name, colour in colours.items()},
    )


def background_image(background: np.ndarray) -> Image.Image:
    """make_background's array as the image render draws on; convert once when many frames share
    a background (converting it took a tenth of a 64 px frame's time, more at 256 px)."""
    return Image.fromarray(background.astype(np.uint8))


def render(
    identity: Identity,
    background: np.ndarray | Image.Image,
    pose: HeadPose,
    mouth: np.ndarray,
    eye_openness: float,
    size: int,
    supersample: int = 4,
    light: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws one frame. Returns (uint8 image (size, size, 3), landmarks (68, 2) in output pixels).

    background is a float array of the supersampled side (size * supersample), or the same passed
    through background_image (it is copied, not drawn on). light in [-1, 1] moves the key light
    left/right.
    """
    side = size * supersample
    parts = _identity_parts(identity)
    colours = parts.colours
    local = landmarks_local(identity, mouth, eye_openness)
    to_px = lambda pts: pose.apply(pts) * side  # noqa: E731
    body_pose = dataclasses.replace(pose, angle=0.0, x=0.5 + 0.5 * (pose.x - 0.5),
                                    y=HeadPose.y + 0.3 * (pose.y - HeadPose.y))
    body_px = lambda pts: body_pose.apply(pts) * side  # noqa: E731

    if isinstance(background, Image.Image):
        canvas = background.copy()
    else:
        canvas = background_image(background)
    draw = ImageDraw.Draw(canvas)
    a = identity.half_width
    # Body: shoulders in the shirt colour, then the neck.
    draw.polygon(_xy(body_px(_SHOULDERS)), fill=colours["shirt"])
    draw.polygon(_xy(body_px(parts.neck)), fill=colours["neck"])
    for shape in parts.hair_behind:
        draw.polygon(_xy(to_px(shape)), fill=colours["hair"])
    for ear_local in parts.ears:
        ear = to_px(ear_local)[0]
        rx, ry = 0.022 * side * pose.scale, 0.045 * side * pose.scale
        draw.ellipse([ear[0] - rx, ear[1] - ry, ear[0] + rx, ear[1] + ry], fill=colours["ear"])

    # Face with soft shading: a mask of the skull outline, lit from one side.
    jaw = local[:17]
    outline = to_px(_catmull_rom(np.concatenate([jaw, parts.crown]), closed=True, steps=3))
    face_mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(face_mask).polygon(_xy(outline), fill=255)
    left, top = np.maximum(np.floor(outline.min(0)).astype(int), 0)
    right, bottom = np.minimum(np.ceil(outline.max(0)).astype(int) + 1, side)
    centre = pose.apply(np.array([[0.0, 0.0]]))[0] * side
    # The shading is the costliest per-pixel step, so it is written for speed with the same
    # arithmetic as the plain formula: a row and a column of offsets broadcast to the box,
    # in-place steps, colour channels first (numpy broadcasts a trailing 3 slowly).
    dx = (np.arange(left, right) - centre[0]) / (a * side * pose.scale)
    dy = (np.arange(top, bottom) - centre[1])[:, None] / (identity.chin_depth * side * pose.scale)
    shade = np.add(dx**2, dy**2)  # then 1.02 - 0.16 * that + 0.08 * light * dx, clipped
    shade *= 0.16
    np.subtract(1.02, shade, out=shade)
    shade += 0.08 * light * dx
    np.clip(shade, 0.6, 1.1, out=shade)
    channels = parts.skin[:, None, None] * shade
    np.clip(channels, 0, 255, out=channels)
    face = Image.merge("RGB", [Image.fromarray(channel) for channel in channels.astype(np.uint8)])
    canvas.paste(face, (int(left), int(top)), face_mask.crop((left, top, right, bottom)))
    draw = ImageDraw.Draw(canvas)
    for shape in parts.hair_over:
        draw.polygon(_xy(to_px(shape)), fill=colours["hair"])

    px = to_px(local)
    unit = side * pose.scale
    for brow in (px[17:22], px[22:27]):
        draw.line(_xy(_catmull_rom(brow, closed=False)), fill=colours["brow"],
                  width=max(1, int(identity.brow_thickness * unit)), joint="curve")
    for eye in (px[36:42], px[42:48]):
        contour = _catmull_rom(eye, closed=True)
        opening = np.linalg.norm(eye[1] - eye[5])
        if opening > 0.1 * identity.eye_half_height * unit:
            draw.polygon(_xy(contour), fill=(245, 242, 235))
            centre_eye = eye.mean(0)
            r = 0.55 * identity.eye_half_height * unit * 1.3
            ry = min(r, 0.5 * opening)
            draw.ellipse([centre_eye[0] - r, centre_eye[1] - ry, centre_eye[0] + r,
                          centre_eye[1] + ry], fill=colours["iris"])
            pr, pry = 0.45 * r, 0.45 * ry
            draw.ellipse([centre_eye[0] - pr, centre_eye[1] - pry, centre_eye[0] + pr,
                          centre_eye[1] + pry], fill=(15, 12, 12))
        upper_lid = _catmull_rom(eye[[0, 1, 2, 3]], closed=False)
        draw.line(_xy(upper_lid), fill=colours["lid"], width=max(1, int(0.006 * unit)))
    # Nose: a shaded bridge line and nostrils.
    draw.line(_xy(_catmull_rom(px[[28, 29, 30]], closed=False)), fill=colours["bridge"],
              width=max(1, int(0.006 * unit)))
    draw.line(_xy(_catmull_rom(px[31:36], closed=False)), fill=colours["nostril_line"],
              width=max(1, int(0.005 * unit)))
    for nostril in (px[32], px[34]):
        r = 0.007 * unit
        draw.ellipse([nostril[0] - r, nostril[1] - 1.6 * r, nostril[0] + r, nostril[1]],
                     fill=colours["nostril"])
    # Mouth: lips, the dark interior, then the upper teeth inside it.
    draw.polygon(_xy(_catmull_rom(px[48:60], closed=True)), fill=colours["lips"])
    inner = px[60:68]
    if np.linalg.norm(inner[2] - inner[6]) > 0.5:
        draw.polygon(_xy(_catmull_rom(inner, closed=True)), fill=colours["interior"])
        teeth_depth = 0.3 * (inner[6] - inner[2])
        upper = _catmull_rom(inner[[0, 1, 2, 3, 4]], closed=False, steps=4)
        middle = np.abs(np.arange(len(upper)) - (len(upper) - 1) / 2) < 0.35 * len(upper)
        teeth = np.concatenate([upper[middle], (upper[middle] + teeth_depth)[::-1]])
        draw.polygon(_xy(teeth), fill=colours["teeth"])
    draw.line(_xy(_catmull_rom(inner[[0, 1, 2, 3, 4]], closed=False)), fill=colours["lip_line"],
              width=max(1, int(0.004 * unit)))

    image = np.asarray(canvas.reduce(supersample))  # box filter: the antialiasing step
    landmarks = (px - (supersample - 1) / 2) / supersample
    return image, landmarks.astype(np.float32)
