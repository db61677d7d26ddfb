// SPDX-License-Identifier: MIT
// Work split over threads, for the scans that read and hash memory (the dedup scan) or walk a
// large sorted index: as many threads as CPUs unless asked, this thread one of them.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <iterator>
#include <system_error>
#include <thread>
#include <vector>

namespace ht {

// `asked` threads, or with 0 one per CPU (at most 16).
inline unsigned worker_threads(unsigned asked = 0) {
    if (asked) return asked;
    return std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
}

// Runs fn(worker index) on `threads` threads, this one included, and waits for all. What one
// throws is rethrown here once all have ended (the first, by index); a thread that cannot be
// started has its share run on this thread.
template <class F>
void on_threads(unsigned threads, F&& fn) {
    std::vector<std::exception_ptr> errors(std::max(1u, threads));
    auto run = [&](unsigned t) {
        try {
            fn(t);
        } catch (...) {
            errors[t] = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    std::vector<unsigned> inline_shares{0u};
    for (unsigned t = 1; t < threads; ++t) {
        try {
            pool.emplace_back(run, t);
        } catch (const std::system_error&) {  // out of threads (a container's pids.max)
            inline_shares.push_back(t);
        }
    }
    for (unsigned t : inline_shares) run(t);
    for (auto& t : pool) t.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
}

// Splits [0, n) into one contiguous chunk per thread, at least `min_chunk` long (fewer threads
// if n is small: small inputs stay on this thread), and runs fn(begin, end) for each.
template <class F>
void for_chunks(std::size_t n, std::size_t min_chunk, unsigned threads, F&& fn) {
    const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, n / std::max<std::size_t>(1, min_chunk)));
    on_threads(unsigned(parts), [&](unsigned t) { fn(n * t / parts, n * (t + 1) / parts); });
}

namespace detail {
// Sorts [first, last), whose keys all lie between the pivots' neighbours: cut at the middle pivot
// (in place), then each side with its pivots on a thread of its own, down to one part per thread.
template <class It, class T, class Less>
void sort_between(It first, It last, const T* pivots, std::size_t npivots, Less& less) {
    if (npivots == 0) {
        std::sort(first, last, less);
        return;
    }
    const std::size_t mid = npivots / 2;
    const T& pivot = pivots[mid];
    const It cut = std::partition(first, last, [&](const auto& x) { return less(x, pivot); });
    on_threads(2, [&](unsigned side) {
        if (side == 0) sort_between(first, cut, pivots, mid, less);
        else sort_between(cut, last, pivots + mid + 1, npivots - mid - 1, less);
    });
}
}  // namespace detail

// std::sort over `threads` threads, in place, with no buffer (fresh memory is dear where a page
// fault traps to a hypervisor): the range is cut into parts (threads rounded down to a power of
// two) at keys drawn from an even sample of it, each cut an in-place partition made on its own
// thread, and the parts are sorted side by side. Parts are as even as the sample says (a key
// repeated over much of the input makes its part larger: still sorted, only later). Inputs under
// 64k elements are sorted on this thread.
template <class It, class Less>
void parallel_sort(It first, It last, Less less, unsigned threads) {
    const std::size_t n = std::size_t(last - first);
    std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, n / 32768));
    if (parts < 2) {
        std::sort(first, last, less);
        return;
    }
    while (parts & (parts - 1)) parts &= parts - 1;  // a power of two: each cut halves the threads
    using T = typename std::iterator_traits<It>::value_type;
    constexpr std::size_t kPerPart = 64;
    std::vector<T> sample;
    sample.reserve(parts * kPerPart);
    for (std::size_t i = 0; i < parts * kPerPart; ++i) sample.push_back(first[std::ptrdiff_t(i * n / (parts * kPerPart))]);
    std::sort(sample.begin(), sample.end(), less);
    std::vector<T> pivots;
    for (std::size_t k = 1; k < parts; ++k) pivots.push_back(sample[k * kPerPart]);
    detail::sort_between(first, last, pivots.data(), pivots.size(), less);
}

}  // namespace ht
