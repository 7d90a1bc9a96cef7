"""The exceptions sideman raises.

One root, a small tree; what is worth a retry stands apart from what is not::

    SidemanError
    ├── InvalidInput          the caller sent something we cannot use (4xx, task `failed`)
    │   ├── UnreadableAudio   not audio, or a container no decoder opens
    │   ├── SilentAudio       below the silence threshold (carries the measured dBFS)
    │   ├── TooShort          shorter than the minimum (carries the measured seconds)
    │   ├── TooLong           longer than the maximum (carries the measured seconds)
    │   └── InvalidField      a request field out of range (carries the name and value)
    ├── Unsupported           a valid request for something this build cannot do
    ├── FetchError            a remote input could not be fetched (refused address, size cap)
    ├── InsufficientStorage   the server's disk is (nearly) full, or a key's quota is used up
    └── Transient             worth a retry: a timeout, a busy resource

Every message says what was measured and what is allowed, so it can go straight
into an API `error_message`.
"""

from __future__ import annotations


class SidemanError(Exception):
    """Root of every error sideman raises on purpose."""

    #: the API `error.type` for this family
    error_type = "server_error"
    #: the HTTP status the API answers with
    http_status = 500


class InvalidInput(SidemanError):
    """The caller sent something we cannot use."""

    error_type = "invalid_request_error"
    http_status = 422


class UnreadableAudio(InvalidInput):
    """The bytes are not audio any decoder can open."""

    http_status = 415


class SilentAudio(InvalidInput):
    """The recording is quieter than the silence threshold."""

    def __init__(self, *, level_dbfs: float, threshold_dbfs: float) -> None:
        self.level_dbfs = level_dbfs
        self.threshold_dbfs = threshold_dbfs
        super().__init__(
            f"the audio is silent: its level is {level_dbfs:.1f} dBFS, "
            f"below the {threshold_dbfs:.0f} dBFS threshold"
        )


class TooShort(InvalidInput):
    """The recording is shorter than the minimum duration."""

    def __init__(self, *, duration_seconds: float, minimum_seconds: float) -> None:
        self.duration_seconds = duration_seconds
        self.minimum_seconds = minimum_seconds
        super().__init__(
            f"the audio is {duration_seconds:.2f} s long; at least {minimum_seconds:g} s is needed"
        )


class TooLong(InvalidInput):
    """The recording is longer than the maximum duration."""

    http_status = 413

    def __init__(self, *, duration_seconds: float, maximum_seconds: float) -> None:
        self.duration_seconds = duration_seconds
        self.maximum_seconds = maximum_seconds
        super().__init__(
            f"the audio is {duration_seconds:.1f} s long; at most {maximum_seconds:g} s is accepted"
        )


class InvalidField(InvalidInput):
    """A request field is out of range or malformed."""

    def __init__(self, message: str, *, param: str, value: object = None) -> None:
        self.param = param
        self.value = value
        super().__init__(message)


class Unsupported(SidemanError):
    """A valid request for something this build cannot do."""

    error_type = "invalid_request_error"
    http_status = 422


class FetchError(SidemanError):
    """A remote input could not be fetched."""

    error_type = "invalid_request_error"
    http_status = 422


class InsufficientStorage(SidemanError):
    """No room to store more: the data folder's free space is under the threshold
    (settings.min_free_disk_bytes), the disk filled up mid-write, or a key's quota
    (settings.key_storage_quota_bytes) is used up. HTTP 507, as RFC 4918 names it."""

    error_type = "server_error"
    http_status = 507


class Transient(SidemanError):
    """A failure worth retrying: a timeout, a busy resource."""

    http_status = 503
