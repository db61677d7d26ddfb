// SPDX-License-Identifier: MIT
// fio's JSON output (--output-format=json), as `hypetrace io` gets it back from a guest: what came
// over a console or a job channel is outside input, so a field of the wrong type reads as absent
// and nothing here throws (tests/fuzz).
#pragma once
#include <string>
#include <vector>

namespace ht {

// One fio job section's result in one run.
struct FioJobResult {
    std::string name;
    double read_iops = 0, write_iops = 0;
    double read_bw_kib = 0, write_bw_kib = 0;
    double read_p50_us = 0, read_p99_us = 0, write_p50_us = 0, write_p99_us = 0;
    int error = 0;  // fio's errno for the section, 0 if it ran
    double ops() const { return read_iops + write_iops; }
};
// Parses fio's --output-format=json (one run; text before the first '{' is skipped). Empty when
// there is no JSON object with a "jobs" array.
std::vector<FioJobResult> parse_fio_json(const std::string& text);

}  // namespace ht
