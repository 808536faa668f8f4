/* The forward compositing of talkinghead_edu.render.fast (_forward_kernel) written in plain C,
 * for one benchmark only: `python -m talkinghead_edu.bench composite_c` builds it with the
 * machine's C compiler and times it against the numba kernel on the same tile lists, to show
 * how far numba is from hand-written C for the *same* algorithm. The renderer never uses it.
 *
 * Same algorithm and the same arithmetic as the numba kernel, statement by statement: tiles of
 * 16 x 16 pixels, splats front to back, per splat its rows inside the ellipse where
 * alpha >= 1/255 (widened by 1e-5 in sigma), per row the exact column interval from the conic's
 * quadratic, exp(-sigma) stepped along the row in double precision, alpha clamped at 0.999 and rounded to float, float
 * transmittance with early termination below 1e-4. One thread; the caller passes the tiles.
 *
 * splats: (N, 8) float records u, v, a, b, c, opacity, log(255 opacity), unused.
 * channels: (N, C) float.  tile_offsets (n_tiles + 1) int64, ids (M) int32: each tile's splats.
 * Writes out_color (H, W, C) float, out_T (H, W) float, out_last (H, W) int32.
 *
 * A second function, composite_textbook, is the straightforward CPU port of the 3DGS tile kernel
 * that one would write first: float arithmetic throughout and one expf per pixel (no stepping), the
 * same tiles, lists, row ranges and column intervals. It shows whether the stepping pays off in C too.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define TILE 16
#define MAX_CHANNELS 64

/* One tile's pixel state, pixels row-major; a pixel's transmittance is negative once it stopped. */
typedef struct {
    int x0, x1, y0, y1;
    float transmittance[TILE * TILE], color[MAX_CHANNELS * TILE * TILE];
    int32_t last[TILE * TILE];
} Tile;

/* Bounds of tile number `tile` (row-major, tiles_x per row) and its pixels reset: T = 1, no colour. */
static void tile_begin(Tile *t, int tile, int tiles_x, int width, int height, int n_channels) {
    int ty = tile / tiles_x, tx = tile - ty * tiles_x;
    t->x0 = tx * TILE, t->y0 = ty * TILE;
    t->x1 = t->x0 + TILE < width ? t->x0 + TILE : width, t->y1 = t->y0 + TILE < height ? t->y0 + TILE : height;
    for (int p = 0; p < TILE * TILE; p++) {
        t->transmittance[p] = 1.0f;
        t->last[p] = 0;
    }
    memset(t->color, 0, sizeof(float) * (size_t)n_channels * TILE * TILE);
}

/* Composite one splat with `alpha` (>= 1/255) at pixel p of a pixel still compositing (T = t > 0), eq 9; list
 * index `index` after it. Returns 1 when the pixel stops instead (T would fall below 1e-4), else 0. */
static inline int composite_pixel(Tile *tile, int p, float t, float alpha, const float *splat_color, int n_channels,
                                  int32_t index) {
    float t_next = t * (1.0f - alpha);
    if (t_next < 1e-4f) {
        tile->transmittance[p] = -t;
        return 1;
    }
    float weight = alpha * t;
    for (int ch = 0; ch < n_channels; ch++) tile->color[ch * TILE * TILE + p] += weight * splat_color[ch];
    tile->transmittance[p] = t_next;
    tile->last[p] = index;
    return 0;
}

/* The tile's pixels into out_color (H, W, C), out_T (H, W) and out_last (H, W). */
static void tile_write(const Tile *t, int width, int n_channels, float *out_color, float *out_T, int32_t *out_last) {
    for (int py = t->y0; py < t->y1; py++)
        for (int px = t->x0; px < t->x1; px++) {
            int p = (py - t->y0) * TILE + px - t->x0;
            out_T[py * width + px] = fabsf(t->transmittance[p]);
            out_last[py * width + px] = t->last[p];
            for (int ch = 0; ch < n_channels; ch++)
                out_color[((int64_t)py * width + px) * n_channels + ch] = t->color[ch * TILE * TILE + p];
        }
}

