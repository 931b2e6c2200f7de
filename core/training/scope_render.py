"""Drawn negatives for the out-of-scope gate: pages, forms, app windows, charts, phone photos of
screens, synthetic patterns, and synthetic CT, MR and ultrasound slices (ellipse phantoms, an
axial trunk anatomy shown as CT or MR, sector and linear-probe ultrasound).

Every function takes a seeded `numpy.random.Generator` and returns a uint8 picture (H, W) or
(H, W, 3). Text uses the TrueType fonts matplotlib ships (a pinned requirement), so the same
pictures are drawn on every machine.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FIT_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
HELDOUT_FONTS = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf")
VOCABULARY = ("patient", "report", "clinic", "wrist", "pain", "radius", "ulna", "follow", "up", "imaging",
              "normal", "findings", "date", "invoice", "total", "amount", "due", "account", "name",
              "address", "phone", "email", "reference", "order", "item", "quantity", "price", "meeting",
              "agenda", "minutes", "summary", "results", "method", "table", "figure", "page", "settings",
              "profile", "search", "upload", "download", "help", "status", "ready", "cancel", "save", "open",
              "close", "the", "of", "and", "to", "in", "is", "for", "on", "with", "as", "by", "at", "from",
              "this", "that", "are", "was", "be", "or", "an")


@lru_cache(maxsize=64)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """One of matplotlib's bundled TrueType fonts at a pixel size."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise ValueError(f"font {name!r} is not among matplotlib's bundled fonts ({path.parent})")
    return ImageFont.truetype(str(path), size)


def words(rng: np.random.Generator, n: int) -> str:
    """`n` random words, sometimes capitalised or with a number."""
    out = [str(w) for w in rng.choice(VOCABULARY, n)]
    if rng.random() < 0.3:
        out.insert(int(rng.integers(0, n)), str(int(rng.integers(1, 99999))))
    return " ".join(out).capitalize()


def _line(draw: ImageDraw.ImageDraw, rng: np.random.Generator, f: ImageFont.FreeTypeFont, width: float) -> str:
    """A line of words that fits `width` pixels."""
    text = words(rng, 2)
    while draw.textlength(text + " word", font=f) < width:
        text += " " + str(rng.choice(VOCABULARY))
    return text


def letter(rng: np.random.Generator, fonts: Sequence[str] = FIT_FONTS) -> np.ndarray:
    """A page of text: title, paragraphs, sometimes a rule or a small table (light or dark mode)."""
    w = int(rng.uniform(500, 1000))
    h = int(w * rng.uniform(1.2, 1.5))
    dark = rng.random() < 0.2
    bg, fg = (int(rng.uniform(15, 45)), int(rng.uniform(200, 240))) if dark else \
        (int(rng.uniform(225, 256)), int(rng.uniform(0, 70)))
    im = Image.new("L", (w, h), bg)
    d = ImageDraw.Draw(im)
    size = int(rng.uniform(11, 22))
    body = font(str(rng.choice(fonts)), size)
    m = int(rng.uniform(0.05, 0.12) * w)
    d.text((m, m), words(rng, 3), font=font(str(rng.choice(fonts)), int(size * 1.7)), fill=fg)
    y = m + 3 * size
    while y < h - m - size:
        if rng.random() < 0.12:
            y = _table(d, rng, body, m, y, w - 2 * m, fg) if rng.random() < 0.3 else y + size
            continue
        d.text((m, y), _line(d, rng, body, w - 2 * m - size * rng.uniform(0, 8)), font=body, fill=fg)
        y += int(size * rng.uniform(1.25, 1.7))
    return np.asarray(im)


def _table(d: ImageDraw.ImageDraw, rng: np.random.Generator, f: ImageFont.FreeTypeFont, x: int, y: int,
           width: int, fg: int) -> int:
    """A ruled table of short cells; returns the y below it."""
    rows, cols = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    rh, cw = int(f.size * 1.8), width // cols
    for r in range(rows + 1):
        d.line([(x, y + r * rh), (x + cols * cw, y + r * rh)], fill=fg, width=1)
    for c in range(cols + 1):
        d.line([(x + c * cw, y), (x + c * cw, y + rows * rh)], fill=fg, width=1)
    for r in range(rows):
        for c in range(cols):
            d.text((x + c * cw + 4, y + r * rh + 3), words(rng, 1)[:12], font=f, fill=fg)
    return y + rows * rh + f.size


