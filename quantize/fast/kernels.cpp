// The fast integer reference's kernels (fluorogate.quantize.fast): exact integer arithmetic, vectorised
// over the frame's width with GCC vector extensions (AVX-512 with -march=native where the CPU has it,
// narrower vectors or scalar code elsewhere: the same integers on every target).
//
// Exactness is the caller's proof, not this file's: the Python side (fast/handlers.py) picks a lane type
// per step from the IR's range analysis (int16 lanes where every partial sum is proven within +-32767,
// else int32 lanes where it is proven within +-(2**31 - 1)) and refuses the step otherwise. Built with
// -fwrapv, so even the lanes past a row's end (computed, then overwritten with zeros) have defined
// behaviour.
//
// Layout of every tensor (C, H, W): planes of H + 2 * PAD_ROWS rows by `stride` elements, the frame at row
// PAD_ROWS, column ALIGN; everything outside the frame is zero, so a k x k window ('same' zero padding,
// k <= 5) reads its borders without a test. Pointers passed here point at pixel (0, 0) of channel 0;
// `plane` and `stride` are in elements. Every kernel writes rows 0..H-1 of its output and, after each
// row, zeros that row's right margin (columns W .. stride - ALIGN - 1), which its vector blocks overran.
//
// The one rounding (docs/ir.md, quantize/rounding.py), fused after every producer as the `Epi`logue:
//   y = x << ls; y = (y + add + ((y >> rs) & even)) >> rs; y = clamp(y, lo, hi)
// with add = 2**(rs-1) - even, even = 1 for half_even and 0 for half_up (add = even = 0 when rs = 0):
// half_even (x + half - 1 + ((x >> s) & 1)) >> s, half_up (x + half) >> s; a relu is lo = max(lo, 0).

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int ALIGN = 16;       // columns left of the frame (>= the widest window's half, 2)
constexpr int PAD_ROWS = 2;     // zero rows above and below every plane
constexpr int MAX_BLOCK = 128;  // the widest block of pixels a kernel computes at once

template <typename T, int N>
struct Vec {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};

template <typename L>
struct Lane {  // one 64-byte vector of accumulator lanes
  static constexpr int N = 64 / sizeof(L);
  typedef typename Vec<L, N>::type v;
};

template <int N>
using I32 = typename Vec<int32_t, N>::type;

struct Epi {
  int32_t ls, rs, add, even, lo, hi;
};

template <typename L, typename T>
inline typename Lane<L>::v load(const T* p) {
  typename Vec<T, Lane<L>::N>::type raw;
  memcpy(&raw, p, sizeof raw);
  return __builtin_convertvector(raw, typename Lane<L>::v);
}

template <int N, typename T>
inline void store(T* p, I32<N> v) {
  typename Vec<T, N>::type raw = __builtin_convertvector(v, typename Vec<T, N>::type);
  memcpy(p, &raw, sizeof raw);
}

template <int N>
inline I32<N> epilogue(I32<N> y, const Epi& e) {
  y = y << e.ls;
  y = (y + e.add + ((y >> e.rs) & e.even)) >> e.rs;
  y = y < e.lo ? e.lo : y;
  return y > e.hi ? e.hi : y;
}

template <typename T>
inline void zero_margin(T* row, int W, long stride) {
  memset(row + W, 0, (stride - ALIGN - W) * sizeof(T));
}

// Dense k x k conv, OB output channels x XV vectors of pixels per block (OB * XV accumulators).
template <typename L, typename Ti, typename To, int K, int OB, int XV>
void conv_block(const Ti* in, int C, long in_plane, long in_stride, To* out, long out_plane, long out_stride,
                int H, int W, const L* w, const L* bias, const Epi& e) {
  typedef typename Lane<L>::v v;
  constexpr int N = Lane<L>::N, P = K / 2;
  static_assert(N * XV <= MAX_BLOCK, "block wider than the margin");
  const long wo = (long)C * K * K;  // weight stride between output channels
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; x += N * XV) {
      v acc[OB][XV];
      for (int o = 0; o < OB; ++o)
        for (int j = 0; j < XV; ++j) acc[o][j] = (v){} + bias[o];
      for (int c = 0; c < C; ++c) {
        const Ti* src = in + c * in_plane + (long)(y - P) * in_stride + (x - P);
        const L* wc = w + (long)c * K * K;
        for (int dy = 0; dy < K; ++dy)
          for (int dx = 0; dx < K; ++dx) {
            v xs[XV];
            for (int j = 0; j < XV; ++j) xs[j] = load<L>(src + dy * in_stride + dx + j * N);
            for (int o = 0; o < OB; ++o) {
              const L wv = wc[o * wo + dy * K + dx];
              for (int j = 0; j < XV; ++j) acc[o][j] += wv * xs[j];
            }
          }
      }
      for (int o = 0; o < OB; ++o)
        for (int j = 0; j < XV; ++j)
          store<N>(out + o * out_plane + (long)y * out_stride + x + j * N,
                   epilogue<N>(__builtin_convertvector(acc[o][j], I32<N>), e));
    }
    for (int o = 0; o < OB; ++o) zero_margin(out + o * out_plane + (long)y * out_stride, W, out_stride);
  }
}

