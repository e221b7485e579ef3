"""Showing and saving the RGB frames environments render: ANSI art for terminals, GIF and MP4 files.

Both work on any uint8 frame of shape (height, width, 3), such as `NativeVecEnv.render()` returns,
and need no display: `ansi` is plain numpy; `write_video` writes GIFs with Pillow (``pip install pillow``)
and MP4s with imageio and imageio-ffmpeg (``pip install imageio imageio-ffmpeg``), imported only when
called.

Example:
    >>> import pufferlib, pufferlib.render
    >>> with pufferlib.make("squared", size=5) as env:
    ...     _ = env.reset(seed=0)
    ...     frame = env.render()
    >>> text = pufferlib.render.ansi(frame, width=20)
    >>> len(text.splitlines())
    11
"""
import os

import numpy as np

__all__ = ["MODES", "ansi", "check_mode", "in_mode", "write_video"]

MODES = ("rgb_array", "ansi")  # what every vector env's render(env_index, mode) gives
UPPER_HALF_BLOCK = "\u2580"
RESET = "\x1b[0m"


def _check_frame(frame, what="frame"):
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ValueError(f"{what} must be a uint8 array of shape (height, width, 3) with height and width "
                         f">= 1, got {array.dtype} of shape {array.shape} (env.render() returns one)")
    return array


def check_mode(mode):
    """Raises ValueError unless `mode` is one of MODES (checked before anything is drawn)."""
    if mode not in MODES:
        raise ValueError(f"render mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def in_mode(frame, mode):
    """The frame itself for "rgb_array", its `ansi` text for "ansi"."""
    return ansi(frame) if mode == "ansi" else frame


def _area_weights(size_in, size_out):
    """(size_out, size_in) matrix whose row i averages input cells [i, i + 1) * size_in / size_out.

    Each output cell covers an equal stretch of the input; input cells it covers only in part count
    with the part covered, so the rows sum to 1 and a uniform frame stays uniform.
    """
    edges = np.arange(size_out + 1) * (size_in / size_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(size_in)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _resample(array, rows, cols):
    """Area-averaged resampling of an (H, W, 3) frame to (rows, cols, 3), rounded to uint8."""
    wy = _area_weights(array.shape[0], rows)
    wx = _area_weights(array.shape[1], cols)
    height, width = array.shape[:2]
    tall = wy @ array.reshape(height, width * 3).astype(np.float64)      # (rows, W * 3)
    out = (tall.reshape(rows, width, 3).transpose(0, 2, 1) @ wx.T).transpose(0, 2, 1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def ansi(frame, width=80):
    """Turns an RGB frame into text for a terminal with 24-bit colour.

    Each character is an upper half block whose foreground is one pixel and background the pixel
    under it, so one line of text shows two pixel rows. The frame is shrunk by area averaging to
    `width` columns (never enlarged) and to as many rows as keep its proportions on a terminal
    whose cells are twice as tall as wide. Colour codes are only written where the colour changes
    along a line, and every line ends with a reset.

    Args:
        frame: uint8 array of shape (height, width, 3).
        width: columns of text at most; a frame narrower than this keeps one column per pixel.

    Returns:
        The lines joined by newlines (no trailing newline): print it.

    Raises:
        ValueError: frame is not a uint8 (height, width, 3) array, or width is not a positive integer.

    Example:
        >>> import numpy as np
        >>> text = ansi(np.zeros((4, 6, 3), np.uint8))
        >>> len(text.splitlines()), text.count("\u2580")
        (2, 12)
    """
    array = _check_frame(frame)
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer (columns of text), got {width!r}")
    height_px, width_px = array.shape[:2]
    cols = min(int(width), width_px)
    lines = max(1, int(round(height_px * cols / width_px / 2)))
    small = _resample(array, 2 * lines, cols)
    out = []
    for line in range(lines):
        top, bottom = small[2 * line], small[2 * line + 1]
        parts = []
        fg = bg = None
        for col in range(cols):
            upper, lower = tuple(top[col]), tuple(bottom[col])
            if upper != fg:
                parts.append("\x1b[38;2;%d;%d;%dm" % upper)
                fg = upper
            if lower != bg:
                parts.append("\x1b[48;2;%d;%d;%dm" % lower)
                bg = lower
            parts.append(UPPER_HALF_BLOCK)
        parts.append(RESET)
        out.append("".join(parts))
    return "\n".join(out)


def _import_pillow():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("writing a .gif needs Pillow; install it with pip install pillow") from exc
    return Image


def _import_imageio():
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (imageio's ffmpeg backend; checked here for a clear message)
    except ImportError as exc:
        raise ImportError("writing an .mp4 needs imageio and imageio-ffmpeg; install them with "
                          "pip install imageio imageio-ffmpeg") from exc
    return imageio


def write_video(frames, path, fps=30):
    """Writes RGB frames to a video file, headless: .gif with Pillow, .mp4 with imageio-ffmpeg.

    A GIF stores frame durations in hundredths of a second, so its rate is rounded (30 fps plays
    at about 33); Pillow also merges a frame identical to the one before into a longer frame. An
    MP4 (H.264) needs even sides: frames with an odd side get one edge row or column repeated.

    Args:
        frames: an iterable of uint8 arrays of shape (height, width, 3), all the same shape.
        path: the file to write; its extension (.gif or .mp4) picks the format.
        fps: frames per second, a positive number.

    Returns:
        The number of frames written.

    Raises:
        ValueError: no frames, frames of different shapes or not uint8 RGB, fps not positive, or
            an extension other than .gif or .mp4.
        ImportError: the library the format needs is missing (the message says what to install).

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> frames = [np.full((8, 8, 3), 40 * k, np.uint8) for k in range(4)]
        >>> path = os.path.join(tempfile.mkdtemp(), "out.gif")
        >>> write_video(frames, path, fps=10)
        4
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"cannot tell the video format of {path!r}: expected a path ending in .gif or .mp4")
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not fps > 0 or not np.isfinite(fps):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    frames = [_check_frame(f, f"frame {k}") for k, f in enumerate(frames)]
    if not frames:
        raise ValueError("no frames to write: frames is empty (collect them with env.render())")
    shape = frames[0].shape
    for k, f in enumerate(frames):
        if f.shape != shape:
            raise ValueError(f"every frame must have the shape of the first, {shape}; "
                             f"frame {k} has {f.shape}")
    if ext == ".gif":
        image = _import_pillow()
        images = [image.fromarray(np.ascontiguousarray(f)) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:],
                       duration=int(round(1000.0 / fps)), loop=0)
    else:
        imageio = _import_imageio()
        pad = ((0, shape[0] % 2), (0, shape[1] % 2), (0, 0))
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1,
                                pixelformat="yuv420p") as writer:
            for f in frames:
                writer.append_data(np.pad(f, pad, mode="edge") if any(p[1] for p in pad) else f)
    return len(frames)
