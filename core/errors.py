"""One family of exceptions whose messages a clinician can read."""
from __future__ import annotations


class FractureDashError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(FractureDashError, ValueError):
    """An uploaded file cannot be used; the message says why in plain words."""


class NotAnImageError(InputError):
    """The file is not an image at all (text, PDF, ZIP, empty, ...)."""


class CorruptImageError(InputError):
    """The file claims to be an image but cannot be decoded (truncated, broken)."""


class ImageTooLargeError(InputError):
    """The file or its pixel count is above the configured limit."""


class ImageTooSmallError(InputError):
    """The image is too small to hold a radiograph."""


class UnsupportedImageError(InputError):
    """A valid file of a kind this tool does not read (animation, multi-page, codec)."""


class DicomError(InputError):
    """A DICOM file that cannot be turned into an image."""


class OutOfScopeError(InputError):
    """The image does not look like a bone X-ray."""


class WeightsError(FractureDashError):
    """A weights file or model card is missing, damaged or does not match."""
