/* wfbt: the pointwise part of one LSTM/GRU timestep for every member and batch row, fused.
 *
 * On a CPU the batched trainer's step is a few batched matrix products (MKL, through torch) and, per
 * timestep, a dozen elementwise operations on (members x batch x hidden) tensors. As separate torch
 * operations each of those streams its operands through memory again; here one pass does them all.
 * Built on first use by forecasters/kernels.py (cc -O3 -ffast-math, AVX2/FMA when the CPU has them,
 * vector expf from glibc's libmvec) and called through ctypes with raw pointers; the layouts are the
 * ones forecasters/batched.py allocates (rows of a (M * B, width) block, row strides given where the
 * block is a column slice). All float32. nthreads > 1 splits the rows over OpenMP threads.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

#define ROWS_LOOP _Pragma("omp parallel for schedule(static) num_threads(nthreads) if(nthreads > 1)")

/* LSTM forward. a: (R, 4H) pre-activations with the g rows already doubled, overwritten with
 * i, f, g, o after their nonlinearities (g = 2 sigmoid(2x) - 1 = tanh x). c_prev: (R, H) or NULL at t = 0.
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
        for (int64_t k = 0; k < 4 * hidden; ++k) ar[k] = sigm(ar[k]);
        for (int64_t k = 0; k < hidden; ++k) ag[k] = 2.0f * ag[k] - 1.0f;
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

/* LSTM backward, one timestep. dh = dh_out + dh_rec (dh_rec: rows of stride ld_rec, or NULL at the
 * last step); dc (R, H) in/out: on entry dc_(t+1) (ignored when f_next is NULL), on exit dc_t, where
 *   dc_t = dc_(t+1) * f_(t+1) + dh * o * (1 - tanh(c)^2)      (f_next: rows of a's layout at t + 1)
 * and d (R, 4H) gets the gradients of the unscaled pre-activations
 *   (dc g i(1-i), dc c_(t-1) f(1-f), dc i (1-g^2), dh tanh(c) o(1-o)). */
void wfbt_lstm_bwd(const float *a, const float *c_prev, const float *tc, const float *f_next,
                   const float *dh_out, const float *dh_rec, float *dc, float *d,
                   int64_t rows, int64_t hidden, int64_t ld_rec, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        const float *ar = a + r * 4 * hidden;
        const float *ai = ar, *af = ar + hidden, *ag = ar + 2 * hidden, *ao = ar + 3 * hidden;
        const float *tr = tc + r * hidden, *ho = dh_out + r * hidden;
        const float *hrec = dh_rec ? dh_rec + r * ld_rec : NULL;
        const float *cp = c_prev ? c_prev + r * hidden : NULL;
        const float *fn = f_next ? f_next + r * 4 * hidden : NULL;
        float *dcr = dc + r * hidden, *dr = d + r * 4 * hidden;
        for (int64_t k = 0; k < hidden; ++k) {
            float dh = ho[k] + (hrec ? hrec[k] : 0.0f);
            float t = tr[k], i = ai[k], f = af[k], g = ag[k], o = ao[k];
            float dcv = dh * o * (1.0f - t * t) + (fn ? dcr[k] * fn[k] : 0.0f);
            dcr[k] = dcv;
            dr[k] = dcv * g * i * (1.0f - i);
            dr[hidden + k] = cp ? dcv * cp[k] * f * (1.0f - f) : 0.0f;
            dr[2 * hidden + k] = dcv * i * (1.0f - g * g);
            dr[3 * hidden + k] = dh * t * o * (1.0f - o);
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

/* GRU backward, one timestep, given dh (R, H), the whole gradient reaching h_t:
 *   dn = dh (1 - z)(1 - n^2), dr = dn hp_n r(1 - r), dz = dh (h_prev - n) z(1 - z)
 * dx (R, 3H) = (dr, dz, dn): the input-side pre-activations; dhp (R, 3H) = (dr, dz, dn r): W_hh h + b_hh.
 * If base is not NULL it gets dh_out_prev + dh z, the part of dh_(t-1) that does not go through W_hh. */
void wfbt_gru_bwd(const float *gates, const float *hp, const float *h_prev, const float *dh,
                  const float *dh_out_prev, float *dx, float *dhp, float *base,
                  int64_t rows, int64_t hidden, int nthreads) {
    ROWS_LOOP
    for (int64_t r = 0; r < rows; ++r) {
        const float *g = gates + r * 3 * hidden, *p = hp + r * 3 * hidden, *dhr = dh + r * hidden;
        const float *pr = h_prev ? h_prev + r * hidden : NULL;
        float *x = dx + r * 3 * hidden, *q = dhp + r * 3 * hidden;
        for (int64_t k = 0; k < hidden; ++k) {
            float rg = g[k], z = g[hidden + k], n = g[2 * hidden + k], d = dhr[k];
            float dn = d * (1.0f - z) * (1.0f - n * n);
            float dr = dn * p[2 * hidden + k] * rg * (1.0f - rg);
            float dz = d * ((pr ? pr[k] : 0.0f) - n) * z * (1.0f - z);
            x[k] = dr; x[hidden + k] = dz; x[2 * hidden + k] = dn;
            q[k] = dr; q[hidden + k] = dz; q[2 * hidden + k] = dn * rg;
        }
        if (base) {
            const float *o = dh_out_prev + r * hidden;
            float *b = base + r * hidden;
            for (int64_t k = 0; k < hidden; ++k) b[k] = o[k] + dhr[k] * g[hidden + k];
        }
    }
}
