/* Causal attention over the segments of a packed row, on CPU, in one call per layer.
 *
 * Each segment's queries attend to its keys: first the keys of an earlier forward (the prefix cache),
 * then a prefix computed in the same row, then its own keys up to and including the query's position
 * (causal from the bottom right). The arithmetic is float32 whatever the tensors hold (float32 or
 * bfloat16): scores, softmax and the weighted sum of values, so a bf16 model's attention is no less
 * exact than the flash kernel's. Work is split over (segment, key/value head, block of 32 queries)
 * with OpenMP (torch's own runtime, already loaded); keys past a query's position are never computed,
 * which is where the flash kernel, masking whole blocks only, spends half its time on short segments.
 *
 * Written with GCC vector extensions: -march=native lowers them to AVX-512, AVX2 or SSE. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define QB 32 /* query rows per work item */
#define R 4   /* query rows per register block */
#define W 16  /* floats per vector */

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));

typedef uint16_t vh __attribute__((vector_size(32)));
typedef uint32_t vu __attribute__((vector_size(64)));

/* 16 values from float32 or bfloat16 memory, as float32 */
static inline vf vload_any(const void *base, int bf16, int64_t at) {
    if (bf16) {
        vh h;
        memcpy(&h, (const uint16_t *)base + at, sizeof h);
        return (vf)(__builtin_convertvector(h, vu) << 16);
    }
    vf v;
    memcpy(&v, (const float *)base + at, sizeof v);
    return v;
}

/* 16 float32 values stored as float32 or bfloat16 (round to nearest even; NaN stays NaN) */
static inline void vstore_any(void *base, int bf16, int64_t at, vf v) {
    if (!bf16) {
        memcpy((float *)base + at, &v, sizeof v);
        return;
    }
    vu u = (vu)v;
    vu rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    vu nan = (vu)((u & 0x7fffffffu) > 0x7f800000u);
    rounded = (nan & ((u >> 16) | 0x40u)) | (~nan & rounded);
    vh h = __builtin_convertvector(rounded, vh);
    memcpy((uint16_t *)base + at, &h, sizeof h);
}

/* the first `count` (< W) of 16 values, zeros after them */
static inline vf vload_part(const void *base, int bf16, int64_t at, int count) {
    float buf[W] = {0};
    for (int m = 0; m < count; m++) {
        if (bf16) {
            uint32_t u = (uint32_t)((const uint16_t *)base)[at + m] << 16;
            memcpy(&buf[m], &u, 4);
        } else {
            buf[m] = ((const float *)base)[at + m];
        }
    }
    vf v;
    memcpy(&v, buf, sizeof v);
    return v;
}

static inline vf vload_n(const void *base, int bf16, int64_t at, int count) {
    return count >= W ? vload_any(base, bf16, at) : vload_part(base, bf16, at, count);
}

static inline void vstore_n(void *base, int bf16, int64_t at, vf v, int count) {
    if (count >= W) {
        vstore_any(base, bf16, at, v);
        return;
    }
    if (bf16) {
        uint16_t buf[W];
        vstore_any(buf, 1, 0, v);
        memcpy((uint16_t *)base + at, buf, sizeof(uint16_t) * count);
    } else {
        memcpy((float *)base + at, &v, sizeof(float) * count);
    }
}

/* keeps a loaded vector in a register: without it the compiler folds the load into every FMA that
 * reads it, one load per FMA, and the loops run at the load ports' pace instead of the FMA units' */
#define PIN(x) __asm__("" : "+v"(x))

