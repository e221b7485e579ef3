"""pufferlib.render: ANSI text from frames, and GIF/MP4 files."""
import re
import sys

import numpy as np
import pytest

import pufferlib
from pufferlib.render import _area_weights, _resample, ansi, write_video

ESCAPE = re.compile(r"\x1b\[(38|48);2;(\d+);(\d+);(\d+)m")
BLOCK = "\u2580"


def cells(text):
    """[(foreground, background) per character] per line, replaying the escape codes."""
    out = []
    for line in text.split("\n"):
        assert line.endswith("\x1b[0m")
        fg = bg = None
        row = []
        for token in re.findall(r"\x1b\[[0-9;]*m|.", line[:-len("\x1b[0m")]):
            match = ESCAPE.fullmatch(token)
            if match:
                color = tuple(int(v) for v in match.groups()[1:])
                if match.group(1) == "38":
                    fg = color
                else:
                    bg = color
            else:
                assert token == BLOCK
                row.append((fg, bg))
        out.append(row)
    return out


def resample_reference(frame, rows, cols):
    """Area averaging the slow way: each output pixel integrates the input over its rectangle."""
    height, width = frame.shape[:2]
    out = np.zeros((rows, cols, 3))
    for i in range(rows):
        for j in range(cols):
            y0, y1 = i * height / rows, (i + 1) * height / rows
            x0, x1 = j * width / cols, (j + 1) * width / cols
            total = np.zeros(3)
            for y in range(height):
                for x in range(width):
                    wy = max(0.0, min(y1, y + 1) - max(y0, y))
                    wx = max(0.0, min(x1, x + 1) - max(x0, x))
                    total += wy * wx * frame[y, x]
            out[i, j] = total / ((y1 - y0) * (x1 - x0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---- ansi ----

def test_ansi_line_and_column_counts():
    frame = np.random.default_rng(0).integers(0, 256, (40, 100, 3), np.uint8)
    text = ansi(frame, width=50)
    grid = cells(text)
    assert len(grid) == 10                      # 40 rows * 50/100 columns per pixel / 2 rows per line
    assert all(len(row) == 50 for row in grid)
    assert not text.endswith("\n")


def test_ansi_two_pixel_rows_per_line_at_full_width():
    frame = np.zeros((6, 4, 3), np.uint8)
    frame[0::2] = (255, 0, 0)
    frame[1::2] = (0, 0, 255)
    grid = cells(ansi(frame, width=4))
    assert len(grid) == 3
    assert all(cell == ((255, 0, 0), (0, 0, 255)) for row in grid for cell in row)


def test_ansi_writes_a_code_only_where_the_colour_changes():
    frame = np.full((8, 16, 3), 200, np.uint8)
    text = ansi(frame, width=16)
    assert len(text.split("\n")) == 4
    assert text.count("\x1b[38;2;200;200;200m") == 4 and text.count("\x1b[48;2;200;200;200m") == 4
    frame[:, 8:] = (10, 20, 30)
    text = ansi(frame, width=16)
    assert len(ESCAPE.findall(text)) == 4 * 4   # two colours, foreground and background, per line


def test_ansi_averages_areas():
    checker = np.zeros((4, 4, 3), np.uint8)
    checker[::2, ::2] = 255
    checker[1::2, 1::2] = 255
    grid = cells(ansi(checker, width=2))
    assert grid == [[((128, 128, 128), (128, 128, 128))] * 2]


def test_ansi_never_enlarges():
    frame = np.zeros((10, 10, 3), np.uint8)
    grid = cells(ansi(frame, width=80))
    assert len(grid) == 5 and len(grid[0]) == 10


def test_ansi_of_a_tiny_frame_has_one_line():
    assert len(cells(ansi(np.zeros((1, 7, 3), np.uint8), width=7))) == 1


@pytest.mark.parametrize("shape,rows,cols", [((3, 5), 2, 3), ((7, 4), 4, 4), ((9, 13), 6, 5), ((5, 5), 5, 5)])
def test_resample_matches_the_reference(shape, rows, cols):
    frame = np.random.default_rng(1).integers(0, 256, shape + (3,), np.uint8)
    np.testing.assert_array_equal(_resample(frame, rows, cols), resample_reference(frame, rows, cols))


def test_area_weights_rows_sum_to_one():
    weights = _area_weights(300, 37)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights.sum(axis=0), 37 / 300)


@pytest.mark.parametrize("frame", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8),
                                   np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_ansi_rejects_what_is_not_an_rgb_frame(frame):
    with pytest.raises(ValueError, match=r"frame must be a uint8 array of shape \(height, width, 3\)"):
        ansi(frame)


@pytest.mark.parametrize("width", [0, -3, 2.5, True])
def test_ansi_rejects_bad_widths(width):
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ansi(np.zeros((4, 4, 3), np.uint8), width=width)


# ---- write_video ----

def distinct_frames(count, shape=(12, 16)):
    return [np.full(shape + (3,), 20 * k, np.uint8) for k in range(count)]


def test_gif_has_every_frame(tmp_path):
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "out.gif"
    assert write_video(distinct_frames(7), path, fps=20) == 7
    with image.open(path) as gif:
        assert gif.n_frames == 7
        assert gif.size == (16, 12)
        assert gif.info["duration"] == 50
        gif.seek(3)
        assert np.array_equal(np.asarray(gif.convert("RGB"))[0, 0], [60, 60, 60])


def test_gif_of_rendered_episode(tmp_path):
    image = pytest.importorskip("PIL.Image")
    with pufferlib.make("cartpole", seed=0) as env:
        env.reset()
        frames = []
        for _ in range(6):
            frames.append(env.render())
            env.step(np.ones(1, np.int32))
    write_video(frames, tmp_path / "cartpole.gif")
    with image.open(tmp_path / "cartpole.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (400, 300)


def test_gif_without_pillow_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r"a \.gif needs Pillow; install it with pip install pillow$"):
        write_video(distinct_frames(2), tmp_path / "out.gif")
    assert not (tmp_path / "out.gif").exists()


def test_mp4_without_imageio_names_the_packages(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)
    monkeypatch.setitem(sys.modules, "imageio.v2", None)
    with pytest.raises(ImportError, match=r"an \.mp4 needs imageio and imageio-ffmpeg; install them with pip install imageio imageio-ffmpeg$"):
        write_video(distinct_frames(2), tmp_path / "out.mp4")


def test_mp4_without_ffmpeg_backend_names_the_packages(tmp_path, monkeypatch):
    pytest.importorskip("imageio")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ImportError, match=r"an \.mp4 needs imageio and imageio-ffmpeg"):
        write_video(distinct_frames(2), tmp_path / "out.mp4")


