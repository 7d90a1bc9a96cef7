"""Request bodies of the HTTP contract (shared API.md), validated where they enter.

Unknown keys are ignored (clients written for the upstream API send extras); known
keys are checked for type and range, and the error names the field
(``input.style_weight``). Types are strict (JSON's own types, no coercion): ``"0.5"`` or
``true`` is not a number, ``"7"`` or ``2.0`` not an integer, ``variations: true`` not a
count; an integer is accepted where a number is asked."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from sideman.errors import InvalidField

__all__ = ["Base64Upload", "RerenderBody", "RerenderInput", "SubmitBody", "SubmitInput", "SunoAddInstrumentalBody",
           "UrlUpload"]

SUBMIT_MODEL = "add-instrumental"
#: the override fields (sideman extensions) a task's `input` may carry, besides bpm and key
OVERRIDE_FIELDS = ("meter", "tap_times_seconds", "tuning_cents", "first_downbeat_seconds", "chords")
_CHART_DESCRIPTION = ("a chord chart: a lead sheet as in chords.txt ('| F | Bb | C7 | F |', bar 1 = where the "
                      "voice comes in) or a chords.json object")


def _two_decimals(value: float | None) -> float | None:
    if value is not None and abs(value * 100 - round(value * 100)) > 1e-6:
        raise ValueError(f"at most 2 decimals are allowed, got {value}")
    return value


def _check_key(value: str | None) -> str | None:
    """'E major', 'Eb minor', 'E♭ minor', 'F#m' -> the key's label ('Eb minor')."""
    if value is None:
        return None
    from sideman.overrides import parse_key_label

    try:
        return parse_key_label(value, param="key").label
    except InvalidField:
        raise ValueError(f"{value!r} is not a key (expected e.g. 'E major', 'F# minor' or 'Eb minor')") from None


def _check_override(name: str, value: object) -> object:
    """One of the singer's overrides (sideman.overrides), checked where it enters; the
    error says what is wrong and, for a chord chart, where (line, bar, column or row)."""
    if value is None:
        return None
    from sideman.overrides import parse_overrides

    try:
        checked = parse_overrides(**{name: value}, params={name: "@"})
    except InvalidField as error:
        raise ValueError(str(error).removeprefix("@: ").replace("@", "")) from None
    if name == "meter":
        return checked.meter
    if name == "tap_times_seconds":
        return list(checked.tap_times_seconds or ())
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


class SubmitInput(BaseModel):
    """`input` of POST /api/generate/submit."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    upload_url: str = Field(min_length=1, max_length=2048,
                            description="the vocal recording: an http(s) URL or a file_url from the upload endpoints")
    title: str = Field(min_length=1, max_length=100)
    tags: str = Field(max_length=1000, description="styles and instruments, comma separated")
    negative_tags: str = Field(max_length=1000, description="what to avoid; may be empty")
    model: Literal["V4_5PLUS", "V5"] = Field(
        default="V4_5PLUS", validation_alias=AliasChoices("model", "mv")
    )
    vocal_gender: Literal["m", "f"] | None = None
    style_weight: float | None = Field(default=None, ge=0, le=1)
    weirdness_constraint: float | None = Field(default=None, ge=0, le=1)
    audio_weight: float | None = Field(default=None, ge=0, le=1)
    # ext
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    variations: int = Field(default=2, ge=1, le=4)
    bpm: float | None = Field(default=None, description="the tempo, 30..300 counted beats per minute")
    key: str | None = Field(default=None, description="e.g. 'E major', 'F# minor', 'Eb minor'")
    meter: str | None = Field(default=None, description="2/4, 3/4, 4/4, 5/4, 6/4, 7/4, 6/8, 9/8 or 12/8")
    tap_times_seconds: list[float] | None = Field(default=None, description="beat times tapped along, in "
                                                  "seconds on the recording's clock (>= 4): the beat grid")
    tuning_cents: float | None = Field(default=None, description="the voice's offset from A440, -50..50 cents")
    first_downbeat_seconds: float | None = Field(default=None, description="a bar line at this time; with bpm, "
                                                 "a metronomic grid from here (a take recorded to a click)")
    chords: str | dict | list | None = Field(default=None, description=_CHART_DESCRIPTION)

    @field_validator("style_weight", "weirdness_constraint", "audio_weight")
    @classmethod
    def _weights(cls, value: float | None) -> float | None:
        return _two_decimals(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _check_key(value)

    @field_validator("bpm")
    @classmethod
    def _bpm(cls, value: float | None) -> float | None:
        return _check_override("tempo_bpm", value)  # type: ignore[return-value]

    @field_validator(*OVERRIDE_FIELDS)
    @classmethod
    def _overrides(cls, value: object, info) -> object:  # noqa: ANN001 - pydantic's ValidationInfo
        return _check_override(info.field_name, value)


class RerenderInput(SubmitInput):
    """`input` of POST /api/generate/rerender (sideman ext): every field optional; what
    is not given is the earlier task's (its overrides included: the new ones are laid
    over them)."""

    upload_url: str | None = None  # type: ignore[assignment]
    title: str | None = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]
    tags: str | None = Field(default=None, max_length=1000)  # type: ignore[assignment]
    negative_tags: str | None = Field(default=None, max_length=1000)  # type: ignore[assignment]
    model: Literal["V4_5PLUS", "V5"] | None = Field(  # type: ignore[assignment]
        default=None, validation_alias=AliasChoices("model", "mv"))
    variations: int | None = Field(default=None, ge=1, le=4)  # type: ignore[assignment]


class RerenderBody(BaseModel):
    """POST /api/generate/rerender (sideman ext): play a finished task again with
    corrections, from its stored analysis (nothing is listened to again)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    task_id: str = Field(min_length=1, max_length=64, description="a finished task of this key")
    callback_url: str | None = Field(default=None, max_length=2048)
    input: RerenderInput = Field(default_factory=RerenderInput)

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None