template <typename L, typename Ti, typename To, int K>
void conv(const Ti* in, int C, long in_plane, long in_stride, To* out, int O, long out_plane, long out_stride,
          int H, int W, const L* w, const L* bias, const Epi& e) {
  constexpr int N = Lane<L>::N;
  const long wo = (long)C * K * K;
  int o = 0;
  for (; o + 8 <= O; o += 8)
    conv_block<L, Ti, To, K, 8, 2>(in, C, in_plane, in_stride, out + o * out_plane, out_plane, out_stride, H, W,
                                   w + o * wo, bias + o, e);
  for (; o + 4 <= O; o += 4)
    conv_block<L, Ti, To, K, 4, 64 / N>(in, C, in_plane, in_stride, out + o * out_plane, out_plane, out_stride, H, W,
                                        w + o * wo, bias + o, e);
  for (; o < O; ++o)
    conv_block<L, Ti, To, K, 1, 128 / N>(in, C, in_plane, in_stride, out + o * out_plane, out_plane, out_stride, H,
                                         W, w + o * wo, bias + o, e);
}

// Depthwise k x k conv: channel c's window times its own filter.
template <typename L, typename Ti, typename To, int K>
void dwconv(const Ti* in, int C, long in_plane, long in_stride, To* out, long out_plane, long out_stride, int H,
            int W, const L* w, const L* bias, const Epi& e) {
  typedef typename Lane<L>::v v;
  constexpr int N = Lane<L>::N, P = K / 2, XV = 64 / N;
  for (int c = 0; c < C; ++c) {
    const L* wc = w + (long)c * K * K;
    for (int y = 0; y < H; ++y) {
      To* dst = out + c * out_plane + (long)y * out_stride;
      for (int x = 0; x < W; x += N * XV) {
        v acc[XV];
        for (int j = 0; j < XV; ++j) acc[j] = (v){} + bias[c];
        const Ti* src = in + c * in_plane + (long)(y - P) * in_stride + (x - P);
        for (int dy = 0; dy < K; ++dy)
          for (int dx = 0; dx < K; ++dx)
            for (int j = 0; j < XV; ++j) acc[j] += wc[dy * K + dx] * load<L>(src + dy * in_stride + dx + j * N);
        for (int j = 0; j < XV; ++j)
          store<N>(dst + x + j * N, epilogue<N>(__builtin_convertvector(acc[j], I32<N>), e));
      }
      zero_margin(dst, W, out_stride);
    }
  }
}

// Element-wise: out = epi(sum_i in_i << shift_i), in int32 lanes (add, concat's copies, a lone requant or relu).
constexpr int EN = 16;

template <typename Ti>
void accumulate_row(int32_t* acc, const Ti* src, int W, int shift, bool first) {
  for (int x = 0; x < W; x += EN) {
    I32<EN> v = load<int32_t>(src + x) << shift, a;
    if (!first) {
      memcpy(&a, acc + x, sizeof a);
      v += a;
    }
    memcpy(acc + x, &v, sizeof v);
  }
}

template <typename To>
void eltwise(int n, const void* const* ins, const int* wide, const long* planes, const long* strides,
             const int* shifts, int C, int H, int W, To* out, long out_plane, long out_stride, const Epi& e) {
  std::vector<int32_t> buffer(((W + EN - 1) / EN) * EN);
  int32_t* acc = buffer.data();
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y) {
      for (int i = 0; i < n; ++i) {
        const long at = c * planes[i] + (long)y * strides[i];
        if (wide[i])
          accumulate_row(acc, static_cast<const int32_t*>(ins[i]) + at, W, shifts[i], i == 0);
        else
          accumulate_row(acc, static_cast<const int16_t*>(ins[i]) + at, W, shifts[i], i == 0);
      }
      To* dst = out + c * out_plane + (long)y * out_stride;
      for (int x = 0; x < W; x += EN) {
        I32<EN> a;
        memcpy(&a, acc + x, sizeof a);
        store<EN>(dst + x, epilogue<EN>(a, e));
      }
      zero_margin(dst, W, out_stride);
    }
}

