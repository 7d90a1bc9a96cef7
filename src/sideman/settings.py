"""One Settings object, read once (from `SIDEMAN_*` environment variables or a `.env`
file) and passed down. Nothing in sideman reads the environment anywhere else."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator can turn, with its default and unit."""

    model_config = SettingsConfigDict(env_prefix="SIDEMAN_", env_file=".env", extra="ignore")

    # where things live
    data_dir: Path = Field(default=Path("var"), description="task database, uploads and results")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    soundfont_path: Path | None = Field(
        default=None, description="a .sf2/.sf3 General MIDI font; default: best one installed"
    )

    # the server
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(
        default=None, description="base of the file URLs handed out; default http://host:port"
    )
    api_key: str | None = Field(
        default=None, description="a key accepted in addition to the stored ones (local use)"
    )
    workers: int = Field(default=1, ge=1, le=16, description="in-process task workers")

    # input limits
    min_duration_seconds: float = 2.0
    max_duration_seconds: float = 480.0
    silence_threshold_dbfs: float = -60.0
    max_upload_bytes: int = 100 * 1024 * 1024
    fetch_timeout_seconds: float = 30.0
    allow_private_urls: bool = Field(
        default=False,
        description="let upload_url/callback_url reach private addresses (local development only)",
    )

    # rendering
    sample_rate_hz: int = 44100
    target_loudness_lufs: float = -14.0
    true_peak_ceiling_dbtp: float = -1.0
    mp3_bitrate_kbps: int = 192
    synth_processes: int = Field(
        default=2, ge=0, le=64,
        description="worker processes that synthesize (tinysoundfont holds the GIL); 0: in the calling process",
    )

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'sideman.db').resolve()}"

    @property
    def resolved_public_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    # the task service (appended by the api/tasks owner)
    task_lease_seconds: float = Field(
        default=120.0, gt=0, description="how long a worker's claim on a task lasts without a heartbeat"
    )
    task_max_attempts: int = Field(
        default=3, ge=1, description="claims of one task before it is given up as failed"
    )
    upload_retention_hours: float = Field(default=72.0, gt=0, description="life of an uploaded file")
    callback_timeout_seconds: float = Field(
        default=10.0, gt=0, description="time a callback receiver has to answer 2xx"
    )
    callback_retry_delays_seconds: tuple[float, ...] = Field(
        default=(1.0, 2.0, 4.0), description="waits between callback retries (one retry per entry)"
    )
    callback_backoff_seconds: tuple[float, ...] = Field(
        default=(60.0, 300.0, 1800.0, 7200.0, 21600.0),
        description="further waits between callback retries after the quick ones (about 8.5 h in all)",
    )
    webhook_secret: str | None = Field(
        default=None,
        description="the whsec_ secret that signs callbacks of tasks made with api_key "
        "(default: derived from api_key)",
    )
    result_retention_days: float = Field(
        default=14.0, gt=0, description="life of a finished or failed task, its files and rows"
    )
    cleanup_interval_seconds: float = Field(
        default=3600.0, gt=0, description="how often expired results and uploads are removed"
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="API requests per key per minute (0: no limit)"
    )
    submit_rate_limit_per_minute: int = Field(
        default=20, ge=0, description="task submissions per key per minute (0: no limit)"
    )
    max_json_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="largest JSON request body (base64 uploads excepted)"
    )
    fetch_max_redirects: int = Field(default=5, ge=0, le=20, description="redirects followed per download")
    pipeline: str = Field(
        default="sideman.pipeline:generate",
        description="the generate function tasks run, as module:function (tests use a fake)",
    )

    # scale-out (appended by the scale-out owner): Dramatiq on Redis, shared storage
    redis_url: str | None = Field(
        default=None,
        description="a Redis URL (redis://host:6379/0): tasks go to Dramatiq workers "
        "(`sideman worker`) instead of in-process threads",
    )
    redis_namespace: str = Field(default="sideman", description="prefix of every Redis key")
    queue_name: str = Field(default="sideman-tasks", description="the Dramatiq queue of tasks")
    worker_processes: int | None = Field(
        default=None, ge=1, le=256, description="`sideman worker` processes (default: one per core)"
    )
    broker_heartbeat_timeout_seconds: float = Field(
        default=60.0, gt=0,
        description="a worker silent this long is dead and its unacked messages are redelivered",
    )
    broker_maintenance_per_million: int = Field(
        default=1000, ge=0, le=1_000_000,
        description="broker commands per million that look for dead workers (Dramatiq default)",
    )
    broker_max_retries: int = Field(
        default=50, ge=0, description="Dramatiq redeliveries of one message (errors, deferrals)"
    )
    task_time_limit_seconds: float = Field(
        default=3600.0, gt=0, description="a worker gives up a task that runs longer than this"
    )
    task_retry_backoff_seconds: float = Field(
        default=5.0, gt=0,
        description="wait before retrying a task after a Transient failure; doubles per attempt",
    )
    task_retry_max_backoff_seconds: float = Field(default=300.0, gt=0)
    stale_task_seconds: float = Field(
        default=900.0, gt=0,
        description="a not_started task this old is enqueued again (its message may be lost)",
    )
    storage_backend: str = Field(
        default="local",
        description="where uploads and results live: local (data_dir), shared (data_dir is a "
        "folder every machine mounts) or s3 (an S3-compatible bucket, cached in data_dir)",
    )
    s3_bucket: str | None = None
    s3_prefix: str = Field(default="", description="key prefix inside the bucket")
    s3_endpoint_url: str | None = Field(
        default=None, description="an S3-compatible endpoint (MinIO, moto); default: AWS"
    )
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    worker_isolation: str = Field(
        default="process",
        description="how `sideman worker` runs the pipeline: process (a forked child per "
        "attempt, so no long C call can starve the heartbeats) or thread (in the worker)",
    )
    worker_pin_cpus: bool = Field(
        default=False,
        description="pin `sideman worker` process i to core i mod cores, one numeric thread "
        "each (a dedicated worker machine: N workers then do N times the work of one)",
    )

    # holding up under abuse (issue 16): disk admission, download and callback pools
    min_free_disk_bytes: int = Field(
        default=1024**3, ge=0,
        description="uploads and submits are refused (507) and /readyz answers 503 while the "
        "data folder's disk has less free space than this (1 GiB: a 3-minute song with 2 "
        "variations writes about 0.55 GB; 0 turns the check off)",
    )
    key_storage_quota_bytes: int = Field(
        default=0, ge=0,
        description="bytes one key may hold in uploads and results: once it holds this much, "
        "its uploads and submits are refused with 507 (the upload that crosses it is kept; "
        "0: no quota)",
    )
    fetch_workers: int = Field(
        default=8, ge=1, le=256,
        description="threads that download upload_urls (never the request threads nor the "
        "pipeline workers)",
    )
    fetch_per_key_concurrency: int = Field(
        default=2, ge=1, le=64,
        description="downloads one key may have running at once (more /upload/url calls: "
        "429; more tasks: they wait their turn)",
    )
    fetch_min_bytes_per_second: int = Field(
        default=4096, ge=0,
        description="a download slower than this, averaged over fetch_rate_window_seconds, "
        "is given up (0: no minimum)",
    )
    fetch_rate_window_seconds: float = Field(
        default=10.0, gt=0, description="the window the minimum transfer rate is judged over"
    )
    fetch_deadline_seconds: float = Field(
        default=300.0, gt=0, description="the most one download may take, end to end"
    )
    callback_workers: int = Field(
        default=8, ge=1, le=256, description="callbacks delivered at once"
    )
    callback_per_host_concurrency: int = Field(
        default=2, ge=1, le=64,
        description="callbacks in flight to one host at once (a slow receiver delays only itself)",
    )
