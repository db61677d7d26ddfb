// SPDX-License-Identifier: MIT
// Work split over threads, for the scans that read and hash memory (the dedup scan) or walk a
// large sorted index: as many threads as CPUs unless asked, this thread one of them.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
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

// std::sort over `threads` threads: chunks sorted side by side, then merged pairwise (the merges of
// one level side by side too). Inputs under 64k elements are sorted on this thread.
template <class It, class Less>
void parallel_sort(It first, It last, Less less, unsigned threads) {
    const std::size_t n = std::size_t(last - first);
    const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, n / 32768));
    if (parts < 2) {
        std::sort(first, last, less);
        return;
    }
    std::vector<std::size_t> at(parts + 1);
    for (std::size_t t = 0; t <= parts; ++t) at[t] = n * t / parts;
    on_threads(unsigned(parts), [&](unsigned t) { std::sort(first + at[t], first + at[t + 1], less); });
    for (std::size_t width = 1; width < parts; width *= 2) {
        std::vector<std::size_t> lefts;
        for (std::size_t l = 0; l + width < parts; l += 2 * width) lefts.push_back(l);
        on_threads(unsigned(lefts.size()), [&](unsigned k) {
            const std::size_t l = lefts[k], m = l + width, r = std::min(parts, l + 2 * width);
            std::inplace_merge(first + at[l], first + at[m], first + at[r], less);
        });
    }
}

}  // namespace ht
