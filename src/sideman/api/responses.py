"""Response bodies of the HTTP contract, for the OpenAPI document (`/docs`) and the
schema test. Routes build plain dicts (the views in sideman.tasks.views); these models
describe them and are not used to filter them, so every *ext* field is kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["documented"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SubmitData(_Open):
    task_id: str
    status: Literal["not_started", "running", "finished", "failed"]
    created_time: str = Field(description="ISO 8601, UTC")


class SubmitResponse(_Open):
    code: int = 200
    data: SubmitData


class StatusFile(_Open):
    file_url: str
    file_type: Literal["audio"]


class StatusData(_Open):
    task_id: str
    status: Literal["not_started", "running", "finished", "failed"]
    files: list[StatusFile]
    created_time: str
    progress: int = Field(ge=0, le=100)
    error_message: str | None


class StatusResponse(_Open):
    code: int = 200
    data: StatusData


class Variation(_Open):
    audio_id: str | None
    audio_url: str | None = Field(description="mp3 of the song: the upload plus the band")
    image_url: str | None
    title: str
    tags: str
    duration: float | None = Field(description="seconds")
    prompt: str = Field(description="the arrangement brief")
    instrumental_url: str | None = None
    wav_url: str | None = None
    stems: dict[str, str | None] = Field(default_factory=dict, description="role -> url")
    midi_url: str | None = None
    chords: list = Field(default_factory=list)
    bpm: float | None = None
    key: str | None = None
    meter: str | None = None
    model: str | None = None


class DetailData(_Open):
    task_id: str
    status: Literal["not_started", "running", "finished", "failed"]
    files: list[Variation] = Field(description="empty until finished")
    created_time: str
    error_message: str | None


class DetailResponse(_Open):
    code: int = 200
    data: DetailData


class UploadData(_Open):
    file_id: str
    file_name: str
    original_name: str
    file_size: int = Field(description="bytes")
    mime_type: str
    file_url: str = Field(description="a valid upload_url for 72 h")
    download_url: str
    upload_time: str
    expires_at: str


class UploadResponse(_Open):
    success: bool
    code: int = 200
    msg: str
    data: UploadData


class SunoTaskId(_Open):
    taskId: str


class SunoSubmitResponse(_Open):
    code: int = 200
    msg: str
    data: SunoTaskId


class SunoTrack(_Open):
    id: str | None
    audioUrl: str | None
    streamAudioUrl: str | None
    imageUrl: str | None
    prompt: str
    modelName: str | None
    title: str
    tags: str
    createTime: str
    duration: float | None


class SunoRecordResponseBody(_Open):
    taskId: str
    sunoData: list[SunoTrack]


class SunoRecord(_Open):
    taskId: str
    param: str = Field(description="the submitted parameters, as a JSON string")
    response: SunoRecordResponseBody
    status: Literal["PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", "SUCCESS",
                    "GENERATE_AUDIO_FAILED"]
    type: str
    errorCode: int | None
    errorMessage: str | None


class SunoRecordInfoResponse(_Open):
    code: int = 200
    msg: str
    data: SunoRecord


def documented(model: type[BaseModel], description: str = "Success") -> dict:
    """`responses=` entry documenting the 200 body of a route that returns a dict."""
    return {200: {"model": model, "description": description}}
