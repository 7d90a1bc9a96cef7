"""Synthesis in worker processes (render/synth_pool.py): the same stems as one render in
this process, errors that come back, a dead worker that costs nothing but time."""

from __future__ import annotations

import logging
import os
import signal

import numpy as np
import pytest

from sideman.music import Note, Score, Track
from sideman.render import find_soundfont, render_stems, synth_pool
from test_render import SR, _band_score

#: joined slices against one whole render: their difference's level under the signal
SEAM_LIMIT_DB = -100.0  # measured: -147 dB or less; a missing pre-roll shows near -20 dB


@pytest.fixture()
def pool_reset():
    synth_pool.shutdown()
    yield
    synth_pool.shutdown()


def _level_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-20)


@pytest.mark.parametrize("spool", [False, True])
def test_slices_in_processes_sound_like_one_render(pool_reset, monkeypatch, spool: bool) -> None:
    # slices of 1.5 s over a 9 s band: every seam falls inside held notes and release tails
    monkeypatch.setattr(synth_pool, "SLICE_MAX_SECONDS", 1.5)
    font = find_soundfont()
    score = _band_score(8.0)
    kwargs = {"soundfont": font, "sample_rate_hz": SR, "origin_seconds": -0.5, "duration_seconds": 9.0}
    whole = render_stems(score, **kwargs)
    sliced = synth_pool.render_stems_in_processes(score, workers=2, spool=spool, **kwargs)
    assert synth_pool._pool is not None and not synth_pool._pool.broken  # it ran in the workers
    assert set(sliced) == set(whole)
    for role, stem in whole.items():
        got = np.asarray(sliced[role])
        assert got.shape == stem.shape == (round(9.0 * SR), 2)
        assert isinstance(sliced[role], synth_pool.SpooledAudio) == spool
        assert _level_db(got - stem) - _level_db(stem) < SEAM_LIMIT_DB, role


def test_no_workers_renders_in_this_process(pool_reset) -> None:
    score = _band_score(4.0)
    kwargs = {"soundfont": find_soundfont(), "sample_rate_hz": SR, "origin_seconds": 0.0, "duration_seconds": 4.0}
    assert synth_pool.start_stems(score, workers=0, **kwargs) is None
    stems = synth_pool.render_stems_in_processes(score, workers=0, **kwargs)
    assert synth_pool._pool is None
    for role, stem in render_stems(score, **kwargs).items():
        np.testing.assert_array_equal(stems[role], stem)


def test_an_error_in_a_worker_reaches_the_caller(pool_reset, monkeypatch) -> None:
    font = find_soundfont()
    warm = synth_pool.start_stems(_band_score(2.0), soundfont=font, sample_rate_hz=SR, origin_seconds=0.0,
                                  duration_seconds=2.0, workers=1)
    warm.result(timeout=60)
    future = synth_pool._pool.submit(_raises_in_worker, "no such program")
    with pytest.raises(ValueError, match="no such program"):
        future.result(timeout=60)
    assert not synth_pool._pool.broken  # one job's error does not end the worker


def _raises_in_worker(message: str) -> None:
    raise ValueError(message)


def test_a_dead_worker_falls_back_to_this_process(pool_reset, caplog) -> None:
    font = find_soundfont()
    score = _band_score(4.0)
    kwargs = {"soundfont": font, "sample_rate_hz": SR, "origin_seconds": 0.0, "duration_seconds": 4.0}
    synth_pool.render_stems_in_processes(score, workers=1, **kwargs)
    future = synth_pool._pool.submit(os.getpid)
    os.kill(future.result(timeout=60), signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="sideman.render.synth_pool"):
        stems = synth_pool.render_stems_in_processes(score, workers=1, **kwargs)
    assert "synthesizing in this process" in caplog.text
    for role, stem in render_stems(score, **kwargs).items():
        np.testing.assert_array_equal(stems[role], stem)
    synth_pool.render_stems_in_processes(score, workers=1, **kwargs)
    assert synth_pool._pool is not None and not synth_pool._pool.broken  # new workers for the next


def test_a_score_with_an_empty_track(pool_reset) -> None:
    score = Score((Track("bass", "Bass", 33, notes=(Note(0.2, 0.8, 40, 100),)), Track("pad", "Pad", 89, notes=())),
                  _band_score(2.0).grid, _band_score(2.0).key)
    stems = synth_pool.render_stems_in_processes(score, soundfont=find_soundfont(), sample_rate_hz=SR,
                                                 origin_seconds=0.0, duration_seconds=2.0, workers=2)
    assert not np.any(stems["pad"]) and np.any(stems["bass"])


def test_background_workers_yield_to_the_urgent_ones(pool_reset) -> None:
    """Variation 2 synthesizes on workers the kernel serves only when variation 1's
    synthesis, mixing and encoding leave a core idle."""
    synth_pool.render_stems_in_processes(_band_score(2.0), soundfont=find_soundfont(), sample_rate_hz=SR,
                                         origin_seconds=0.0, duration_seconds=2.0, workers=1)
    urgent = synth_pool._pool.submit(os.nice, 0, urgent=True).result(timeout=60)
    background = synth_pool._pool.submit(os.nice, 0, urgent=False).result(timeout=60)
    assert background - urgent == synth_pool.BACKGROUND_NICENESS - synth_pool.URGENT_NICENESS > 0


def test_a_forked_child_starts_its_own_workers(pool_reset) -> None:
    """A Dramatiq worker forks a child per task: the parent's sockets and driver threads
    are not the child's, so the child must not use them."""
    import multiprocessing

    synth_pool.prestart(find_soundfont(), sample_rate_hz=SR, workers=1)
    parent_pool = synth_pool._pool
    assert parent_pool is not None
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_report_pool_in_child, args=(send,))
    child.start()
    assert receive.recv() is True  # in the child: no inherited pool
    child.join(30)
    assert synth_pool._pool is parent_pool


def _report_pool_in_child(send) -> None:  # noqa: ANN001
    send.send(synth_pool._pool is None)