def form(rng: np.random.Generator, fonts: Sequence[str] = FIT_FONTS) -> np.ndarray:
    """A form: title, labelled boxes, check boxes and a signature line, on white or pale paper."""
    w = int(rng.uniform(500, 1000))
    h = int(w * rng.uniform(1.2, 1.5))
    bg, fg = int(rng.uniform(215, 256)), int(rng.uniform(0, 90))
    im = Image.new("L", (w, h), bg)
    d = ImageDraw.Draw(im)
    size = int(rng.uniform(11, 20))
    f = font(str(rng.choice(fonts)), size)
    m = int(rng.uniform(0.04, 0.1) * w)
    d.rectangle([0, 0, w, m + 2 * size], fill=int(rng.uniform(150, 230)))
    d.text((m, m // 2), words(rng, 3).upper(), font=font(str(rng.choice(fonts)), int(size * 1.5)), fill=fg)
    y = m + 4 * size
    while y < h - m - 3 * size:
        y = _form_row(d, rng, f, m, y, w - 2 * m, fg)
    d.line([(m, h - m), (m + w // 3, h - m)], fill=fg, width=1)
    d.text((m, h - m + 4), "Signature", font=f, fill=fg)
    return np.asarray(im)


def _form_row(d: ImageDraw.ImageDraw, rng: np.random.Generator, f: ImageFont.FreeTypeFont, x: int, y: int,
              width: int, fg: int) -> int:
    """One row of a form: 1–3 labelled fields, or a line of check boxes; returns the next y."""
    s = f.size
    if rng.random() < 0.25:
        for i in range(int(rng.integers(2, 6))):
            bx = x + i * width // 5
            d.rectangle([bx, y, bx + s, y + s], outline=fg, width=1)
            d.text((bx + int(1.5 * s), y), words(rng, 1)[:10], font=f, fill=fg)
        return y + 2 * s
    n = int(rng.integers(1, 4))
    for i in range(n):
        bx = x + i * width // n
        d.text((bx, y), words(rng, 2)[:18] + ":", font=f, fill=fg)
        d.rectangle([bx, y + int(1.3 * s), bx + width // n - s, y + int(2.8 * s)], outline=fg, width=1)
    return y + int(rng.uniform(3.4, 4.5) * s)


@dataclass(frozen=True)
class Theme:
    """Colours and font of one drawn application window."""

    dark: bool
    bg: tuple[int, int, int]
    fg: tuple[int, int, int]
    accent: tuple[int, int, int]
    font: ImageFont.FreeTypeFont


def _chrome(rng: np.random.Generator, fonts: Sequence[str]) -> tuple[Image.Image, Theme, tuple[int, int, int, int]]:
    """An empty application window (title bar, maybe a side bar with a menu) and its content box."""
    w, h = int(rng.uniform(700, 1600)), int(rng.uniform(450, 1000))
    dark = rng.random() < 0.45
    bg = tuple(int(v) for v in (rng.integers(10, 45, 3) if dark else rng.integers(225, 256, 3)))
    fg = (230, 230, 230) if dark else (int(rng.uniform(0, 60)),) * 3
    th = Theme(dark, bg, fg, tuple(int(v) for v in rng.integers(0, 256, 3)),
               font(str(rng.choice(fonts)), int(rng.uniform(11, 18))))
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    bar, side = int(rng.uniform(28, 60)), int(rng.uniform(0, 0.25) * w)
    d.rectangle([0, 0, w, bar], fill=th.accent if rng.random() < 0.5 else tuple(max(0, c - 20) for c in bg))
    d.text((12, bar // 3), words(rng, 3), font=th.font, fill=fg)
    if side:
        d.rectangle([0, bar, side, h], fill=tuple(min(255, c + 18) if dark else c - 15 for c in bg))
        for i in range(int(rng.integers(3, 12))):
            d.text((12, bar + 20 + i * 2 * th.font.size), words(rng, 2), font=th.font, fill=fg)
    return im, th, (side + 16, bar + 16, w - 16, h - 16)


def app_window(rng: np.random.Generator, pictures: Sequence[np.ndarray] = (),
               fonts: Sequence[str] = FIT_FONTS) -> np.ndarray:
    """A screenshot of an application: title bar, side bar, panels, buttons, text and maybe a picture."""
    im, th, box = _chrome(rng, fonts)
    _panels(ImageDraw.Draw(im), rng, th.font, box, th.fg, th.accent, th.dark)
    if len(pictures) and rng.random() < 0.5:
        _paste_picture(im, rng, pictures[int(rng.integers(0, len(pictures)))], box)
    return np.asarray(im)


def gallery(rng: np.random.Generator, pictures: Sequence[np.ndarray], fonts: Sequence[str] = FIT_FONTS) -> np.ndarray:
    """A screenshot of a viewer's gallery: a grid of 3–12 thumbnails with captions in an app window."""
    if not len(pictures):
        raise ValueError("a gallery needs pictures to show; none were given")
    im, th, (x0, y0, x1, y1) = _chrome(rng, fonts)
    d = ImageDraw.Draw(im)
    cols, rows = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    cols += cols * rows < 3
    cw, ch = (x1 - x0) // cols, (y1 - y0) // rows
    for r in range(rows):
        for c in range(cols):
            pic = Image.fromarray(pictures[int(rng.integers(0, len(pictures)))]).convert("RGB")
            pic.thumbnail((cw - 12, ch - 2 * th.font.size - 8))
            im.paste(pic, (x0 + c * cw + 4, y0 + r * ch + 4))
            d.text((x0 + c * cw + 4, y0 + r * ch + pic.height + 8), words(rng, 2)[:20], font=th.font, fill=th.fg)
    return np.asarray(im)


def viewer(rng: np.random.Generator, pictures: Sequence[np.ndarray], fonts: Sequence[str] = FIT_FONTS) -> np.ndarray:
    """A screenshot of an image viewer or results page: one radiograph shown large (45–90 % of the
    window's width) beside panels of text, as a screen capture of a PACS viewer or this dashboard holds."""
    if not len(pictures):
        raise ValueError("a viewer needs pictures to show; none were given")
    im, th, (x0, y0, x1, y1) = _chrome(rng, fonts)
    vw = int((x1 - x0) * rng.uniform(0.45, 0.9))
    vx = x0 if rng.random() < 0.5 else x1 - vw
    pic = Image.fromarray(pictures[int(rng.integers(0, len(pictures)))]).convert("RGB")
    pic.thumbnail((vw, y1 - y0 - 2 * th.font.size))
    px, py = vx + (vw - pic.width) // 2, y0
    im.paste(pic, (px, py))
    d = ImageDraw.Draw(im)
    d.text((vx, y0 + pic.height + 4), words(rng, 4), font=th.font, fill=th.fg)
    rest = (x0, y0, vx - 16, y1) if vx > x0 else (x0 + vw + 16, y0, x1, y1)
    _panels(d, rng, th.font, rest, th.fg, th.accent, th.dark)
    if rng.random() < 0.6:  # a capture of the viewport: the picture with some of the window around it
        im = im.crop((int(rng.uniform(0, px)), int(rng.uniform(0, py)), int(rng.uniform(px + pic.width, im.width)),
                      int(rng.uniform(py + pic.height, im.height))))
    return np.asarray(im)


def _panels(d: ImageDraw.ImageDraw, rng: np.random.Generator, f: ImageFont.FreeTypeFont,
            box: tuple[int, int, int, int], fg: tuple, accent: tuple, dark: bool) -> None:
    """Cards with a heading, text lines and a button inside `box`."""
    x0, y0, x1, y1 = box
    y = y0
    while y < y1 - 4 * f.size and x1 - x0 > 100:
        ph = int(rng.uniform(4, 12) * f.size)
        shade = tuple(int(v) for v in (rng.integers(30, 70, 3) if dark else rng.integers(235, 256, 3)))
        d.rounded_rectangle([x0, y, x1, min(y1, y + ph)], radius=6, fill=shade)
        d.text((x0 + 10, y + 8), words(rng, 3), font=f, fill=fg)
        for k in range(1, max(1, ph // (2 * f.size) - 1)):
            d.text((x0 + 10, y + 8 + k * int(1.6 * f.size)), _line(d, rng, f, (x1 - x0) * rng.uniform(0.3, 0.9)),
                   font=f, fill=fg)
        if rng.random() < 0.5:
            bx = x1 - int(rng.uniform(80, 180))
            d.rounded_rectangle([bx, y + 6, x1 - 10, y + 6 + 2 * f.size], radius=5, fill=accent)
            d.text((bx + 8, y + 8), words(rng, 1)[:10], font=f, fill=(255, 255, 255))
        y += ph + int(rng.uniform(8, 24))


def _paste_picture(im: Image.Image, rng: np.random.Generator, picture: np.ndarray,
                   area: tuple[int, int, int, int]) -> None:
    """Paste a picture covering at most ~30 % of the window (a thumbnail in a page or an app)."""
    x0, y0, x1, y1 = area
    side = int(min(x1 - x0, y1 - y0) * rng.uniform(0.25, 0.55))
    pic = Image.fromarray(picture).convert("RGB")
    pic.thumbnail((side, side))
    x = int(rng.uniform(x0, max(x0 + 1, x1 - pic.width)))
    y = int(rng.uniform(y0, max(y0 + 1, y1 - pic.height)))
    im.paste(pic, (x, y))


def chart(rng: np.random.Generator) -> np.ndarray:
    """A matplotlib chart (line, bar, scatter, histogram or heat map), light or dark style."""
    from matplotlib import style as mpl_style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mpl_style.context("dark_background" if rng.random() < 0.35 else "default"):
        fig = Figure(figsize=(rng.uniform(4, 9), rng.uniform(3, 6)), dpi=int(rng.uniform(70, 130)))
        FigureCanvasAgg(fig)
        n = 1 if rng.random() < 0.7 else 2
        for k in range(n):
            _plot(fig.add_subplot(1, n, k + 1), rng)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _plot(ax: object, rng: np.random.Generator) -> None:
    """One random plot with a title and axis labels."""
    kind = int(rng.integers(0, 5))
    x = np.arange(int(rng.integers(8, 60)))
    if kind == 0:
        for _ in range(int(rng.integers(1, 5))):
            ax.plot(x, np.cumsum(rng.normal(0, 1, len(x))))
    elif kind == 1:
        ax.bar(x[:12], rng.uniform(0, 10, len(x[:12])))
    elif kind == 2:
        ax.scatter(rng.normal(0, 1, 200), rng.normal(0, 1, 200), s=8)
    elif kind == 3:
        ax.hist(rng.normal(0, 1, 500), bins=int(rng.integers(10, 40)))
    else:
        ax.imshow(rng.random((8, 8)), cmap=str(rng.choice(["viridis", "Blues", "gray", "magma"])))
    ax.set_title(words(rng, 3))
    ax.set_xlabel(words(rng, 1))


def screen_photo(content: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of a screen or page: bezel, moiré, perspective, glare, blur, noise and JPEG."""
    rgb = content if content.ndim == 3 else np.repeat(content[:, :, None], 3, 2)
    s = rng.uniform(450, 900) / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (max(8, int(rgb.shape[1] * s)), max(8, int(rgb.shape[0] * s))), interpolation=cv2.INTER_AREA)
    pad = int(rng.uniform(0.02, 0.08) * max(rgb.shape[:2]))
    screen = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=[int(rng.uniform(5, 50))] * 3)
    screen = _moire(screen.astype(np.float32), rng)
    out = _perspective(screen, rng)
    out = _glare(out, rng)
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.6))
    out = np.clip(out + rng.normal(0, rng.uniform(1, 6), out.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.uniform(55, 92))])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out


def _moire(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply by the beat of two slightly different fine gratings (screen pixels vs camera sensor)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    p1 = rng.uniform(2.2, 6.0)
    p2 = p1 * rng.uniform(1.03, 1.25)
    u = xx * np.cos(a) + yy * np.sin(a)
    beat = 1 + rng.uniform(0.04, 0.18) * np.sin(2 * np.pi * u / p1) * np.sin(2 * np.pi * u / p2)
    return img * beat[:, :, None] * rng.uniform(0.7, 1.1)


def _perspective(screen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Warp the screen onto a larger background (desk or wall) seen at an angle."""
    h, w = screen.shape[:2]
    cw, ch = int(w * rng.uniform(1.05, 1.5)), int(h * rng.uniform(1.05, 1.5))
    base = rng.uniform(40, 200, 3).astype(np.float32)
    grad = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.3), ch, dtype=np.float32)[:, None, None]
    canvas = np.clip(base[None, None, :] * grad * np.ones((ch, cw, 1), np.float32), 0, 255)
    j = 0.12 * min(cw, ch)
    x0, y0 = (cw - w) / 2, (ch - h) / 2
    dst = np.float32([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]]) + rng.uniform(-j, j, (4, 2))
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), dst.astype(np.float32))
    warped = cv2.warpPerspective(screen, m, (cw, ch))
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), m, (cw, ch))[:, :, None]
    return warped * mask + canvas * (1 - mask)


def _glare(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft bright reflection somewhere on the picture."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    sy, sx = rng.uniform(0.05, 0.3) * h, rng.uniform(0.05, 0.3) * w
    blob = np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)
    return np.clip(img + rng.uniform(20, 140) * blob[:, :, None], 0, 255)


def _canvas(rng: np.random.Generator, lo: int = 200, hi: int = 800) -> tuple[int, int]:
    return int(rng.uniform(lo, hi)), int(rng.uniform(lo, hi))


def gradient(rng: np.random.Generator) -> np.ndarray:
    """A linear or radial grey gradient."""
    h, w = _canvas(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        v = xx * np.cos(a) + yy * np.sin(a)
    else:
        v = np.hypot(yy - rng.uniform(0, h), xx - rng.uniform(0, w))
    return cv2.normalize(v, None, rng.uniform(0, 80), rng.uniform(170, 255), cv2.NORM_MINMAX).astype(np.uint8)


def stripes(rng: np.random.Generator) -> np.ndarray:
    """Sine or square-wave stripes at a random angle and period."""
    h, w = _canvas(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    s = np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / rng.uniform(3, 60))
    s = np.sign(s) if rng.random() < 0.5 else s
    return ((s + 1) * 127.5).astype(np.uint8)


def checker(rng: np.random.Generator) -> np.ndarray:
    """A checkerboard of two grey levels."""
    h, w = _canvas(rng)
    n = int(rng.uniform(6, 80))
    yy, xx = np.mgrid[0:h, 0:w]
    lo, hi = sorted(rng.uniform(0, 255, 2))
    return np.where(((yy // n) + (xx // n)) % 2 == 0, lo, hi).astype(np.uint8)


def noise(rng: np.random.Generator) -> np.ndarray:
    """Gaussian, uniform or salt-and-pepper noise, sometimes blurred."""
    h, w = _canvas(rng)
    kind = int(rng.integers(0, 3))
    if kind == 0:
        img = rng.normal(rng.uniform(60, 200), rng.uniform(8, 80), (h, w))
    elif kind == 1:
        img = rng.uniform(0, 255, (h, w))
    else:
        img = np.where(rng.random((h, w)) < rng.uniform(0.02, 0.5), 255.0, rng.uniform(0, 120))
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def shapes(rng: np.random.Generator) -> np.ndarray:
    """Filled discs and rectangles of random grey levels on a plain ground."""
    h, w = _canvas(rng)
    img = np.full((h, w), rng.uniform(0, 255), np.float32)
    for _ in range(int(rng.integers(3, 20))):
        c = float(rng.uniform(0, 255))
        if rng.random() < 0.5:
            cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(5, 100)), c, -1)
        else:
            p = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            cv2.rectangle(img, p, (p[0] + int(rng.uniform(10, 200)), p[1] + int(rng.uniform(10, 200))), c, -1)
    return img.astype(np.uint8)


def fractal_noise(rng: np.random.Generator) -> np.ndarray:
    """Cloud-like 1/f noise: octaves of upsampled random grids."""
    h, w = _canvas(rng, 256, 800)
    img = np.zeros((h, w), np.float32)
    for k in range(1, 7):
        n = 2 ** k
        img += cv2.resize(rng.normal(0, 1, (n, n)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) / k
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def voronoi(rng: np.random.Generator) -> np.ndarray:
    """Cells of random grey around random seeds, with dark borders."""
    from scipy.spatial import cKDTree

    h, w = _canvas(rng, 256, 700)
    seeds = rng.uniform(0, 1, (int(rng.integers(8, 120)), 2)) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    _, idx = cKDTree(seeds).query(np.c_[yy.ravel(), xx.ravel()])
    img = rng.uniform(30, 255, len(seeds))[idx].reshape(h, w).astype(np.uint8)
    edges = cv2.Canny(img, 1, 2) > 0
    img[cv2.dilate(edges.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0] = 0
    return img


def line_art(rng: np.random.Generator) -> np.ndarray:
    """Lines, polylines and ellipse outlines on a white or black ground (a diagram or sketch)."""
    h, w = _canvas(rng, 256, 900)
    white = rng.random() < 0.7
    img = np.full((h, w), 255 if white else 0, np.uint8)
    ink = 0 if white else 255
    for _ in range(int(rng.integers(5, 40))):
        t = int(rng.integers(1, 4))
        if rng.random() < 0.6:
            pts = (rng.uniform(0, 1, (int(rng.integers(2, 6)), 2)) * (w, h)).astype(np.int32)
            cv2.polylines(img, [pts], bool(rng.random() < 0.3), ink, t, cv2.LINE_AA)
        else:
            centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            axes = (int(rng.uniform(5, w / 3)), int(rng.uniform(5, h / 3)))
            cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, ink, t, cv2.LINE_AA)
    return img


def synthetic_ct(rng: np.random.Generator) -> np.ndarray:
    """A CT-like axial slice: a random ellipse phantom (body, skull or vertebra, organs, lungs)
    projected and reconstructed by filtered back-projection, with noise and a display window."""
    from skimage.transform import iradon, radon

    n = 128
    ph = _phantom(rng, n)
    theta = np.linspace(0, 180, int(rng.integers(60, 120)), endpoint=False)
    sino = radon(ph, theta=theta, circle=True)
    sino += rng.normal(0, rng.uniform(0.05, 0.6), sino.shape)
    rec = iradon(sino, theta=theta, circle=True, filter_name="ramp")
    lo, hi = np.percentile(rec, [rng.uniform(0, 10), rng.uniform(93, 100)])
    img = np.clip((rec - lo) / max(hi - lo, 1e-6), 0, 1)
    side = int(rng.uniform(256, 640))
    return (cv2.resize(img.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255
            ).astype(np.uint8)


def synthetic_mr(rng: np.random.Generator) -> np.ndarray:
    """An MR-like slice: an ellipse phantom with random tissue contrasts, a smooth coil bias field,
    a bright fat rim and Rician noise, displayed through a random window."""
    n = 160
    ph = _phantom(rng, n)
    remap = rng.uniform(0, 1, 16)  # MR contrast is not CT's: every tissue value gets its own grey
    img = remap[np.clip((ph * 10).astype(int), 0, 15)] * (ph > 0)
    body = cv2.erode((ph > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    img = img + rng.uniform(0.4, 1.0) * ((ph > 0) & ~body.astype(bool))
    yy, xx = np.mgrid[0:n, 0:n] / n
    bias = 1 + rng.uniform(0.1, 0.5) * np.cos(rng.uniform(1, 4) * xx + rng.uniform(0, 6)) * np.cos(rng.uniform(1, 4) * yy)
    img = cv2.GaussianBlur((img * bias).astype(np.float32), (0, 0), rng.uniform(0.5, 1.5))
    sigma = rng.uniform(0.01, 0.08)
    img = np.hypot(img + rng.normal(0, sigma, img.shape), rng.normal(0, sigma, img.shape))
    lo, hi = np.percentile(img, [rng.uniform(0, 5), rng.uniform(95, 100)])
    side = int(rng.uniform(256, 640))
    out = cv2.resize(np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32), (side, side),
                     interpolation=cv2.INTER_CUBIC)
    return (out.clip(0, 1) * 255).astype(np.uint8)


def _phantom(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ellipses on an n×n grid inside the reconstruction circle."""
    yy, xx = (np.mgrid[0:n, 0:n] - n / 2) / (n / 2)
    img = np.zeros((n, n))

    def ellipse(cy: float, cx: float, ay: float, ax: float, v: float) -> None:
        img[((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1] = v

    head = rng.random() < 0.4
    ay, ax = (rng.uniform(0.6, 0.8), rng.uniform(0.5, 0.7)) if head else (rng.uniform(0.4, 0.6), rng.uniform(0.6, 0.85))
    ellipse(0, 0, ay, ax, 1.0 if head else 0.3)
    if head:
        ellipse(0, 0, ay * 0.92, ax * 0.9, 0.3)
    for _ in range(int(rng.integers(2, 9))):
        ellipse(rng.uniform(-0.4, 0.4) * ay, rng.uniform(-0.5, 0.5) * ax, rng.uniform(0.04, 0.25) * ay,
                rng.uniform(0.04, 0.25) * ax, rng.uniform(0.0, 0.6))
    if not head and rng.random() < 0.7:
        ellipse(0.55 * ay, 0, 0.15 * ay, 0.12 * ax, 1.0)
    return img


def synthetic_us(rng: np.random.Generator) -> np.ndarray:
    """An ultrasound-like sector scan: speckle over smooth tissue with bright layers and dark cysts,
    attenuated with depth, inside a fan on black, with a little annotation text."""
    h, w = int(rng.uniform(380, 620)), int(rng.uniform(480, 820))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tissue = cv2.GaussianBlur(rng.uniform(0.3, 1.0, (h, w)).astype(np.float32), (0, 0), rng.uniform(8, 30))
    tissue = cv2.normalize(tissue, None, 0.2, 1.0, cv2.NORM_MINMAX)
    for _ in range(int(rng.integers(1, 5))):
        y0 = rng.uniform(0.2, 0.9) * h
        band = np.exp(-((yy - y0 - rng.uniform(-0.1, 0.1) * xx) / rng.uniform(3, 12)) ** 2)
        tissue += rng.uniform(0.5, 1.5) * band
    for _ in range(int(rng.integers(0, 4))):
        cv2.ellipse(tissue, (int(rng.uniform(0, w)), int(rng.uniform(0.3, 1) * h)),
                    (int(rng.uniform(10, 60)), int(rng.uniform(8, 40))), 0, 0, 360, 0.05, -1)
    speckle = cv2.GaussianBlur(rng.rayleigh(1.0, (h, w)).astype(np.float32), (0, 0), sigmaX=1.6, sigmaY=0.7)
    apex_y = rng.uniform(-0.1, 0.08) * h
    r = np.hypot(yy - apex_y, xx - w / 2)
    ang = np.abs(np.arctan2(xx - w / 2, yy - apex_y))
    fan = (ang < np.deg2rad(rng.uniform(28, 45))) & (r > rng.uniform(0.02, 0.1) * h) & (r < rng.uniform(0.8, 0.97) * h)
    img = tissue * speckle * np.exp(-r / h * rng.uniform(0.3, 1.5)) * fan
    img = np.clip(img / max(np.percentile(img[fan], 99), 1e-6) * 255, 0, 255).astype(np.uint8)
    return _annotate(img, rng)


def _annotate(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scanner's small white annotation text in the corners."""
    im = Image.fromarray(gray)
    d = ImageDraw.Draw(im)
    f = font("DejaVuSans.ttf", int(rng.uniform(9, 14)))
    for x, y in ((4, 4), (gray.shape[1] - 120, 4), (4, gray.shape[0] - 20)):
        if rng.random() < 0.7:
            d.text((x, y), words(rng, 2)[:16], font=f, fill=int(rng.uniform(150, 255)))
    return np.asarray(im)


def _axial_anatomy(rng: np.random.Generator, n: int) -> np.ndarray:
    """Tissue labels of an axial trunk slice on an n×n grid: 0 air, 1 fat, 2 muscle, 3 organ, 4 bone,
    5 gas, 6 fluid, 7 table (an irregular body with a fat rim, a vertebra with canal and arch, ribs,
    organs, bowel gas and the scanner table beneath)."""
    lab = np.zeros((n, n), np.uint8)
    c, ay, ax = (n / 2, n * rng.uniform(0.45, 0.5)), n * rng.uniform(0.22, 0.34), n * rng.uniform(0.3, 0.46)
    body = np.array([[c[1] + ax * (1 + rng.uniform(-0.06, 0.06)) * np.cos(t),
                      c[0] + ay * (1 + rng.uniform(-0.06, 0.06)) * np.sin(t)]
                     for t in np.linspace(0, 2 * np.pi, 24, endpoint=False)], np.int32)
    cv2.fillPoly(lab, [body], 1)
    inner = cv2.erode(lab, np.ones((3, 3), np.uint8), iterations=max(1, int(n * rng.uniform(0.01, 0.04))))
    lab[inner > 0] = 2
    for _ in range(int(rng.integers(1, 5))):  # organs
        cv2.ellipse(lab, (int(c[1] + rng.uniform(-0.5, 0.5) * ax), int(c[0] + rng.uniform(-0.5, 0.2) * ay)),
                    (int(ax * rng.uniform(0.1, 0.35)), int(ay * rng.uniform(0.1, 0.35))), rng.uniform(0, 180), 0, 360, 3, -1)
    for _ in range(int(rng.integers(0, 6))):  # bowel gas and fluid
        cv2.circle(lab, (int(c[1] + rng.uniform(-0.6, 0.6) * ax), int(c[0] + rng.uniform(-0.6, 0.3) * ay)),
                   int(n * rng.uniform(0.01, 0.04)), int(rng.choice([5, 6])), -1)
    vy, vx, r = int(c[0] + 0.55 * ay), int(c[1]), max(2, int(ay * rng.uniform(0.12, 0.2)))
    cv2.circle(lab, (vx, vy), r, 4, -1)
    cv2.ellipse(lab, (vx, vy + int(1.6 * r)), (int(1.1 * r), int(0.9 * r)), 0, 200, 340, 4, max(1, r // 3))
    cv2.circle(lab, (vx, vy + int(1.5 * r)), max(1, int(0.5 * r)), 6, -1)
    for t in np.linspace(0.15, 0.85, int(rng.integers(0, 9))) * np.pi * 2:  # ribs
        cv2.circle(lab, (int(c[1] + 0.85 * ax * np.cos(t)), int(c[0] + 0.85 * ay * np.sin(t))), max(1, r // 3), 4, -1)
    cv2.ellipse(lab, (int(c[1]), int(c[0] + ay + n * 0.12)), (int(n * 0.45), int(n * 0.1)), 0, 200, 340, 7,
                max(1, n // 100))
    return lab


def synthetic_body_slice(rng: np.random.Generator) -> np.ndarray:
    """An axial trunk slice (see _axial_anatomy) shown as CT (bone or soft-tissue window) or MR (its own
    tissue greys, coil bias, Rician noise), at a scanner's small matrix and enlarged for display."""
    n = int(rng.choice([64, 128, 256, 512]))
    lab = _axial_anatomy(rng, n)
    ct = rng.random() < 0.5
    grey = (np.array([-1000, -100, 50, 40, 900, -900, 10, 300]) if ct else
            np.r_[0.0, rng.uniform(0.6, 1.0), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.7), rng.uniform(0.0, 0.3),
                  0.0, rng.uniform(0.1, 1.0), 0.0])
    img = grey[lab].astype(np.float32) + cv2.GaussianBlur(rng.normal(0, 1, (n, n)).astype(np.float32), (0, 0), 1) * (
        rng.uniform(5, 40) if ct else rng.uniform(0.01, 0.06))
    if ct:
        level, width = (rng.uniform(300, 600), rng.uniform(1500, 2500)) if rng.random() < 0.5 else (
            rng.uniform(20, 60), rng.uniform(300, 500))
        img = np.clip((img - level + width / 2) / width, 0, 1)
    else:
        yy, xx = np.mgrid[0:n, 0:n] / n
        img = np.abs(img * (1 + rng.uniform(0.1, 0.6) * np.cos(rng.uniform(1, 4) * xx + rng.uniform(0, 6)) * yy))
        img = np.clip(img / max(float(np.percentile(img, 99.5)), 1e-6), 0, 1)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.3, 1.0))
    side = int(rng.uniform(256, 768))
    interpolation = int(rng.choice([cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
    out = (cv2.resize(img, (side, side), interpolation=interpolation).clip(0, 1) * 255).astype(np.uint8)
    return _annotate(out, rng) if rng.random() < 0.5 else out


def synthetic_us_linear(rng: np.random.Generator) -> np.ndarray:
    """An ultrasound from a linear probe (a rectangle, not a fan) inside the scanner's dark screen, with a
    depth scale, annotation text and, a third of the time, a faint colour tint of the display."""
    h, w = int(rng.uniform(200, 420)), int(rng.uniform(200, 480))
    tissue = cv2.GaussianBlur(rng.uniform(0.2, 1.0, (h, w)).astype(np.float32), (0, 0), rng.uniform(6, 25))
    for _ in range(int(rng.integers(1, 5))):
        y0 = int(rng.uniform(0.05, 0.9) * h)
        cv2.line(tissue, (0, y0), (w, y0 + int(rng.uniform(-0.2, 0.2) * h)), float(rng.uniform(1.2, 2.0)),
                 int(rng.integers(2, 8)))
    for _ in range(int(rng.integers(0, 3))):
        cv2.ellipse(tissue, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), (int(rng.uniform(8, 50)), int(rng.uniform(6, 30))),
                    0, 0, 360, 0.03, -1)
    speckle = cv2.GaussianBlur(rng.rayleigh(1.0, (h, w)).astype(np.float32), (0, 0), sigmaX=1.4, sigmaY=0.6)
    img = tissue * speckle * np.exp(-np.arange(h)[:, None] / h * rng.uniform(0.3, 1.5))
    img = np.clip(img / max(float(np.percentile(img, 99)), 1e-6) * 255, 0, 255).astype(np.uint8)
    screen = np.zeros((h + int(rng.uniform(40, 160)), w + int(rng.uniform(60, 300))), np.uint8)
    y, x = int(rng.uniform(10, screen.shape[0] - h)), int(rng.uniform(10, screen.shape[1] - w))
    screen[y:y + h, x:x + w] = img
    for k in range(0, h, max(8, h // 10)):  # depth scale
        cv2.circle(screen, (max(2, x - 6), y + k), 1, 200, -1)
    out = _annotate(screen, rng)
    if rng.random() < 1 / 3:
        tint = np.array(rng.uniform(0.75, 1.0, 3), np.float32)
        out = (out[..., None].astype(np.float32) * tint).astype(np.uint8)
    return out
