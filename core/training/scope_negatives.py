"""Images that are not bone radiographs, in named families with disjoint sources for fitting the
out-of-scope gate and for measuring it.

Learned families (core.serving.scope.FAMILIES): photo, document (pages, forms, app screenshots,
charts), screen_photo (a phone photo of a screen or a page), pattern (synthetic patterns, logos,
drawings) and modality (CT, MR, ultrasound, nuclear medicine). Two more families are refused by
rules and only measured: colour (colourised radiographs) and blank.

Every source is `fit` or `heldout` as a whole: no photo, font, file or generator of a held-out
source is seen while fitting. Sources come from installed, pinned packages (scikit-image,
matplotlib, scikit-learn and pydicom sample data; matplotlib's fonts), the repository's own
screenshots (docs/screenshots), or are drawn by core.training.scope_render.
"""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial

import cv2
import numpy as np

from core.data.shifts import SHIFTS, apply_shift
from core.settings import ROOT
from core.training import scope_render as draw

SPLITS = ("fit", "heldout")
RULE_FAMILIES = ("colour", "blank")
SHIFT_SHARE = 0.4
FIT_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "moon", "rocket", "hubble_deep_field",
              "grass", "brick", "gravel", "cell", "immunohistochemistry", "retina", "clock", "microaneurysms")
Draw = Callable[[np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Source:
    """Where one kind of negative comes from: its family, a name, fit or held out, and a drawer."""

    family: str
    name: str
    split: str
    draw: Draw


@dataclass(frozen=True)
class Negative:
    """One negative picture (uint8 gray or RGB) with its family and source."""

    family: str
    source: str
    pixels: np.ndarray


def _rescale(a: np.ndarray) -> np.ndarray:
    """Any array → uint8 by min–max (RGBA flattened onto white, 16-bit colour scaled)."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float64) / max(float(a[..., 3].max()), 1.0)
        a = a[..., :3] * alpha + (1 - alpha) * float(a[..., :3].max())
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    return (255 * (a - a.min()) / max(float(np.ptp(a)), 1e-9)).astype(np.uint8)


@cache
def skimage_picture(name: str) -> np.ndarray:
    """A scikit-image sample picture bundled with the package (no download)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    return _rescale(img[0] if isinstance(img, tuple) else img)


@cache
def matplotlib_picture(name: str) -> np.ndarray:
    """A picture from matplotlib's sample_data folder (s1045.ima.gz is a 256×256 16-bit MR slice)."""
    from matplotlib import cbook

    path = cbook.get_sample_data(name, asfileobj=False)
    if name.endswith(".ima.gz"):
        with gzip.open(path) as f:
            return np.frombuffer(f.read(), np.uint16).reshape(256, 256).astype(np.float64)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"matplotlib sample {name} cannot be read")
    return _rescale(cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA) if img.shape[2] == 4 else img[:, :, ::-1])


@cache
def sklearn_picture(name: str) -> np.ndarray:
    """One of scikit-learn's two bundled sample photos ('china.jpg', 'flower.jpg')."""
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


@cache
def dicom_frames(name: str) -> tuple[np.ndarray, ...]:
    """The frames of one pydicom test file as float arrays (colour and palette images made RGB)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    ds = pydicom.dcmread(get_testdata_file(name))
    arr = ds.pixel_array
    if str(ds.get("PhotometricInterpretation")) == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds) / 256.0
    elif arr.ndim == 2 or (arr.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) == 1):
        arr = apply_modality_lut(arr, ds)
    arr = np.asarray(arr, np.float64)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return tuple(arr) if frames > 1 else (arr,)


@cache
def app_screenshot(name: str) -> np.ndarray:
    """One of the repository's screenshots of the dashboard (docs/screenshots)."""
    img = cv2.imread(str(ROOT / "docs" / "screenshots" / name), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"screenshot {name} is missing from docs/screenshots")
    return img[:, :, ::-1]