def test_mp4_has_every_frame(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    imageio = pytest.importorskip("imageio.v2")
    path = tmp_path / "out.mp4"
    assert write_video(distinct_frames(5, shape=(7, 9)), path, fps=10) == 5   # odd sides are padded
    reader = imageio.get_reader(path)
    try:
        assert reader.count_frames() == 5
        assert reader.get_meta_data()["size"] == (10, 8)
    finally:
        reader.close()


def test_unknown_extension_raises(tmp_path):
    with pytest.raises(ValueError, match=r"expected a path ending in \.gif or \.mp4"):
        write_video(distinct_frames(2), tmp_path / "out.avi")


def test_no_frames_raises(tmp_path):
    with pytest.raises(ValueError, match="no frames to write"):
        write_video(iter([]), tmp_path / "out.gif")


def test_frames_of_different_shapes_raise(tmp_path):
    frames = distinct_frames(2) + distinct_frames(1, shape=(12, 18))
    with pytest.raises(ValueError, match=r"frame 2 has \(12, 18, 3\)"):
        write_video(frames, tmp_path / "out.gif")


def test_non_rgb_frame_raises(tmp_path):
    with pytest.raises(ValueError, match=r"frame 1 must be a uint8 array"):
        write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3))], tmp_path / "out.gif")


@pytest.mark.parametrize("fps", [0, -1, float("nan"), "30", True])
def test_bad_fps_raises(tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_video(distinct_frames(2), tmp_path / "out.gif", fps=fps)
