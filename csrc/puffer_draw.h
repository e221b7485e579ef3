/* puffer_draw.h: a few software drawing primitives for environments' render functions.
 *
 * An environment's render function receives rgb[height][width][3] (uint8, row-major, no padding)
 * and draws into it with these helpers: no window system, no GPU, no library. Every primitive
 * clips to the frame, so coordinates may lie partly or wholly outside it. Pure C, no Python.h.
 *
 *   PufferCanvas c = puffer_canvas(rgb, width, height);
 *   puffer_draw_clear(&c, PUFFER_WHITE);
 *   puffer_draw_rect(&c, 10, 10, 40, 20, puffer_color(200, 40, 40));
 *   puffer_draw_line(&c, 0.0f, 0.0f, 99.0f, 49.0f, 3.0f, PUFFER_BLACK);
 *   puffer_draw_circle(&c, 50.0f, 25.0f, 8.0f, puffer_color(40, 90, 220));
 *   puffer_draw_text(&c, 2, 2, 2, "-1.5", PUFFER_BLACK);
 *
 * Rendering reads env state only and runs outside step(), so none of this is on the hot path;
 * it favours plain, obviously correct loops over speed.
 */
#ifndef PUFFER_DRAW_H
#define PUFFER_DRAW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t* rgb;        /* [height][width][3] */
    int width, height;
} PufferCanvas;

typedef struct {
    uint8_t r, g, b;
} PufferColor;

static inline PufferColor puffer_color(int r, int g, int b) {
    PufferColor c = {(uint8_t)r, (uint8_t)g, (uint8_t)b};
    return c;
}

/* A small shared palette, so that the built-in environments look alike. */
#define PUFFER_WHITE puffer_color(255, 255, 255)
#define PUFFER_BLACK puffer_color(0, 0, 0)
#define PUFFER_PAPER puffer_color(246, 244, 238)     /* background */
#define PUFFER_INK puffer_color(34, 36, 48)          /* outlines, text */
#define PUFFER_GREY puffer_color(196, 196, 204)
#define PUFFER_DARK_GREY puffer_color(110, 112, 124)
#define PUFFER_BLUE puffer_color(52, 108, 220)
#define PUFFER_GREEN puffer_color(58, 168, 84)
#define PUFFER_RED puffer_color(212, 62, 52)
#define PUFFER_ORANGE puffer_color(240, 148, 40)
#define PUFFER_GOLD puffer_color(226, 188, 36)

/* Linear blend: t = 0 gives a, t = 1 gives b (t is clamped to [0, 1]). */
static inline PufferColor puffer_color_mix(PufferColor a, PufferColor b, float t) {
    t = t > 0.0f ? (t < 1.0f ? t : 1.0f) : 0.0f;
    return puffer_color((int)lrintf((float)a.r + t * (float)(b.r - a.r)),
                        (int)lrintf((float)a.g + t * (float)(b.g - a.g)),
                        (int)lrintf((float)a.b + t * (float)(b.b - a.b)));
}

static inline PufferCanvas puffer_canvas(uint8_t* rgb, int width, int height) {
    PufferCanvas c;
    c.rgb = rgb;
    c.width = width > 0 ? width : 0;
    c.height = height > 0 ? height : 0;
    return c;
}

