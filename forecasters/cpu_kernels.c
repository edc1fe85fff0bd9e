/* wfbt: the pointwise part of one LSTM/GRU timestep for every member and batch row, fused.
 *
 * On a CPU the batched trainer's step is a few batched matrix products (MKL, through torch) and, per
 * timestep, a dozen elementwise operations on (members x batch x hidden) tensors. As separate torch
 * operations each of those streams its operands through memory again; here one pass does them all.
 * Built on first use by forecasters/kernels.py (cc -O3 -ffast-math, AVX2/FMA when the CPU has them,
 * vector expf from glibc's libmvec) and called through ctypes with raw pointers; the layouts are the
 * ones forecasters/batched.py allocates (rows of a (M * B, width) block, row strides given where the
 * block is a column slice). All float32. nthreads > 1 splits the rows over OpenMP threads.
 * Also here: Adam per member, and the dropout keep-masks of forecasters/rng.py's counter-based generator.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* exp(x) as in Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for exp(r), 2^n
 * from the exponent bits. Relative error about 2e-7 (float32 rounding); inline, so loops vectorise
 * without calls into a vector math library. */
static inline float fast_exp(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } two_n = { .i = ((int32_t)n + 127) << 23 };
    return p * two_n.f;
}

static inline float sigm(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

#define ROWS_LOOP _Pragma("omp parallel for schedule(static) num_threads(nthreads) if(nthreads > 1)")

/* LSTM forward. a: (R, 4H) pre-activations, overwritten with i, f, g, o after their nonlinearities
 * (sigmoid; tanh x = 2 sigmoid(2x) - 1 for g). c_prev: (R, H) or NULL at t = 0.
 * Writes c, tanh(c), h (R, H) and, if h_next is not NULL, h again at h_next + r * ld_next. */
void wfbt_lstm_fwd(float *a, const float *c_prev, float *c, float *tc, float *h, float *h_next,
                   int64_t rows, int64_t hidden, int64_t ld_next, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        float *ar = a + r * 4 * hidden;
        float *ai = ar, *af = ar + hidden, *ag = ar + 2 * hidden, *ao = ar + 3 * hidden;
        float *cr = c + r * hidden, *tr = tc + r * hidden, *hr = h + r * hidden;
        const float *cp = c_prev ? c_prev + r * hidden : NULL;
#pragma omp simd
        for (int64_t k = 0; k < 2 * hidden; ++k) ar[k] = sigm(ar[k]);
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) ag[k] = 2.0f * sigm(2.0f * ag[k]) - 1.0f;
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) ao[k] = sigm(ao[k]);
        if (cp) {
            for (int64_t k = 0; k < hidden; ++k) cr[k] = ai[k] * ag[k] + af[k] * cp[k];
        } else {
            for (int64_t k = 0; k < hidden; ++k) cr[k] = ai[k] * ag[k];
        }
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) tr[k] = 2.0f * sigm(2.0f * cr[k]) - 1.0f;
        for (int64_t k = 0; k < hidden; ++k) hr[k] = ao[k] * tr[k];
        if (h_next) {
            float *hn = h_next + r * ld_next;
            for (int64_t k = 0; k < hidden; ++k) hn[k] = hr[k];
        }
    }
}

/* LSTM backward, one timestep. dh = dh_out + dh_rec (dh_out: NULL where no gradient reaches h_t from
 * outside the recurrence, as below a top layer's last step; dh_rec: rows of stride ld_rec, or NULL at the
 * last step); dc (R, H) in/out: on entry dc_(t+1) (ignored when f_next is NULL), on exit dc_t, where
 *   dc_t = dc_(t+1) * f_(t+1) + dh * o * (1 - tanh(c)^2)      (f_next: rows of a's layout at t + 1)
 * and d (R, 4H) gets the gradients of the unscaled pre-activations
 *   (dc g i(1-i), dc c_(t-1) f(1-f), dc i (1-g^2), dh tanh(c) o(1-o)). */
