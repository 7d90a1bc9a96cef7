from __future__ import annotations

import os
from pathlib import Path

import pytest

from signals import Melody, sung_melody, write_audio

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_EVAL = SHARED / "eval"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("SIDEMAN_DATA_DIR", str(Path(config.rootpath) / ".pytest_cache" / "var"))
    # the suite must pass on a machine with little free disk: the 507 admission control is
    # tested with explicit thresholds (tests/test_reliability_disk.py)
    os.environ.setdefault("SIDEMAN_MIN_FREE_DISK_BYTES", "0")


@pytest.fixture(scope="session")
def melody() -> Melody:
    return sung_melody()


@pytest.fixture(scope="session")
def melody_wav(tmp_path_factory: pytest.TempPathFactory, melody: Melody) -> Path:
    return write_audio(tmp_path_factory.mktemp("audio") / "melody.wav", melody.samples)


def needs_shared_eval() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason="../shared/eval is not present on this machine")