/* One pixel; ignored outside the frame. */
static inline void puffer_draw_pixel(PufferCanvas* c, int x, int y, PufferColor col) {
    if (x < 0 || y < 0 || x >= c->width || y >= c->height) return;
    uint8_t* p = c->rgb + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

/* Filled rectangle of w x h pixels with its top-left corner at (x, y). */
static inline void puffer_draw_rect(PufferCanvas* c, int x, int y, int w, int h, PufferColor col) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w;
    int y1 = y + h > c->height ? c->height : y + h;
    for (int j = y0; j < y1; j++) {
        uint8_t* p = c->rgb + ((size_t)j * (size_t)c->width + (size_t)x0) * 3;
        for (int i = x0; i < x1; i++, p += 3) {
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
}

static inline void puffer_draw_clear(PufferCanvas* c, PufferColor col) {
    puffer_draw_rect(c, 0, 0, c->width, c->height, col);
}

/* A horizontal bar of w x h pixels, the left `fraction` (clamped to [0, 1]) in fg, the rest in bg. */
static inline void puffer_draw_progress(PufferCanvas* c, int x, int y, int w, int h, float fraction,
                                        PufferColor fg, PufferColor bg) {
    fraction = fraction > 0.0f ? (fraction < 1.0f ? fraction : 1.0f) : 0.0f;
    int filled = (int)lrintf(fraction * (float)w);
    puffer_draw_rect(c, x, y, w, h, bg);
    puffer_draw_rect(c, x, y, filled, h, fg);
}

/* The border of a rectangle, `thickness` pixels wide, drawn inside its w x h. */
static inline void puffer_draw_rect_outline(PufferCanvas* c, int x, int y, int w, int h, int thickness,
                                            PufferColor col) {
    int t = thickness;
    puffer_draw_rect(c, x, y, w, t, col);
    puffer_draw_rect(c, x, y + h - t, w, t, col);
    puffer_draw_rect(c, x, y, t, h, col);
    puffer_draw_rect(c, x + w - t, y, t, h, col);
}

/* The pixels [xa, xb] x [ya, yb] covering the box [x0, x1] x [y0, y1], clipped to the frame
 * (empty, xa > xb or ya > yb, when the box misses it). */
static inline void puffer__bounds(const PufferCanvas* c, float x0, float y0, float x1, float y1,
                                  int* xa, int* ya, int* xb, int* yb) {
    *xa = (int)floorf(x0);
    *ya = (int)floorf(y0);
    *xb = (int)ceilf(x1);
    *yb = (int)ceilf(y1);
    if (*xa < 0) *xa = 0;
    if (*ya < 0) *ya = 0;
    if (*xb > c->width - 1) *xb = c->width - 1;
    if (*yb > c->height - 1) *yb = c->height - 1;
}

/* A segment from (x0, y0) to (x1, y1) (pixel centres at integer coordinates), `thickness`
 * pixels wide with round ends: every pixel whose centre lies within thickness / 2 of it. */
static inline void puffer_draw_line(PufferCanvas* c, float x0, float y0, float x1, float y1,
                                    float thickness, PufferColor col) {
    float r = thickness > 1.0f ? 0.5f * thickness : 0.5f;
    float dx = x1 - x0, dy = y1 - y0;
    float len2 = dx * dx + dy * dy;
    int xa, ya, xb, yb;
    puffer__bounds(c, fminf(x0, x1) - r, fminf(y0, y1) - r, fmaxf(x0, x1) + r, fmaxf(y0, y1) + r,
                   &xa, &ya, &xb, &yb);
    for (int y = ya; y <= yb; y++) {
        for (int x = xa; x <= xb; x++) {
            float px = (float)x - x0, py = (float)y - y0;
            float t = len2 > 0.0f ? (px * dx + py * dy) / len2 : 0.0f;
            t = t > 0.0f ? (t < 1.0f ? t : 1.0f) : 0.0f;
            float ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= r * r) puffer_draw_pixel(c, x, y, col);
        }
    }
}

/* Circle outline: the pixels between radius - thickness and radius from (cx, cy). */
static inline void puffer_draw_ring(PufferCanvas* c, float cx, float cy, float radius, float thickness,
                                    PufferColor col) {
    float inner = radius - thickness > 0.0f ? radius - thickness : 0.0f;
    int xa, ya, xb, yb;
    puffer__bounds(c, cx - radius, cy - radius, cx + radius, cy + radius, &xa, &ya, &xb, &yb);
    for (int y = ya; y <= yb; y++) {
        for (int x = xa; x <= xb; x++) {
            float dx = (float)x - cx, dy = (float)y - cy;
            float d2 = dx * dx + dy * dy;
            if (d2 <= radius * radius && d2 >= inner * inner) puffer_draw_pixel(c, x, y, col);
        }
    }
}

/* Filled disc: every pixel whose centre lies within `radius` of (cx, cy) (a ring as thick as it is
 * wide). */
static inline void puffer_draw_circle(PufferCanvas* c, float cx, float cy, float radius, PufferColor col) {
    puffer_draw_ring(c, cx, cy, radius, radius, col);
}

/* ---- Text: a 3 x 5 pixel font of digits, A-F and a little punctuation ---- */

/* Each glyph is five rows of three bits (bit 2 is the left column). */
static inline const uint8_t* puffer__glyph(char ch) {
    static const uint8_t digits[10][5] = {
        {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
        {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    };
    static const uint8_t hex[6][5] = {
        {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7},
        {7, 4, 6, 4, 4},
    };
    static const uint8_t minus[5] = {0, 0, 7, 0, 0}, plus[5] = {0, 2, 7, 2, 0};
    static const uint8_t dot[5] = {0, 0, 0, 0, 2}, slash[5] = {1, 1, 2, 4, 4};
    static const uint8_t colon[5] = {0, 2, 0, 2, 0}, question[5] = {7, 1, 2, 0, 2};
    if (ch >= '0' && ch <= '9') return digits[ch - '0'];
    if (ch >= 'A' && ch <= 'F') return hex[ch - 'A'];
    if (ch >= 'a' && ch <= 'f') return hex[ch - 'a'];
    switch (ch) {
        case '-': return minus;
        case '+': return plus;
        case '.': return dot;
        case '/': return slash;
        case ':': return colon;
        case ' ': return NULL;
        default: return question;
    }
}

/* Draws `text` with its top-left corner at (x, y), each font pixel a scale x scale square;
 * characters advance by 4 * scale. Characters outside the font are drawn as '?'. */
static inline void puffer_draw_text(PufferCanvas* c, int x, int y, int scale, const char* text,
                                    PufferColor col) {
    for (; *text; text++, x += 4 * scale) {
        const uint8_t* g = puffer__glyph(*text);
        if (!g) continue;
        for (int row = 0; row < 5; row++) {
            for (int bit = 0; bit < 3; bit++) {
                if (g[row] & (4 >> bit)) {
                    puffer_draw_rect(c, x + bit * scale, y + row * scale, scale, scale, col);
                }
            }
        }
    }
}

/* Width in pixels of `text` drawn at `scale` (without the trailing gap). */
static inline int puffer_text_width(const char* text, int scale) {
    int n = 0;
    while (text[n]) n++;
    return n > 0 ? (4 * n - 1) * scale : 0;
}

#endif /* PUFFER_DRAW_H */