int composite_forward(const float *splats, const float *channels, int n_channels, const int64_t *tile_offsets,
                      const int32_t *ids, int n_tiles, int tiles_x, int width, int height, float *out_color,
                      float *out_T, int32_t *out_last) {
    const float alpha_min = 1.0f / 255.0f, alpha_max = 0.999f;
    Tile state; /* 66 KB on the stack, as the arrays it replaces were */
    int row_active[TILE];
    if (n_channels > MAX_CHANNELS) return -1;
    for (int tile = 0; tile < n_tiles; tile++) {
        tile_begin(&state, tile, tiles_x, width, height, n_channels);
        int x0 = state.x0, x1 = state.x1, y0 = state.y0, y1 = state.y1;
        for (int j = 0; j < TILE; j++) row_active[j] = x1 - x0;
        int active = (y1 - y0) * (x1 - x0);
        int64_t start = tile_offsets[tile];
        for (int64_t k = start; k < tile_offsets[tile + 1] && active > 0; k++) {
            const float *s = splats + 8 * (int64_t)ids[k];
            if (s[6] <= 0.0f) continue; /* opacity below 1/255: never visible */
            double mx = s[0], my = s[1], a = s[2], b = s[3], c = s[4], o = s[5];
            double two_s = 2.0 * ((double)s[6] + 1e-5), decay = exp(-a); /* fast._ellipse_bound */
            double det = a * c - b * b;
            if (det <= 0.0) continue;
            double half = sqrt(two_s * a / det); /* vertical extent of the ellipse */
            double row_lo_f = fmax(my - half - 0.5, (double)y0), row_hi_f = fmin(my + half - 0.5, (double)(y1 - 1));
            if (row_lo_f > row_hi_f) continue;
            const float *splat_color = channels + (int64_t)ids[k] * n_channels;
            for (int py = (int)ceil(row_lo_f); py < (int)floor(row_hi_f) + 1; py++) {
                int j = py - y0;
                if (row_active[j] == 0) continue;
                double dy = py + 0.5 - my;
                double disc = b * b * dy * dy - a * (c * dy * dy - two_s);
                if (disc < 0.0) continue;
                double root = sqrt(disc);
                double lo = fmax(mx + (-b * dy - root) / a - 0.5, (double)x0);
                double hi = fmin(mx + (-b * dy + root) / a - 0.5, (double)(x1 - 1));
                if (lo > hi) continue;
                int col_lo = (int)ceil(lo), col_hi = (int)floor(hi) + 1;
                double dx = col_lo + 0.5 - mx;
                double gaussian = exp(-(0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy));
                double step = exp(-(a * dx + 0.5 * a + b * dy));
                for (int px = col_lo; px < col_hi; px++) {
                    int p = j * TILE + px - x0;
                    double unclamped = o * gaussian;
                    float alpha = (float)(unclamped < alpha_max ? unclamped : (double)alpha_max);
                    gaussian *= step;
                    step *= decay;
                    float t = state.transmittance[p];
                    if (t < 0.0f || alpha < alpha_min) continue;
                    if (composite_pixel(&state, p, t, alpha, splat_color, n_channels, (int32_t)(k - start + 1))) {
                        row_active[j]--;
                        active--;
                    }
                }
            }
        }
        tile_write(&state, width, n_channels, out_color, out_T, out_last);
    }
    return 0;
}


/* The 3DGS tile kernel as one would port it first: float throughout, sigma and expf per pixel.
 * Same arguments, tiles, row ranges, column intervals and alpha rules as composite_forward. */
int composite_textbook(const float *splats, const float *channels, int n_channels, const int64_t *tile_offsets,
                       const int32_t *ids, int n_tiles, int tiles_x, int width, int height, float *out_color,
                       float *out_T, int32_t *out_last) {
    const float alpha_min = 1.0f / 255.0f, alpha_max = 0.999f;
    Tile state; /* 66 KB on the stack, as the arrays it replaces were */
    if (n_channels > MAX_CHANNELS) return -1;
    for (int tile = 0; tile < n_tiles; tile++) {
        tile_begin(&state, tile, tiles_x, width, height, n_channels);
        int x0 = state.x0, x1 = state.x1, y0 = state.y0, y1 = state.y1;
        int active = (y1 - y0) * (x1 - x0);
        int64_t start = tile_offsets[tile];
        for (int64_t k = start; k < tile_offsets[tile + 1] && active > 0; k++) {
            const float *s = splats + 8 * (int64_t)ids[k];
            if (s[6] <= 0.0f) continue;
            float u = s[0], v = s[1], a = s[2], b = s[3], c = s[4], o = s[5], two_s = 2.0f * (s[6] + 1e-5f);
            float det = a * c - b * b;
            if (det <= 0.0f) continue;
            float half = sqrtf(two_s * a / det);
            int row_lo = (int)ceilf(fmaxf(v - half - 0.5f, (float)y0));
            int row_hi = (int)floorf(fminf(v + half - 0.5f, (float)(y1 - 1))) + 1;
            const float *splat_color = channels + (int64_t)ids[k] * n_channels;
            for (int py = row_lo; py < row_hi; py++) {
                float dy = (float)py + 0.5f - v;
                float disc = b * b * dy * dy - a * (c * dy * dy - two_s);
                if (disc < 0.0f) continue;
                float root = sqrtf(disc);
                int col_lo = (int)ceilf(fmaxf(u + (-b * dy - root) / a - 0.5f, (float)x0));
                int col_hi = (int)floorf(fminf(u + (-b * dy + root) / a - 0.5f, (float)(x1 - 1))) + 1;
                for (int px = col_lo; px < col_hi; px++) {
                    int p = (py - y0) * TILE + px - x0;
                    float t = state.transmittance[p];
                    if (t < 0.0f) continue;
                    float dx = (float)px + 0.5f - u;
                    float sigma = 0.5f * (a * dx * dx + c * dy * dy) + b * dx * dy;
                    float alpha = fminf(alpha_max, o * expf(-sigma));
                    if (alpha < alpha_min) continue;
                    active -= composite_pixel(&state, p, t, alpha, splat_color, n_channels, (int32_t)(k - start + 1));
                }
            }
        }
        tile_write(&state, width, n_channels, out_color, out_T, out_last);
    }
    return 0;
}