void wfbt_lstm_bwd(const float *a, const float *c_prev, const float *tc, const float *f_next,
                   const float *dh_out, const float *dh_rec, float *dc, float *d,
                   int64_t rows, int64_t hidden, int64_t ld_rec, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        const float *restrict ar = a + r * 4 * hidden;
        const float *restrict ai = ar, *restrict af = ar + hidden, *restrict ag = ar + 2 * hidden;
        const float *restrict ao = ar + 3 * hidden, *restrict tr = tc + r * hidden;
        float *restrict dcr = dc + r * hidden, *restrict dr = d + r * 4 * hidden;
        float dh[hidden];  /* branches hoisted out of the loops below, so that they vectorise */
        const float *restrict ho = dh_out ? dh_out + r * hidden : NULL;
        const float *restrict hrec = dh_rec ? dh_rec + r * ld_rec : NULL;
        if (ho && hrec) {
            for (int64_t k = 0; k < hidden; ++k) dh[k] = ho[k] + hrec[k];
        } else if (ho) {
            for (int64_t k = 0; k < hidden; ++k) dh[k] = ho[k];
        } else if (hrec) {
            for (int64_t k = 0; k < hidden; ++k) dh[k] = hrec[k];
        } else {
            for (int64_t k = 0; k < hidden; ++k) dh[k] = 0.0f;
        }
        if (f_next) {
            const float *restrict fn = f_next + r * 4 * hidden;
            for (int64_t k = 0; k < hidden; ++k) dcr[k] = dh[k] * ao[k] * (1.0f - tr[k] * tr[k]) + dcr[k] * fn[k];
        } else {
            for (int64_t k = 0; k < hidden; ++k) dcr[k] = dh[k] * ao[k] * (1.0f - tr[k] * tr[k]);
        }
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) {
            float i = ai[k], g = ag[k], o = ao[k];
            dr[k] = dcr[k] * g * i * (1.0f - i);
            dr[2 * hidden + k] = dcr[k] * i * (1.0f - g * g);
            dr[3 * hidden + k] = dh[k] * tr[k] * o * (1.0f - o);
        }
        if (c_prev) {
            const float *restrict cp = c_prev + r * hidden;
            for (int64_t k = 0; k < hidden; ++k) dr[hidden + k] = dcr[k] * cp[k] * af[k] * (1.0f - af[k]);
        } else {
            for (int64_t k = 0; k < hidden; ++k) dr[hidden + k] = 0.0f;
        }
    }
}

/* GRU forward. gx: (R, 3H) input-side pre-activations (W_ih x + b_ih), overwritten with r, z, n;
 * hp: (R, 3H) W_hh h_(t-1) + b_hh; h_prev: (R, H) or NULL at t = 0.
 *   r, z = sigmoid(gx + hp), n = tanh(gx_n + r hp_n), h = n + z (h_prev - n)
 * Writes h (R, H) and, if h_next is not NULL, h again at h_next + r * ld_next. */
void wfbt_gru_fwd(float *gx, const float *hp, const float *h_prev, float *h, float *h_next,
                  int64_t rows, int64_t hidden, int64_t ld_next, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        float *g = gx + r * 3 * hidden;
        const float *p = hp + r * 3 * hidden;
        float *hr = h + r * hidden;
        const float *pr = h_prev ? h_prev + r * hidden : NULL;
#pragma omp simd
        for (int64_t k = 0; k < 2 * hidden; ++k) g[k] = sigm(g[k] + p[k]);
        float *gr = g, *gz = g + hidden, *gn = g + 2 * hidden;
        const float *pn = p + 2 * hidden;
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) gn[k] = 2.0f * sigm(2.0f * (gn[k] + gr[k] * pn[k])) - 1.0f;
        if (pr) {
            for (int64_t k = 0; k < hidden; ++k) hr[k] = gn[k] + gz[k] * (pr[k] - gn[k]);
        } else {
            for (int64_t k = 0; k < hidden; ++k) hr[k] = gn[k] - gz[k] * gn[k];
        }
        if (h_next) {
            float *hn = h_next + r * ld_next;
            for (int64_t k = 0; k < hidden; ++k) hn[k] = hr[k];
        }
    }
}

/* GRU backward, one timestep, given dh (R, H), the whole gradient reaching h_t (dh_out_prev: what reaches
 * h_(t-1) from outside the recurrence, or NULL for none):
 *   dn = dh (1 - z)(1 - n^2), dr = dn hp_n r(1 - r), dz = dh (h_prev - n) z(1 - z)
 * dx (R, 3H) = (dr, dz, dn): the input-side pre-activations; dhp (R, 3H) = (dr, dz, dn r): W_hh h + b_hh.
 * If base is not NULL it gets dh_out_prev + dh z, the part of dh_(t-1) that does not go through W_hh. */
