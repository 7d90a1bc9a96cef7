"""Request bodies of the HTTP contract (shared API.md), validated where they enter.

Unknown keys are ignored (clients written for the upstream API send extras); known
keys are checked for type and range, and the error names the field
(``input.style_weight``)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

__all__ = ["Base64Upload", "SubmitBody", "SubmitInput", "SunoAddInstrumentalBody", "UrlUpload"]

SUBMIT_MODEL = "add-instrumental"
_KEY = re.compile(r"^[A-G][#b]? (major|minor)$")


def _two_decimals(value: float | None) -> float | None:
    if value is not None and abs(value * 100 - round(value * 100)) > 1e-6:
        raise ValueError(f"at most 2 decimals are allowed, got {value}")
    return value


def _check_key(value: str | None) -> str | None:
    if value is not None and not _KEY.match(value):
        raise ValueError(f"key must look like 'E major' or 'F# minor', got {value!r}")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


class SubmitInput(BaseModel):
    """`input` of POST /api/generate/submit."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

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
    bpm: float | None = Field(default=None, ge=30, le=300)
    key: str | None = Field(default=None, description="e.g. 'E major', 'F# minor'")

    @field_validator("style_weight", "weirdness_constraint", "audio_weight")
    @classmethod
    def _weights(cls, value: float | None) -> float | None:
        return _two_decimals(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _check_key(value)


class SubmitBody(BaseModel):
    """POST /api/generate/submit."""

    model_config = ConfigDict(extra="ignore")

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

    model_config = ConfigDict(extra="ignore")

    base64_data: str = Field(min_length=1)
    file_name: str | None = Field(default=None, max_length=255)


class UrlUpload(BaseModel):
    """POST /api/common/upload/url."""

    model_config = ConfigDict(extra="ignore")

    file_url: str = Field(min_length=1, max_length=2048)
    file_name: str | None = Field(default=None, max_length=255)


class SunoAddInstrumentalBody(BaseModel):
    """POST /api/v1/generate/add-instrumental (the Suno-style shape, camelCase)."""

    model_config = ConfigDict(extra="ignore")

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
    bpm: float | None = Field(default=None, ge=30, le=300)
    key: str | None = Field(default=None, description="e.g. 'E major', 'F# minor'")

    @field_validator("styleWeight", "weirdnessConstraint", "audioWeight")
    @classmethod
    def _weights(cls, value: float | None) -> float | None:
        return _two_decimals(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _check_key(value)

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
            bpm=self.bpm, key=self.key,
        ).model_dump()