def photo_variant(img: np.ndarray, rng: np.random.Generator, keep: tuple[float, float] = (0.35, 1.0)) -> np.ndarray:
    """A random crop, quarter turn, scale and (half the time) grayscale copy of a picture."""
    h, w = img.shape[:2]
    fy, fx = rng.uniform(*keep, 2)
    ch, cw = min(h, max(16, int(h * fy))), min(w, max(16, int(w * fx)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = np.ascontiguousarray(img[y:y + ch, x:x + cw])
    if rng.random() < 0.2:
        crop = np.ascontiguousarray(np.rot90(crop, int(rng.integers(1, 4))))
    s = rng.uniform(256, 1024) / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(32, round(crop.shape[1] * s)), max(32, round(crop.shape[0] * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    if crop.ndim == 3 and rng.random() < 0.5:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return crop


def slice_variant(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A display of a medical image: a random window (percentiles), gamma, crop, flip and scale."""
    if arr.ndim == 3:
        arr = arr.mean(2)
    lo, hi = np.percentile(arr, [rng.uniform(0, 15), rng.uniform(88, 100)])
    img = np.clip((arr - lo) / max(hi - lo, 1e-9), 0, 1) ** rng.uniform(0.7, 1.4)
    img = (img * 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.4:  # CT, MR and US come at small matrices (64–256) and are shown enlarged
        side = int(rng.integers(48, 160))
        s = side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, (max(16, round(img.shape[1] * s)), max(16, round(img.shape[0] * s))),
                             interpolation=cv2.INTER_AREA)
    return photo_variant(img, rng, keep=(0.6, 1.0))


def screenshot_crop(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A viewport-sized window of a long page screenshot (what a screen capture would hold)."""
    h, w = page.shape[:2]
    cw = int(w * rng.uniform(0.5, 1.0))
    ch = min(h, int(cw * rng.uniform(0.55, 0.85)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return photo_variant(page[y:y + ch, x:x + cw], rng, keep=(0.85, 1.0))


def _pick(rng: np.random.Generator, items: Sequence) -> object:
    return items[int(rng.integers(0, len(items)))]


def _from_pictures(load: Callable[[str], np.ndarray], names: Sequence[str]) -> Draw:
    return lambda rng: photo_variant(load(str(_pick(rng, names))), rng)


def _from_dicoms(names: Sequence[str]) -> Draw:
    return lambda rng: slice_variant(_pick(rng, dicom_frames(str(_pick(rng, names)))), rng)


def _screen_photo_of(drawers: Sequence[Draw]) -> Draw:
    return lambda rng: draw.screen_photo(_pick(rng, drawers)(rng), rng)


def _photo_sources() -> list[Source]:
    fit = [Source("photo", f"skimage:{n}", "fit", _from_pictures(skimage_picture, [n])) for n in FIT_PHOTOS]
    fit.append(Source("photo", "skimage:lfw_subset (faces)", "fit", faces))
    fit.append(Source("photo", "skimage:astronaut,camera (tight grayscale portrait crops, any turn)", "fit", portraits))
    held = [Source("photo", "sklearn:china,flower", "heldout",
                   _from_pictures(sklearn_picture, ["china.jpg", "flower.jpg"])),
            Source("photo", "matplotlib:grace_hopper", "heldout",
                   _from_pictures(matplotlib_picture, ["grace_hopper.jpg"])),
            Source("photo", "skimage:stereo_motorcycle", "heldout",
                   _from_pictures(skimage_picture, ["stereo_motorcycle"]))]
    return fit + held


def faces(rng: np.random.Generator) -> np.ndarray:
    """One face of scikit-image's 200 small face photos, or a grid of them (a contact sheet)."""
    import skimage.data

    lfw = _rescale(skimage.data.lfw_subset())
    n = int(rng.choice([1, 1, 2, 3, 4]))
    tiles = lfw[rng.choice(len(lfw), n * n, replace=False)]
    sheet = np.vstack([np.hstack(list(tiles[r * n:(r + 1) * n])) for r in range(n)])
    return photo_variant(sheet, rng, keep=(0.8, 1.0))


def portraits(rng: np.random.Generator) -> np.ndarray:
    """A tight grayscale crop of a portrait (scikit-image's astronaut or cameraman) at any quarter turn:
    radiographs arrive at every turn, so the people in photos do too."""
    crop = photo_variant(skimage_picture(str(_pick(rng, ("astronaut", "camera")))), rng, keep=(0.3, 0.7))
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(np.rot90(gray, int(rng.integers(0, 4))))


def _document_drawers(split: str, gallery: Sequence[np.ndarray] = ()) -> list[Draw]:
    """Drawers of documents and screenshots of one split (also the content of screen photos); fit
    windows show photos or `gallery` radiographs as thumbnails."""
    if split == "fit":
        pics = [skimage_picture(n) for n in ("astronaut", "camera", "coffee")] + list(gallery[:8])
        return [draw.letter, draw.form, partial(draw.app_window, pictures=pics), draw.chart,
                partial(draw.gallery, pictures=list(gallery)), partial(draw.viewer, pictures=list(gallery))]
    shots = ["1_diagnose.png", "2_compare.png", "3_explore.png", "4_diagnose_worklist.png"]
    return [partial(draw.letter, fonts=draw.HELDOUT_FONTS), partial(draw.form, fonts=draw.HELDOUT_FONTS),
            lambda rng: screenshot_crop(app_screenshot(str(_pick(rng, shots))), rng)]


def _document_sources(gallery: Sequence[np.ndarray]) -> list[Source]:
    fit = _document_drawers("fit", gallery)
    held = _document_drawers("heldout")
    return [Source("document", "drawn:letter", "fit", fit[0]), Source("document", "drawn:form", "fit", fit[1]),
            Source("document", "drawn:app window", "fit", fit[2]), Source("document", "matplotlib:chart", "fit", fit[3]),
            Source("document", "drawn:viewer gallery of radiograph thumbnails", "fit", fit[4]),
            Source("document", "drawn:viewer window showing one radiograph large", "fit", fit[5]),
            Source("document", "drawn:letter and form, unseen fonts (STIX, Computer Modern)", "heldout",
                   lambda rng: _pick(rng, held[:2])(rng)),
            Source("document", "skimage:page,text (photographed text)", "heldout",
                   _from_pictures(skimage_picture, ["page", "text"])),
            Source("document", "repository:docs/screenshots", "heldout", held[2])]


def _screen_photo_sources(gallery: Sequence[np.ndarray]) -> list[Source]:
    fit_photos = _from_pictures(skimage_picture, FIT_PHOTOS)
    held_photos = _from_pictures(sklearn_picture, ["china.jpg", "flower.jpg"])
    return [Source("screen_photo", "phone photo of a fit document, window, chart or photo", "fit",
                   _screen_photo_of([*_document_drawers("fit", gallery), fit_photos])),
            Source("screen_photo", "phone photo of a held-out document, screenshot or photo", "heldout",
                   _screen_photo_of([*_document_drawers("heldout"), held_photos]))]


def _pattern_sources() -> list[Source]:
    fit = [Source("pattern", f"drawn:{f.__name__}", "fit", f)
           for f in (draw.gradient, draw.stripes, draw.checker, draw.noise, draw.shapes)]
    fit += [Source("pattern", "skimage:logo,checkerboard,horse", "fit",
                   _from_pictures(skimage_picture, ["logo", "checkerboard", "horse"])),
            Source("pattern", "skimage:binary_blobs", "fit",
                   lambda rng: photo_variant(_binary_blobs(rng), rng, keep=(0.7, 1.0))),
            Source("pattern", "matplotlib:terrain (jacksboro_fault_dem, topobathy)", "fit", _terrain),
            Source("pattern", "pydicom:liver segmentation mask (liver_1frame)", "fit", _from_dicoms(["liver_1frame.dcm"]))]
    held = [Source("pattern", f"drawn:{f.__name__}", "heldout", f)
            for f in (draw.fractal_noise, draw.voronoi, draw.line_art)]
    held += [Source("pattern", "matplotlib:logo2,Minduka_Present_Blue_Pack", "heldout",
                    _from_pictures(matplotlib_picture, ["logo2.png", "Minduka_Present_Blue_Pack.png"])),
             Source("pattern", "pydicom:image_dfl (OT squares)", "heldout", _from_dicoms(["image_dfl.dcm"]))]
    return fit + held


def _terrain(rng: np.random.Generator) -> np.ndarray:
    """A grey elevation map from matplotlib's sample data, sometimes hill-shaded."""
    from matplotlib import cbook

    name, key = _pick(rng, [("jacksboro_fault_dem.npz", "elevation"), ("topobathy.npz", "topo")])
    z = np.asarray(cbook.get_sample_data(name)[key], np.float64)
    if rng.random() < 0.5:
        gy, gx = np.gradient(z)
        z = gx * np.cos(rng.uniform(0, 6.3)) + gy * np.sin(rng.uniform(0, 6.3))
    return slice_variant(z, rng)


def _binary_blobs(rng: np.random.Generator) -> np.ndarray:
    import skimage.data

    return skimage.data.binary_blobs(int(rng.choice([256, 512])), blob_size_fraction=float(rng.uniform(0.03, 0.2)),
                                     volume_fraction=float(rng.uniform(0.2, 0.6)),
                                     rng=int(rng.integers(0, 2**31))).astype(np.uint8) * 255


def _modality_sources() -> list[Source]:
    fit = [Source("modality", "pydicom:CT head (693_J2KI, J2K_pixelrep_mismatch)", "fit",
                  _from_dicoms(["693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"])),
           Source("modality", "pydicom:MR abdomen (examples_overlay)", "fit", _from_dicoms(["examples_overlay.dcm"])),
           Source("modality", "pydicom:US echo (examples_ybr_color, 30 frames)", "fit",
                  _from_dicoms(["examples_ybr_color.dcm"])),
           Source("modality", "pydicom:US lymph node with power Doppler and burned-in text (examples_jpeg2k)", "fit",
                  _from_dicoms(["examples_jpeg2k.dcm"])),
           Source("modality", "pydicom:NM bone scan (JPGExtended, JPEG2000)", "fit",
                  _from_dicoms(["JPGExtended.dcm", "JPEG2000.dcm"])),
           Source("modality", "matplotlib:MR head (s1045.ima)", "fit",
                  lambda rng: slice_variant(matplotlib_picture("s1045.ima.gz"), rng)),
           Source("modality", "skimage:shepp_logan_phantom", "fit", _from_pictures(skimage_picture, ["shepp_logan_phantom"])),
           Source("modality", "drawn:synthetic_ct", "fit", draw.synthetic_ct),
           Source("modality", "drawn:synthetic_us", "fit", draw.synthetic_us),
           Source("modality", "drawn:synthetic_mr", "fit", draw.synthetic_mr),
           Source("modality", "drawn:synthetic_body_slice (CT and MR trunk)", "fit", draw.synthetic_body_slice),
           Source("modality", "drawn:synthetic_us_linear", "fit", draw.synthetic_us_linear)]
    held = [Source("modality", "pydicom:CT spine (CT_small)", "heldout", _from_dicoms(["CT_small.dcm"])),
            Source("modality", "pydicom:MR (MR_small)", "heldout", _from_dicoms(["MR_small.dcm"])),
            Source("modality", "pydicom:US (examples_palette, examples_rgb_color)", "heldout",
                   _from_dicoms(["examples_palette.dcm", "examples_rgb_color.dcm"]))]
    return fit + held


def rule_sources(xrays: Sequence[np.ndarray]) -> list[Source]:
    """The rule-refused families (measured only): blank frames and colourised radiographs (drawn
    from `xrays`; drawing one without radiographs is a ValueError)."""
    return [Source("blank", "drawn:blank", "heldout", blank),
            Source("colour", "colourised radiographs", "heldout", partial(_colourised_from, xrays))]


def _colourised_from(xrays: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if not len(xrays):
        raise ValueError("the colourised family needs radiographs to colourise; none were given")
    return colourised(_pick(rng, xrays), rng)


def catalogue(xrays: Sequence[np.ndarray] = (), gallery: Sequence[np.ndarray] = ()) -> list[Source]:
    """Every source of negatives; `xrays` (test radiographs) feed the colourised family, `gallery`
    (train radiographs) the thumbnails of drawn windows and viewer galleries."""
    return (_photo_sources() + _document_sources(gallery) + _screen_photo_sources(gallery) + _pattern_sources()
            + _modality_sources() + rule_sources(xrays))


def blank(rng: np.random.Generator) -> np.ndarray:
    """An empty frame: one grey level with a little noise."""
    h, w = int(rng.uniform(200, 800)), int(rng.uniform(200, 800))
    return np.clip(rng.normal(rng.uniform(0, 255), rng.uniform(0, 1.5), (h, w)), 0, 255).astype(np.uint8)


def colourised(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A strongly coloured version of a radiograph (a false-colour map or a strong tint), as a heat-map
    screenshot might carry. Near-grey maps (e.g. 'bone') are left out: such a picture is still a
    radiograph once made grey, and the gate should let it through."""
    if rng.random() < 0.5:
        maps = [cv2.COLORMAP_JET, cv2.COLORMAP_HOT, cv2.COLORMAP_VIRIDIS, cv2.COLORMAP_TURBO]
        return cv2.applyColorMap(gray, maps[int(rng.integers(0, len(maps)))])[:, :, ::-1]
    tint = rng.permutation([1.0, rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.5)])
    return (np.repeat(gray[:, :, None], 3, 2) * tint).astype(np.uint8)


def maybe_shift(img: np.ndarray, rng: np.random.Generator, index: int, share: float = SHIFT_SHARE) -> np.ndarray:
    """With probability `share`, a random shift of the catalogue at a random level (grayscale)."""
    if rng.random() >= share:
        return img
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    name = str(_pick(rng, sorted(SHIFTS)))
    level = _pick(rng, SHIFTS[name].levels)
    return apply_shift(np.ascontiguousarray(gray), name, level, seed=int(rng.integers(0, 2**31)), index=index)


def plan(split: str, per_family: int, sources: Sequence[Source],
         families: Sequence[str] | None = None) -> list[tuple[Source, int]]:
    """(source, index) of `per_family` negatives per family of one split ('fit' or 'heldout'),
    spread evenly over the family's sources."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    chosen = [s for s in sources if s.split == split and (families is None or s.family in families)]
    out = []
    for fam in dict.fromkeys(s.family for s in chosen):
        srcs = [s for s in chosen if s.family == fam]
        out += [(srcs[i % len(srcs)], i) for i in range(per_family)]
    return out


def negative(source: Source, index: int, seed: int = 0) -> Negative:
    """One negative, reproducible from (seed, source, index); a share of them shifted like radiographs."""
    rng = np.random.default_rng([seed, zlib.crc32(source.name.encode()), index])
    img = source.draw(rng)
    return Negative(source.family, source.name, img if source.family in RULE_FAMILIES else maybe_shift(img, rng, index))


def negatives(split: str, per_family: int, seed: int = 0, xrays: Sequence[np.ndarray] = (),
              families: Sequence[str] | None = None) -> list[Negative]:
    """`per_family` negatives of each family from the sources of one split (see `plan`)."""
    return [negative(src, i, seed) for src, i in plan(split, per_family, catalogue(xrays), families)]