void wfbt_gru_bwd(const float *gates, const float *hp, const float *h_prev, const float *dh,
                  const float *dh_out_prev, float *dx, float *dhp, float *base,
                  int64_t rows, int64_t hidden, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        const float *restrict g = gates + r * 3 * hidden, *restrict p = hp + r * 3 * hidden;
        const float *restrict dhr = dh + r * hidden;
        float *restrict x = dx + r * 3 * hidden, *restrict q = dhp + r * 3 * hidden;
        float prev[hidden];  /* h_(t-1), zero at t = 0: the branch stays out of the loop */
        if (h_prev) {
            const float *restrict pr = h_prev + r * hidden;
            for (int64_t k = 0; k < hidden; ++k) prev[k] = pr[k];
        } else {
            for (int64_t k = 0; k < hidden; ++k) prev[k] = 0.0f;
        }
#pragma omp simd
        for (int64_t k = 0; k < hidden; ++k) {
            float rg = g[k], z = g[hidden + k], n = g[2 * hidden + k], dv = dhr[k];
            float dn = dv * (1.0f - z) * (1.0f - n * n);
            float dr = dn * p[2 * hidden + k] * rg * (1.0f - rg);
            float dz = dv * (prev[k] - n) * z * (1.0f - z);
            x[k] = dr; x[hidden + k] = dz; x[2 * hidden + k] = dn;
            q[k] = dr; q[hidden + k] = dz; q[2 * hidden + k] = dn * rg;
        }
        if (base && dh_out_prev) {
            const float *restrict o = dh_out_prev + r * hidden;
            float *restrict b = base + r * hidden;
            for (int64_t k = 0; k < hidden; ++k) b[k] = o[k] + dhr[k] * g[hidden + k];
        } else if (base) {
            float *restrict b = base + r * hidden;
            for (int64_t k = 0; k < hidden; ++k) b[k] = dhr[k] * g[hidden + k];
        }
    }
}

/* Adam, per member, with that step's coefficients coef (M, 4) = (1 - beta1, 1 - beta2, step size,
 * 1 / sqrt(bias correction 2)), as torch.optim.Adam computes it:
 *   m1 += w1 (g - m1);  m2 += w2 (g^2 - m2);  p -= step * m1 / (sqrt(m2) * inv_bc2 + eps)
 * A member with zero coefficients (no batch at this step) does not move. */
void wfbt_adam(float *param, const float *grad, float *m1, float *m2, const float *coef,
               int64_t members, int64_t n, float eps, int nthreads) {
    ROWS_LOOP
    for (int64_t m = 0; m < members; ++m) {
        const float w1 = coef[4 * m], w2 = coef[4 * m + 1], step = coef[4 * m + 2], inv = coef[4 * m + 3];
        float *restrict p = param + m * n, *restrict a = m1 + m * n, *restrict b = m2 + m * n;
        const float *restrict g = grad + m * n;
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) {
            float gk = g[k];
            float ak = a[k] + w1 * (gk - a[k]);
            float bk = b[k] + w2 * (gk * gk - b[k]);
            a[k] = ak;
            b[k] = bk;
            p[k] -= step * ak / (sqrtf(bk) * inv + eps);
        }
    }
}

/* forecasters/rng.py's mix32 (hash-prospector's [16 21f0aaad 15 735a2d97 15]) on uint32, whose overflow
 * wraps by definition: the same bits as the torch twin's int64 arithmetic, which never overflows. */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return x;
}

/* Dropout keep-masks of one step, as rng.keep_masks defines them: keys (M, 2) int64 (k0, k1 < 2^32);
 * out (M, n) float32, n = rows * width. Word j = mix32(mix32(j ^ k0) ^ k1) decides elements 2j (low 16
 * bits) and 2j + 1 (high 16 bits): scale when those bits are >= threshold, else 0. */
void wfbt_keep_masks(const int64_t *keys, float *out, int64_t members, int64_t n, uint32_t threshold,
                     float scale, int nthreads) {
    ROWS_LOOP
    for (int64_t m = 0; m < members; ++m) {
        const uint32_t k0 = (uint32_t)keys[2 * m], k1 = (uint32_t)keys[2 * m + 1];
        float *restrict o = out + m * n;
        const int64_t pairs = n / 2;
#pragma omp simd
        for (int64_t j = 0; j < pairs; ++j) {
            uint32_t w = mix32(mix32((uint32_t)j ^ k0) ^ k1);
            o[2 * j] = (w & 0xffffu) >= threshold ? scale : 0.0f;
            o[2 * j + 1] = (w >> 16) >= threshold ? scale : 0.0f;
        }
        if (n & 1) {
            uint32_t w = mix32(mix32((uint32_t)pairs ^ k0) ^ k1);
            o[n - 1] = (w & 0xffffu) >= threshold ? scale : 0.0f;
        }
    }
}