static inline vf splat(float x) { return (vf){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* e^x for x <= 0 (Cephes' expf: 2^n * e^r, |r| <= ln2/2, degree-6 polynomial, about 1 ulp). */
static inline vf vexp(vf x) {
    const vf lo = splat(-87.0f);
    vi below = x < lo;
    x = (vf)((below & (vi)lo) | (~below & (vi)x));
    const vf magic = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf t = x * splat(1.44269504088896341f) + magic;
    vi n = (vi)t - (vi)magic;
    vf fn = t - magic;
    vf r = x - fn * splat(0.693359375f) - fn * splat(-2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    return (vf)((vi)p + (n << 23));
}

typedef struct {
    const void *base;
    int64_t head, token; /* strides in elements */
} view;

typedef struct {
    view q, k, v, ck, cv, out;
    int bf16, heads, kv_heads, dim, padded_dim; /* padded_dim: dim rounded up to whole vectors */
    const int64_t *segments; /* [n][6]: start, end, prefix start, prefix end, cached start, cached end */
    float scale;
} problem;

/* keys a segment sees before its own: its cached span, then its in-row prefix */
static inline int64_t earlier_keys(const int64_t *s) { return (s[5] - s[4]) + (s[3] - s[2]); }

/* every key a segment's last query sees */
static inline int64_t all_keys(const int64_t *s) { return earlier_keys(s) + (s[1] - s[0]); }

/* a row count rounded up to whole score tiles (two vectors) */
static inline int64_t padded(int64_t keys) { return (keys + 2 * W - 1) / (2 * W) * (2 * W); }

/* the j-th key (or value) row a segment sees: cached, then in-row prefix, then its own */
static inline int64_t row_at(const int64_t *s, int64_t j, int *from_cache) {
    int64_t cached = s[5] - s[4], prefix = s[3] - s[2];
    *from_cache = j < cached;
    if (j < cached) return s[4] + j;
    if (j < cached + prefix) return s[2] + j - cached;
    return s[0] + j - cached - prefix;
}

/* a segment's keys for key/value head g, in float32: transposed [padded_dim][stride] (rows past dim
 * unused), zero past the last key, then its values [stride][padded_dim], zero past dim */
static void gather(const problem *p, const int64_t *seg, int g, int64_t stride, float *kt) {
    const int dim = p->dim, padded_dim = p->padded_dim, bf16 = p->bf16;
    const int64_t keys = all_keys(seg);
    float *vals = kt + stride * padded_dim;
    for (int64_t j = 0; j < keys; j++) {
        int cached;
        int64_t row = row_at(seg, j, &cached);
        const view *kv = cached ? &p->ck : &p->k, *vv = cached ? &p->cv : &p->v;
        int64_t ka = g * kv->head + row * kv->token, va = g * vv->head + row * vv->token;
        for (int d = 0; d < dim; d += W) {
            vf kd = vload_n(kv->base, bf16, ka + d, dim - d);
            vstore(vals + j * padded_dim + d, vload_n(vv->base, bf16, va + d, dim - d));
            for (int m = 0; m < W && d + m < dim; m++) kt[(int64_t)(d + m) * stride + j] = kd[m];
        }
    }
    for (int d = 0; d < dim; d++)
        for (int64_t j = keys; j < stride; j++) kt[(int64_t)d * stride + j] = 0.0f;
    memset(vals + keys * padded_dim, 0, sizeof(float) * (stride - keys) * padded_dim);
}

/* out rows [row, row + rows) of head h, dims [d0, d0 + width * W): the softmax weights `sc` times
 * the values, over `seen` keys (width a constant where inlined: the accumulators stay in registers) */
static inline __attribute__((always_inline)) void weigh(const problem *p, const float *vals, const float *sc,
                                                         int64_t stride, int64_t seen, int rows, const float *total,
                                                         int h, int64_t row, int d0, const int width) {
    const int dim = p->dim, padded_dim = p->padded_dim;
    vf acc[R][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < width; c++) acc[r][c] = splat(0.0f);
    for (int64_t j = 0; j < seen; j++) {
        const float *vr = vals + j * padded_dim + d0;
        vf w0 = splat(sc[j]), w1 = splat(sc[stride + j]), w2 = splat(sc[2 * stride + j]), w3 = splat(sc[3 * stride + j]);
        for (int c = 0; c < width; c++) {
            vf vc = vload(vr + c * W);
            PIN(vc);
            acc[0][c] += w0 * vc;
            acc[1][c] += w1 * vc;
            acc[2][c] += w2 * vc;
            acc[3][c] += w3 * vc;
        }
    }
    for (int r = 0; r < rows; r++) {
        const vf inverse = splat(1.0f / total[r]);
        int64_t at = h * p->out.head + (row + r) * p->out.token + d0;
        for (int c = 0; c < width; c++)
            vstore_n((void *)p->out.base, p->bf16, at + c * W, acc[r][c] * inverse, dim - d0 - c * W);
    }
}

/* one work item: queries [first, last) of segment `seg`, every query head of key/value head `g`,
 * against the keys and values `gather` laid out at `kt` */
static void attend_block(const problem *p, const int64_t *seg, int g, int64_t first, int64_t last,
                         const float *kt, int64_t stride, float *sc) {
    const int dim = p->dim, padded_dim = p->padded_dim, bf16 = p->bf16, group = p->heads / p->kv_heads;
    const int64_t earlier = earlier_keys(seg);
    const float *vals = kt + stride * padded_dim;
    float qf[R][256];
    for (int h = g * group; h < (g + 1) * group; h++) {
        for (int64_t i0 = first; i0 < last; i0 += R) {
            const int rows = (int)(last - i0 < R ? last - i0 : R);
            for (int r = 0; r < R; r++)
                for (int d = 0; d < dim; d += W)
                    vstore(&qf[r][d], r < rows ? vload_n(p->q.base, bf16, h * p->q.head + (seg[0] + i0 + r) * p->q.token + d, dim - d) *
                                                     splat(p->scale)
                                               : splat(0.0f));
            const int64_t seen = earlier + i0 + rows; /* keys the block's last row sees */
            const int64_t tiles = (seen + 2 * W - 1) / (2 * W);
            for (int64_t t = 0; t < tiles; t++) {
                vf acc[R][2];
                for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = splat(0.0f);
                const float *col = kt + t * 2 * W;
                for (int d = 0; d < dim; d++) {
                    vf k0 = vload(col + (int64_t)d * stride), k1 = vload(col + (int64_t)d * stride + W);
                    PIN(k0);
                    PIN(k1);
                    for (int r = 0; r < R; r++) {
                        vf qd = splat(qf[r][d]);
                        acc[r][0] += qd * k0;
                        acc[r][1] += qd * k1;
                    }
                }
                for (int r = 0; r < R; r++) {
                    vstore(sc + r * stride + t * 2 * W, acc[r][0]);
                    vstore(sc + r * stride + t * 2 * W + W, acc[r][1]);
                }
            }
            float total[R];
            for (int r = 0; r < rows; r++) {
                float *s = sc + r * stride;
                const int64_t n = earlier + i0 + r + 1; /* keys this row sees */
                vf most = splat(s[0]);
                int64_t k = 0;
                for (; k + W <= n; k += W) {
                    vf x = vload(s + k);
                    vi larger = x > most;
                    most = (vf)((larger & (vi)x) | (~larger & (vi)most));
                }
                float top = s[0];
                for (int m = 0; m < W; m++) top = most[m] > top ? most[m] : top;
                for (; k < n; k++) top = s[k] > top ? s[k] : top;
                vf sum = splat(0.0f);
                int64_t j = 0;
                for (; j + W <= n; j += W) {
                    vf e = vexp(vload(s + j) - splat(top));
                    vstore(s + j, e);
                    sum += e;
                }
                float whole = 0.0f;
                if (j < n) {
                    float buf[W];
                    vstore(buf, vexp(vload(s + j) - splat(top)));
                    for (int64_t m = j; m < n; m++) whole += (s[m] = buf[m - j]);
                    j = n;
                }
                for (; j < tiles * 2 * W; j++) s[j] = 0.0f;
                for (int m = 0; m < W; m++) whole += sum[m];
                total[r] = whole;
            }
            for (int r = rows; r < R; r++) {
                memset(sc + r * stride, 0, sizeof(float) * tiles * 2 * W);
                total[r] = 1.0f;
            }
            for (int d0 = 0; d0 < padded_dim;) {
                if (padded_dim - d0 >= 4 * W) {
                    weigh(p, vals, sc, stride, seen, rows, total, h, seg[0] + i0, d0, 4);
                    d0 += 4 * W;
                } else {
                    weigh(p, vals, sc, stride, seen, rows, total, h, seg[0] + i0, d0, 1);
                    d0 += W;
                }
            }
        }
    }
}

/* Returns 0, or -1 when a work item could not allocate its scratch (the caller falls back). */
int rk_segment_attention(
    int bf16, int heads, int kv_heads, int dim, float scale, int threads,
    const void *q, int64_t q_head, int64_t q_token,
    const void *k, int64_t k_head, int64_t k_token,
    const void *v, int64_t v_head, int64_t v_token,
    const void *ck, int64_t ck_head, int64_t ck_token,
    const void *cv, int64_t cv_head, int64_t cv_token,
    void *out, int64_t out_head, int64_t out_token,
    const int64_t *segments, int count) {
    problem p = {
        {q, q_head, q_token}, {k, k_head, k_token}, {v, v_head, v_token},
        {ck, ck_head, ck_token}, {cv, cv_head, cv_token}, {out, out_head, out_token},
        bf16, heads, kv_heads, dim, (dim + W - 1) / W * W, segments, scale,
    };
    int64_t items = 0, floats = 0, widest = 0;
    /* each segment's place in the pool, then its key stride */
    int64_t *at = malloc(sizeof(int64_t) * 2 * (count ? count : 1));
    if (!at) return -1;
    for (int s = 0; s < count; s++) {
        const int64_t *seg = segments + 6 * s;
        int64_t stride = padded(all_keys(seg));
        at[2 * s] = floats;
        at[2 * s + 1] = stride;
        floats += stride * 2 * p.padded_dim * kv_heads;
        widest = stride > widest ? stride : widest;
        items += (seg[1] - seg[0] + QB - 1) / QB * kv_heads;
    }
    int64_t *plan = malloc(sizeof(int64_t) * 3 * (items ? items : 1));
    float *pool = malloc(sizeof(float) * (floats ? floats : 1));
    float *scores = malloc(sizeof(float) * R * widest * (threads > 0 ? threads : 1));
    if (!plan || !pool || !scores) {
        free(at), free(plan), free(pool), free(scores);
        return -1;
    }
    int64_t n = 0;
    /* longest segments' last blocks first: they see the most keys */
    for (int s = 0; s < count; s++) {
        int64_t length = segments[6 * s + 1] - segments[6 * s];
        for (int64_t b = (length + QB - 1) / QB - 1; b >= 0; b--)
            for (int g = 0; g < kv_heads; g++) {
                plan[3 * n] = s;
                plan[3 * n + 1] = g;
                plan[3 * n + 2] = b;
                n++;
            }
    }
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < (int64_t)count * kv_heads; i++) {
            const int64_t s = i / kv_heads, g = i % kv_heads, stride = at[2 * s + 1];
            gather(&p, segments + 6 * s, (int)g, stride, pool + at[2 * s] + g * stride * 2 * p.padded_dim);
        }
        float *mine = scores + (int64_t)omp_get_thread_num() * R * widest;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++) {
            const int64_t s = plan[3 * i], g = plan[3 * i + 1], stride = at[2 * s + 1];
            const int64_t *seg = segments + 6 * s;
            int64_t first = plan[3 * i + 2] * QB, length = seg[1] - seg[0];
            int64_t last = first + QB < length ? first + QB : length;
            attend_block(&p, seg, (int)g, first, last, pool + at[2 * s] + g * stride * 2 * p.padded_dim, stride, mine);
        }
    }
    free(at), free(plan), free(pool), free(scores);
    return 0;
}
