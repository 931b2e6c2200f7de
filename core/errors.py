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


class ModalityError(InputError):
    """A DICOM whose Modality is not a projection radiograph (CT, MR, US, ...); the message names it."""


class PacsError(FractureDashError):
    """Talking to the PACS failed; the message says why (and quotes the server when it answered)."""


class PacsConfigError(PacsError):
    """The PACS connection is not configured, or configured in an unsafe way."""


class PacsUnreachableError(PacsError):
    """The PACS did not answer (down, wrong address, timeout)."""


class PacsAuthError(PacsError):
    """The PACS refused the credentials (HTTP 401/403)."""


class ResultBuildError(FractureDashError):
    """The DICOM result (SR or secondary capture) cannot be built from this source instance's header."""
