// fourier_mix (mixing.h) on the host: Re(F_N x F_E) of each [N, E] slice through a complex
// DFT in float64 along E (each row) then along N (each column). The DFT runs at any length:
// the iterative radix-2 FFT for powers of two, Bluestein's chirp-z transform else (the DFT as
// a convolution, computed by radix-2 FFTs of a power-of-two length >= 2n - 1).
#include <cmath>
#include <complex>
#include <cstdint>
#include <vector>

#include "elementwise.h"
#include "mixing.h"

namespace nf::cpu {
namespace {

using Complex = std::complex<double>;

const double kPi = std::acos(-1.0);

int64_t next_pow2(int64_t n) {
  int64_t m = 1;
  while (m < n) m *= 2;
  return m;
}

// The radix-2 FFT of a power-of-two length m, X_k = sum_j x_j e^{-2 pi i jk / m}, in place.
class Radix2 {
 public:
  explicit Radix2(int64_t m) : m_(m), twiddles_(static_cast<size_t>(m / 2)) {
    for (int64_t k = 0; k < m / 2; ++k) twiddles_[k] = std::polar(1.0, -2.0 * kPi * static_cast<double>(k) / static_cast<double>(m));
  }

  void run(Complex* a) const {
    for (int64_t i = 1, j = 0; i < m_; ++i) {  // bit-reversal permutation
      int64_t bit = m_ >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j |= bit;
      if (i < j) std::swap(a[i], a[j]);
    }
    for (int64_t len = 2; len <= m_; len *= 2) {
      const int64_t step = m_ / len, half = len / 2;
      for (int64_t start = 0; start < m_; start += len)
        for (int64_t k = 0; k < half; ++k) {
          const Complex t = a[start + k + half] * twiddles_[k * step];
          a[start + k + half] = a[start + k] - t;
          a[start + k] += t;
        }
    }
  }

  // The inverse transform times m (conjugating around the forward one).
  void run_inverse_unscaled(Complex* a) const {
    for (int64_t i = 0; i < m_; ++i) a[i] = std::conj(a[i]);
    run(a);
    for (int64_t i = 0; i < m_; ++i) a[i] = std::conj(a[i]);
  }

 private:
  int64_t m_;
  std::vector<Complex> twiddles_;  // e^{-2 pi i k / m}, k < m / 2
};

// The forward DFT of length n, in place. Bluestein (n not a power of two): with the chirp
// c_k = e^{-pi i k^2 / n}, jk = (j^2 + k^2 - (k - j)^2) / 2 gives X_k = c_k sum_j (x_j c_j) conj(c_{k-j}),
// a convolution, done as FFT_m^-1(FFT_m(a) . FFT_m(b)) with a = x c zero-padded to m and
// b = conj(c) wrapped around (b_k = b_{m-k} = conj(c_k), k < n).
class Dft {
 public:
  explicit Dft(int64_t n) : n_(n), m_(n > 0 && (n & (n - 1)) == 0 ? n : next_pow2(2 * n - 1)), fft_(m_) {
    if (m_ == n_) return;
    chirp_.resize(static_cast<size_t>(n));
    filter_.assign(static_cast<size_t>(m_), Complex(0, 0));
    for (int64_t k = 0; k < n; ++k) {
      const int64_t k2 = (k * k) % (2 * n);  // the angle mod 2 pi, exactly
      chirp_[k] = std::polar(1.0, -kPi * static_cast<double>(k2) / static_cast<double>(n));
      filter_[k] = std::conj(chirp_[k]);
      if (k > 0) filter_[m_ - k] = filter_[k];
    }
    fft_.run(filter_.data());
    work_.resize(static_cast<size_t>(m_));
  }

  void run(Complex* x) {
    if (m_ == n_) return fft_.run(x);
    for (int64_t k = 0; k < m_; ++k) work_[k] = k < n_ ? x[k] * chirp_[k] : Complex(0, 0);
    fft_.run(work_.data());
    for (int64_t k = 0; k < m_; ++k) work_[k] *= filter_[k];
    fft_.run_inverse_unscaled(work_.data());
    const double inv_m = 1.0 / static_cast<double>(m_);
    for (int64_t k = 0; k < n_; ++k) x[k] = chirp_[k] * work_[k] * inv_m;
  }

 private:
  int64_t n_, m_;
  Radix2 fft_;
  std::vector<Complex> chirp_, filter_, work_;
};

}  // namespace

void fourier_mix(const FourierMixParams& p) {
  const int64_t B = p.x.shape[0], N = p.x.shape[1], E = p.x.shape[2];
  Dft along_e(E), along_n(N);
  std::vector<Complex> slice(static_cast<size_t>(N * E)), column(static_cast<size_t>(N));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t base = b * N * E;
    for (int64_t i = 0; i < N * E; ++i) slice[i] = Complex(load(p.x.data, p.x.dtype, base + i), 0.0);
    for (int64_t n = 0; n < N; ++n) along_e.run(slice.data() + n * E);
    for (int64_t e = 0; e < E; ++e) {
      for (int64_t n = 0; n < N; ++n) column[n] = slice[n * E + e];
      along_n.run(column.data());
      for (int64_t n = 0; n < N; ++n) store(p.out.data, p.out.dtype, base + n * E + e, column[n].real());
    }
  }
}

}  // namespace nf::cpu
