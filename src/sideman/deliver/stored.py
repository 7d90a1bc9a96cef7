"""What a run keeps so that it can be re-rendered without listening again: the analysis
as heard (every field, full precision) and the decoded voice, under `OUT/stored/`, named
by the manifest's `stored` entry:

    stored/analysis.json   {"format": 1, "analysis": {...}, "analysed_with": {"tempo_bpm": ...}}
    stored/voice.npy       the decoded input, mono float32 at `sample_rate_hz` (the song mix needs it)

The analysis is written field by field from its dataclass and read back by its type
hints, so fields the Analysis gains later travel without a change here; a stored file
that lacks a field with no default is refused with a message (run `sideman add` again).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sideman.errors import InvalidField

__all__ = ["STORED_DIR", "StoredRun", "decode_value", "encode_value", "read_stored", "write_stored"]

STORED_DIR = "stored"
_FORMAT = 1


@dataclass(frozen=True)
class StoredRun:
    """A run read back: its manifest, the analysis as heard, the voice and how the
    analysis was run (`analysed_with`: the tempo it was told, if any)."""

    manifest: dict
    folder: Path
    analysis: object  # sideman.analysis.Analysis
    samples: np.ndarray  # [shape=(n,), float32]
    sample_rate_hz: int
    analysed_with: dict


def write_stored(out_dir: Path, *, analysis, samples: np.ndarray, sample_rate_hz: int,  # noqa: ANN001
                 analysed_with: dict) -> dict:
    """Write stored/analysis.json and stored/voice.npy; returns the manifest `stored` entry."""
    folder = out_dir / STORED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    body = {"format": _FORMAT, "analysis": encode_value(analysis), "analysed_with": analysed_with}
    _atomic_write(folder / "analysis.json", json.dumps(body).encode())
    tmp = folder / f".voice.{os.getpid()}.npy"
    np.save(tmp, np.asarray(samples, dtype=np.float32))
    os.replace(tmp, folder / "voice.npy")
    return _entry(sample_rate_hz)


def link_stored(source: Path, out_dir: Path, *, sample_rate_hz: int) -> dict:
    """Give out_dir the stored files of the run in `source` (hard links where the file
    system allows, copies elsewhere); returns the manifest `stored` entry."""
    src, dst = source / STORED_DIR, out_dir / STORED_DIR
    if src.resolve() != dst.resolve():
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("analysis.json", "voice.npy"):
            (dst / name).unlink(missing_ok=True)
            try:
                os.link(src / name, dst / name)
            except OSError:
                shutil.copyfile(src / name, dst / name)
    return _entry(sample_rate_hz)


def _entry(sample_rate_hz: int) -> dict:
    return {"analysis_json": f"{STORED_DIR}/analysis.json", "voice_npy": f"{STORED_DIR}/voice.npy",
            "sample_rate_hz": int(sample_rate_hz)}


def read_manifest(manifest_path: Path, *, param: str = "from") -> tuple[Path, dict]:
    """(the manifest.json's path, its content) of a run, given the file or its folder.
    Raises InvalidField (naming `param`) when it cannot be read."""
    manifest_path = Path(manifest_path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidField(f"{param}: cannot read the manifest {str(manifest_path)!r}: {error}", param=param,
                           value=str(manifest_path)) from None
    return manifest_path, manifest


def read_stored(manifest_path: Path, *, param: str = "from") -> StoredRun:
    """Read a run's manifest.json and what it stored. Raises InvalidField (naming
    `param`) when the manifest or its stored files are missing or unreadable."""
    from sideman.analysis import Analysis

    manifest_path, manifest = read_manifest(manifest_path, param=param)
    entry = manifest.get("stored") if isinstance(manifest, dict) else None
    if not isinstance(entry, dict):
        raise InvalidField(f"{param}: {str(manifest_path)!r} has no stored analysis (it was made before sideman "
                           "kept one); run `sideman add` again", param=param, value=str(manifest_path))
    folder = manifest_path.parent
    try:
        body = json.loads((folder / entry["analysis_json"]).read_text())
        samples = np.load(folder / entry["voice_npy"], allow_pickle=False)
    except (OSError, ValueError, KeyError) as error:
        raise InvalidField(f"{param}: the stored analysis or voice next to {str(manifest_path)!r} is missing or "
                           f"unreadable ({error}); run `sideman add` again", param=param,
                           value=str(manifest_path)) from None
    if body.get("format") != _FORMAT:
        raise InvalidField(f"{param}: stored analysis format {body.get('format')!r} is not {_FORMAT}",
                           param=param, value=body.get("format"))
    try:
        analysis = decode_value(Analysis, body["analysis"])
    except (TypeError, ValueError, KeyError) as error:
        raise InvalidField(f"{param}: the stored analysis does not fit this version of sideman ({error}); run "
                           "`sideman add` again", param=param) from None
    return StoredRun(manifest=manifest, folder=folder, analysis=analysis,
                     samples=np.asarray(samples, dtype=np.float32), sample_rate_hz=int(entry["sample_rate_hz"]),
                     analysed_with=dict(body.get("analysed_with") or {}))


# ---- a dataclass <-> JSON codec driven by type hints ------------------------------------


def encode_value(value):  # noqa: ANN001, ANN201 - any value of the model
    """Dataclasses -> dicts of their fields, tuples -> lists, numpy -> Python; floats keep
    full precision (json writes repr)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_value(hint, data):  # noqa: ANN001, ANN201
    """The inverse of encode_value, led by the type hint."""
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if hint is typing.Any or hint is object:
        return data
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        errors = []
        for option in options:
            try:
                return decode_value(option, data)
            except (TypeError, ValueError, KeyError) as error:
                errors.append(error)
        raise ValueError(f"{data!r} fits none of {hint}: {errors}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {hint.__name__}, got {type(data).__name__}")
        hints = typing.get_type_hints(hint)
        kwargs = {}
        for f in dataclasses.fields(hint):
            if not f.init:
                continue
            if f.name in data:
                kwargs[f.name] = decode_value(hints.get(f.name, typing.Any), data[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise KeyError(f"{hint.__name__}.{f.name} is missing")
        return hint(**kwargs)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode_value(args[0], v) for v in data)
        if args:
            return tuple(decode_value(a, v) for a, v in zip(args, data, strict=True))
        return tuple(data)
    if origin is list:
        (arg,) = typing.get_args(hint) or (typing.Any,)
        return [decode_value(arg, v) for v in data]
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint) or (typing.Any, typing.Any)
        return {decode_value(key_hint, k): decode_value(value_hint, v) for k, v in data.items()}
    if hint is np.ndarray or origin is np.ndarray:
        return np.asarray(data)
    if hint is float:
        return float(data)
    if hint is int:
        return int(data)
    if hint is str:
        return str(data)
    if hint is bool:
        return bool(data)
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
