"""csrc/puffer_draw.h, compiled on its own: each primitive against a numpy reference, and clipping.

The C program draws scenes into a small canvas fenced by guard bytes (and, where the compiler has
them, under AddressSanitizer and UBSan); shapes reach past every edge, so a missed clip shows as a
broken guard or a sanitizer report.
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

import pufferlib

W, H = 24, 16
GUARD = 256

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "puffer_draw.h"

#define W %(W)d
#define H %(H)d
#define GUARD %(GUARD)d

static uint8_t mem[GUARD + W * H * 3 + GUARD];

static PufferCanvas fresh(void) {
    memset(mem, 0xAB, sizeof(mem));
    PufferCanvas c = puffer_canvas(mem + GUARD, W, H);
    puffer_draw_clear(&c, PUFFER_BLACK);
    return c;
}

static void emit(void) {
    for (int k = 0; k < GUARD; k++) {
        if (mem[k] != 0xAB || mem[GUARD + W * H * 3 + k] != 0xAB) {
            fprintf(stderr, "guard byte overwritten\n");
            exit(1);
        }
    }
    fwrite(mem + GUARD, 1, W * H * 3, stdout);
}

int main(void) {
    PufferColor red = puffer_color(255, 0, 0);
    PufferCanvas c;
    c = fresh(); puffer_draw_rect(&c, -5, -3, 12, 8, red); emit();
    c = fresh(); puffer_draw_rect(&c, 20, 10, 100, 100, red); emit();
    c = fresh(); puffer_draw_circle(&c, 3.5f, 14.0f, 6.0f, red); emit();
    c = fresh(); puffer_draw_line(&c, -10.0f, -10.0f, 30.0f, 20.0f, 3.0f, red); emit();
    c = fresh(); puffer_draw_line(&c, 5.0f, 5.0f, 5.0f, 5.0f, 4.0f, red); emit();
    c = fresh(); puffer_draw_ring(&c, 12.0f, 8.0f, 7.0f, 2.0f, red); emit();
    c = fresh(); puffer_draw_rect_outline(&c, -1, 2, 10, 6, 2, red); emit();
    c = fresh(); puffer_draw_progress(&c, 2, 3, 20, 4, 0.25f, red, puffer_color(0, 0, 255)); emit();
    c = fresh(); puffer_draw_text(&c, 1, 1, 2, "8", red); emit();
    c = fresh(); puffer_draw_text(&c, 20, 14, 3, "0123456789ABCDEF-+./:?", red); emit();
    c = fresh();
    puffer_draw_rect(&c, -50, -50, 10, 10, red);
    puffer_draw_circle(&c, -100.0f, 50.0f, 20.0f, red);
    puffer_draw_line(&c, 100.0f, 100.0f, 90.0f, 300.0f, 5.0f, red);
    puffer_draw_ring(&c, 1000.0f, -1000.0f, 30.0f, 3.0f, red);
    puffer_draw_text(&c, -100, 5, 1, "123", red);
    puffer_draw_rect(&c, 3, 3, -4, 5, red);
    emit();
    return 0;
}
""" % {"W": W, "H": H, "GUARD": GUARD}


def compile_program(tmp_path, flags):
    source = tmp_path / "draw.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "draw"
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", *flags,
           "-I", pufferlib.get_include(), str(source), "-lm", "-o", str(binary)]
    return subprocess.run(cmd, capture_output=True, text=True), binary


def sanitizer_unavailable(result, run):
    """Whether the sanitized build could not be made or started here (not a finding)."""
    if result.returncode != 0:
        return True
    found = b"ERROR: AddressSanitizer" in run.stderr or b"runtime error" in run.stderr
    return run.returncode != 0 and not found and b"guard byte" not in run.stderr


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to compile puffer_draw.h with")
    tmp = tmp_path_factory.mktemp("draw")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    result, binary = compile_program(tmp, ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
    run = subprocess.run([str(binary)], capture_output=True, env=env) if result.returncode == 0 else None
    if sanitizer_unavailable(result, run):
        result, binary = compile_program(tmp, [])
        assert result.returncode == 0, result.stderr
        run = subprocess.run([str(binary)], capture_output=True, env=env)
    assert run.returncode == 0, run.stderr.decode()
    frames = np.frombuffer(run.stdout, np.uint8).reshape(-1, H, W, 3)
    return [frame[..., 0] == 255 for frame in frames]   # where red was drawn


def grid():
    return np.meshgrid(np.arange(W), np.arange(H))


def test_rect_is_clipped_at_the_top_left(scenes):
    expected = np.zeros((H, W), bool)
    expected[0:5, 0:7] = True
    np.testing.assert_array_equal(scenes[0], expected)


def test_rect_is_clipped_at_the_bottom_right(scenes):
    expected = np.zeros((H, W), bool)
    expected[10:, 20:] = True
    np.testing.assert_array_equal(scenes[1], expected)


def test_circle_covers_the_pixels_within_its_radius(scenes):
    x, y = grid()
    np.testing.assert_array_equal(scenes[2], (x - 3.5) ** 2 + (y - 14.0) ** 2 <= 36.0)


def segment_distance(x, y, x0, y0, x1, y1):
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0, 1) if length2 else np.zeros_like(x, float)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def test_thick_line_covers_the_pixels_near_the_segment(scenes):
    x, y = grid()
    distance = segment_distance(x, y, -10.0, -10.0, 30.0, 20.0)
    inside, outside = distance <= 1.5 - 1e-4, distance > 1.5 + 1e-4   # float32 in C: skip ties
    assert scenes[3][inside].all() and not scenes[3][outside].any()
    assert scenes[3].sum() > 40


def test_zero_length_line_is_a_dot(scenes):
    x, y = grid()
    np.testing.assert_array_equal(scenes[4], (x - 5) ** 2 + (y - 5) ** 2 <= 4)


def test_ring_is_the_band_between_its_radii(scenes):
    x, y = grid()
    d2 = (x - 12.0) ** 2 + (y - 8.0) ** 2
    np.testing.assert_array_equal(scenes[5], (d2 <= 49.0) & (d2 >= 25.0))


def test_outline_is_drawn_inside_the_rectangle(scenes):
    expected = np.zeros((H, W), bool)
    expected[2:8, 0:9] = True
    expected[4:6, 1:7] = False
    np.testing.assert_array_equal(scenes[6], expected)


def test_progress_fills_its_fraction(scenes):
    expected = np.zeros((H, W), bool)
    expected[3:7, 2:7] = True
    np.testing.assert_array_equal(scenes[7], expected)


def test_text_draws_the_glyph_scaled(scenes):
    eight = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)
    expected = np.zeros((H, W), bool)
    expected[1:11, 1:7] = np.kron(eight, np.ones((2, 2), bool))
    np.testing.assert_array_equal(scenes[8], expected)


def test_text_running_off_the_canvas_is_clipped(scenes):
    assert scenes[9][14:, 20:].any() and not scenes[9][:14].any() and not scenes[9][:, :20].any()


def test_shapes_entirely_outside_draw_nothing(scenes):
    assert not scenes[10].any()