class SubmitBody(BaseModel):
    """POST /api/generate/submit."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(json_schema_extra={"enum": [SUBMIT_MODEL]},
                       description="must be 'add-instrumental' (anything else: 400)")
    callback_url: str | None = Field(default=None, max_length=2048)
    input: SubmitInput

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value != SUBMIT_MODEL:
            raise ValueError(f"unknown model {value!r}; this endpoint serves {SUBMIT_MODEL!r}")
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None


class Base64Upload(BaseModel):
    """POST /api/common/upload/base64: raw base64 or a data: URL."""

    model_config = ConfigDict(extra="ignore", strict=True)

    base64_data: str = Field(min_length=1)
    file_name: str | None = Field(default=None, max_length=255)


class UrlUpload(BaseModel):
    """POST /api/common/upload/url."""

    model_config = ConfigDict(extra="ignore", strict=True)

    file_url: str = Field(min_length=1, max_length=2048)
    file_name: str | None = Field(default=None, max_length=255)


class SunoAddInstrumentalBody(BaseModel):
    """POST /api/v1/generate/add-instrumental (the Suno-style shape, camelCase)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    uploadUrl: str = Field(min_length=1, max_length=2048,
                           description="the vocal recording: an http(s) URL or a file_url")
    title: str = Field(min_length=1, max_length=100)
    tags: str = Field(max_length=1000)
    negativeTags: str = Field(default="", max_length=1000)
    callBackUrl: str | None = Field(default=None, max_length=2048)
    vocalGender: Literal["m", "f"] | None = None
    styleWeight: float | None = Field(default=None, ge=0, le=1)
    weirdnessConstraint: float | None = Field(default=None, ge=0, le=1)
    audioWeight: float | None = Field(default=None, ge=0, le=1)
    model: Literal["V4_5PLUS", "V5"] = "V4_5PLUS"
    # ext
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    variations: int = Field(default=2, ge=1, le=4)
    bpm: float | None = Field(default=None, description="the tempo, 30..300 counted beats per minute")
    key: str | None = Field(default=None, description="e.g. 'E major', 'F# minor', 'Eb minor'")
    meter: str | None = None
    tapTimesSeconds: list[float] | None = Field(default=None,
                                                validation_alias=AliasChoices("tapTimesSeconds", "tap_times_seconds"))
    tuningCents: float | None = Field(default=None, validation_alias=AliasChoices("tuningCents", "tuning_cents"))
    firstDownbeatSeconds: float | None = Field(
        default=None, validation_alias=AliasChoices("firstDownbeatSeconds", "first_downbeat_seconds"))
    chords: str | dict | list | None = Field(default=None, description=_CHART_DESCRIPTION)

    @field_validator("styleWeight", "weirdnessConstraint", "audioWeight")
    @classmethod
    def _weights(cls, value: float | None) -> float | None:
        return _two_decimals(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _check_key(value)

    @field_validator("bpm")
    @classmethod
    def _bpm(cls, value: float | None) -> float | None:
        return _check_override("tempo_bpm", value)  # type: ignore[return-value]

    @field_validator("meter", "chords")
    @classmethod
    def _overrides(cls, value: object, info) -> object:  # noqa: ANN001 - pydantic's ValidationInfo
        return _check_override(info.field_name, value)

    @field_validator("tapTimesSeconds", "tuningCents", "firstDownbeatSeconds")
    @classmethod
    def _camel_overrides(cls, value: object, info) -> object:  # noqa: ANN001
        name = {"tapTimesSeconds": "tap_times_seconds", "tuningCents": "tuning_cents",
                "firstDownbeatSeconds": "first_downbeat_seconds"}[info.field_name]
        return _check_override(name, value)

    @field_validator("callBackUrl")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None

    def to_input(self) -> dict:
        """The same `input` dict a vidgo submit stores."""
        return SubmitInput(
            upload_url=self.uploadUrl, title=self.title, tags=self.tags,
            negative_tags=self.negativeTags, model=self.model, vocal_gender=self.vocalGender,
            style_weight=self.styleWeight, weirdness_constraint=self.weirdnessConstraint,
            audio_weight=self.audioWeight, seed=self.seed, variations=self.variations,
            bpm=self.bpm, key=self.key, meter=self.meter, tap_times_seconds=self.tapTimesSeconds,
            tuning_cents=self.tuningCents, first_downbeat_seconds=self.firstDownbeatSeconds, chords=self.chords,
        ).model_dump()