// 2x2 max, stride 2 (H, W: the output's size).
template <typename Ti, typename To>
void maxpool2(const Ti* in, long in_plane, long in_stride, int C, int H, int W, To* out, long out_plane,
              long out_stride) {
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y) {
      const Ti* a = in + c * in_plane + 2L * y * in_stride;
      const Ti* b = a + in_stride;
      To* dst = out + c * out_plane + (long)y * out_stride;
      for (int x = 0; x < W; ++x) {
        Ti m0 = a[2 * x] > a[2 * x + 1] ? a[2 * x] : a[2 * x + 1];
        Ti m1 = b[2 * x] > b[2 * x + 1] ? b[2 * x] : b[2 * x + 1];
        dst[x] = (To)(m0 > m1 ? m0 : m1);
      }
      zero_margin(dst, W, out_stride);
    }
}

// Nearest x2 (H, W: the input's size).
template <typename Ti, typename To>
void upsample2(const Ti* in, long in_plane, long in_stride, int C, int H, int W, To* out, long out_plane,
               long out_stride) {
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y) {
      const Ti* src = in + c * in_plane + (long)y * in_stride;
      To* d0 = out + c * out_plane + 2L * y * out_stride;
      To* d1 = d0 + out_stride;
      for (int x = 0; x < W; ++x) d0[2 * x] = d0[2 * x + 1] = (To)src[x];
      zero_margin(d0, 2 * W, out_stride);
      memcpy(d1, d0, (out_stride - ALIGN) * sizeof(To));
    }
}

}  // namespace

extern "C" {

int fg_align() { return ALIGN; }
int fg_pad_rows() { return PAD_ROWS; }
int fg_max_block() { return MAX_BLOCK; }

#define FG_EPI int ls, int rs, int add, int even, int lo, int hi
#define FG_E Epi{ls, rs, add, even, lo, hi}

#define FG_CONV(L, LN, TI, TIN, TO, TON, K)                                                                      \
  void fg_conv_##LN##_##TIN##_##TON##_k##K(const TI* in, int C, long in_plane, long in_stride, TO* out, int O,   \
                                           long out_plane, long out_stride, int H, int W, const L* w,         \
                                           const L* b, FG_EPI) {                                              \
    conv<L, TI, TO, K>(in, C, in_plane, in_stride, out, O, out_plane, out_stride, H, W, w, b, FG_E);            \
  }                                                                                                            \
  void fg_dwconv_##LN##_##TIN##_##TON##_k##K(const TI* in, int C, long in_plane, long in_stride, TO* out,       \
                                             long out_plane, long out_stride, int H, int W, const L* w,       \
                                             const L* b, FG_EPI) {                                            \
    dwconv<L, TI, TO, K>(in, C, in_plane, in_stride, out, out_plane, out_stride, H, W, w, b, FG_E);            \
  }
#define FG_CONV_K(L, LN, TI, TIN, TO, TON) \
  FG_CONV(L, LN, TI, TIN, TO, TON, 1) FG_CONV(L, LN, TI, TIN, TO, TON, 3) FG_CONV(L, LN, TI, TIN, TO, TON, 5)
#define FG_CONV_IO(L, LN)                          \
  FG_CONV_K(L, LN, int16_t, i16, int16_t, i16)     \
  FG_CONV_K(L, LN, int16_t, i16, int32_t, i32)     \
  FG_CONV_K(L, LN, int32_t, i32, int16_t, i16)     \
  FG_CONV_K(L, LN, int32_t, i32, int32_t, i32)
FG_CONV_IO(int16_t, l16)
FG_CONV_IO(int32_t, l32)

#define FG_RESAMPLE(TI, TIN, TO, TON)                                                                            \
  void fg_maxpool2_##TIN##_##TON(const TI* in, long in_plane, long in_stride, int C, int H, int W, TO* out,    \
                                 long out_plane, long out_stride) {                                          \
    maxpool2<TI, TO>(in, in_plane, in_stride, C, H, W, out, out_plane, out_stride);                            \
  }                                                                                                            \
  void fg_upsample2_##TIN##_##TON(const TI* in, long in_plane, long in_stride, int C, int H, int W, TO* out,   \
                                  long out_plane, long out_stride) {                                         \
    upsample2<TI, TO>(in, in_plane, in_stride, C, H, W, out, out_plane, out_stride);                           \
  }
FG_RESAMPLE(int16_t, i16, int16_t, i16)
FG_RESAMPLE(int16_t, i16, int32_t, i32)
FG_RESAMPLE(int32_t, i32, int16_t, i16)
FG_RESAMPLE(int32_t, i32, int32_t, i32)

#define FG_ELTWISE(TO, TON)                                                                                      \
  void fg_eltwise_##TON(int n, const void* const* ins, const int* wide, const long* planes, const long* strides, \
                        const int* shifts, int C, int H, int W, TO* out, long out_plane, long out_stride,      \
                        FG_EPI) {                                                                              \
    eltwise<TO>(n, ins, wide, planes, strides, shifts, C, H, W, out, out_plane, out_stride, FG_E);              \
  }
FG_ELTWISE(int16_t, i16)
FG_ELTWISE(int32_t, i32)
}
