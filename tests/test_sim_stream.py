"""Camera streams: frames <-> AXI4-Stream beats round trips, blanking, and malformed-stream reports."""

import numpy as np
import pytest

from fluorogate.errors import UserError
from fluorogate.sim.stream import (
    BeatStream,
    StreamConfig,
    StreamError,
    beats_to_frames,
    frames_to_beats,
    pack_tdata,
    ready_pattern,
    unpack_tdata,
)

W, H = 8, 5


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 2**16, (H, W)) for _ in range(3)]


@pytest.mark.parametrize("lanes", [1, 2, 4])
@pytest.mark.parametrize(("line_gap", "frame_gap", "valid_prob"), [(0, 0, 1.0), (3, 11, 1.0), (1, 4, 0.6)])
def test_round_trip(frames, lanes, line_gap, frame_gap, valid_prob):
    cfg = StreamConfig(lanes=lanes, line_gap=line_gap, frame_gap=frame_gap, valid_prob=valid_prob, seed=7)
    stream = frames_to_beats(frames, cfg)
    back = beats_to_frames(stream, W, H, lanes)
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_array_equal(a, b)
    beats = len(frames) * H * W // lanes
    assert stream.valid.sum() == beats
    assert stream.user.sum() == len(frames) and stream.last.sum() == len(frames) * H
    if valid_prob == 1:  # blanking exactly as configured
        assert (
            len(stream) == beats + (len(frames) * H - len(frames)) * line_gap + (len(frames) - 1) * frame_gap
        )
    # flags only on valid cycles, idle data is zero
    assert not (stream.user & ~stream.valid).any() and not (stream.last & ~stream.valid).any()
    assert not stream.data[~stream.valid].any()


def test_beat_layout_lane0_is_leftmost():
    frame = np.arange(16).reshape(2, 8)
    stream = frames_to_beats([frame], StreamConfig(lanes=4, line_gap=2))
    assert stream.valid.tolist() == [1, 1, 0, 0, 1, 1]
    assert stream.data[0].tolist() == [0, 1, 2, 3] and stream.data[5].tolist() == [12, 13, 14, 15]
    assert stream.user.tolist() == [1, 0, 0, 0, 0, 0] and stream.last.tolist() == [0, 1, 0, 0, 0, 1]


def drop_valid_beat(stream: BeatStream, beat: int) -> BeatStream:
    valid = stream.valid.copy()
    valid[np.flatnonzero(valid)[beat]] = False
    return BeatStream(stream.data, valid, stream.user, stream.last)


def test_short_line_reported_with_frame_line_beat(frames):
    stream = frames_to_beats(frames, StreamConfig(lanes=2, line_gap=1))
    per_line, per_frame = W // 2, H * W // 2
    bad = drop_valid_beat(stream, per_frame + per_line + 1)  # frame 1, line 1 loses its beat 1
    with pytest.raises(
        StreamError, match=r"frame 1, line 1, beat 2 .*short line: .*after 3 beats, expected 4"
    ):
        beats_to_frames(bad, W, H, 2)


def test_long_line_reported(frames):
    stream = frames_to_beats(frames, StreamConfig(lanes=1))
    last = stream.last.copy()
    last[np.flatnonzero(last)[2 * H + 3]] = False  # frame 2, line 3 has no tlast
    with pytest.raises(StreamError, match=r"frame 2, line 3, beat 7 .*long line"):
        beats_to_frames(BeatStream(stream.data, stream.valid, stream.user, last), W, H, 1)


def test_missing_start_of_frame_reported(frames):
    stream = frames_to_beats(frames, StreamConfig(lanes=4, frame_gap=3))
    user = stream.user.copy()
    user[np.flatnonzero(user)[1]] = False
    with pytest.raises(StreamError, match=r"frame 1, line 0, beat 0 .*missing start of frame"):
        beats_to_frames(BeatStream(stream.data, stream.valid, user, stream.last), W, H, 4)


def test_frame_cut_short_by_next_start_of_frame(frames):
    # frame 0 loses its last two lines; frame 1's tuser then arrives inside "frame 0"
    head, tail = (frames_to_beats([f], StreamConfig(lanes=1)) for f in (frames[0][:3], frames[1]))
    cut = BeatStream(
        *(np.concatenate([getattr(head, k), getattr(tail, k)]) for k in ("data", "valid", "user", "last"))
    )
    with pytest.raises(StreamError, match=r"frame 0, line 3, beat 0 .*cut short"):
        beats_to_frames(cut, W, H, 1)


def test_stream_ending_mid_frame_reported(frames):
    stream = frames_to_beats(frames, StreamConfig(lanes=2))
    end = np.flatnonzero(stream.valid)[H * W // 2 + 9]  # frame 1, line 2, beat 1 never arrives
    short = BeatStream(stream.data[:end], stream.valid[:end], stream.user[:end], stream.last[:end])
    with pytest.raises(
        StreamError, match=r"frame 1, line 2, beat 1: the stream ended there, frame cut short"
    ):
        beats_to_frames(short, W, H, 2)


def test_bad_inputs_are_user_errors(frames):
    with pytest.raises(UserError, match="lanes"):
        StreamConfig(lanes=3)
    with pytest.raises(UserError, match="not a multiple of 4 lanes"):
        frames_to_beats([np.zeros((2, 6), int)], StreamConfig(lanes=4))
    with pytest.raises(UserError, match="integers"):
        frames_to_beats([np.zeros((2, 4))])
    with pytest.raises(StreamError, match="2 pixels per beat, expected 4"):
        beats_to_frames(frames_to_beats(frames, StreamConfig(lanes=2)), W, H, 4)


def test_ready_pattern_and_tdata_packing(frames):
    ready = ready_pattern(10_000, 0.7, seed=1)
    assert ready.dtype == bool and abs(ready.mean() - 0.7) < 0.02
    np.testing.assert_array_equal(ready, ready_pattern(10_000, 0.7, seed=1))
    assert ready_pattern(5, 1.0).all()
    bursty = ready_pattern(20_000, 0.7, seed=2, mean_stall=8)
    assert abs(bursty.mean() - 0.7) < 0.03
    stall_bursts = int((~bursty[1:] & bursty[:-1]).sum() + (not bursty[0]))
    assert 7 < (~bursty).sum() / stall_bursts < 9  # mean stall length
    stream = frames_to_beats(frames, StreamConfig(lanes=4))
    words = pack_tdata(stream, 16)
    assert words[0] == sum(int(v) << (16 * i) for i, v in enumerate(frames[0][0, :4]))
    np.testing.assert_array_equal(unpack_tdata(words, 4, 16), stream.data)
    signed = frames_to_beats([np.array([[-3, 5], [-128, 127]])], StreamConfig(lanes=2))
    np.testing.assert_array_equal(
        unpack_tdata(pack_tdata(signed, 8, signed=True), 2, 8, signed=True), signed.data
    )
    with pytest.raises(StreamError, match="do not fit 12-bit unsigned"):
        pack_tdata(stream, 12)
