// SPDX-License-Identifier: MIT
// The paper's report: Tables 1-3 and Figures 1-4 in the paper's layout, each of our numbers beside
// the paper's, drawn from the JSON each experiment wrote (experiments/paper runs them), as one
// self-contained HTML file (inline SVG and CSS, no script, readable offline).
//
// Every number of ours in a table carries where it came from: data-src="FILE#/json/pointer" and
// data-value (the JSON value in full), so a reader, or a test, can check it against the JSON.
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct PaperInputs {
    std::map<std::string, nlohmann::json> results;  // by step name: "startup" -> startup.json
    nlohmann::json paper;                           // paper.json (the plan and how each step ended), or null
    std::vector<std::string> problems;              // files that could not be read, one line each
    bool has_trace = false;                         // DIR/trace holds a flame graph and a timeline
};

// Reads DIR/paper.json and each known step's DIR/NAME.json (those present).
PaperInputs read_paper_dir(const std::filesystem::path& dir);

// The report as one HTML document.
std::string render_paper_html(const PaperInputs& in);

// The "differences from the paper" lines, generated from the data: each figure of ours that is
// more than 1.5x off the paper's (either way), with what differs on this host that could explain
// it (accelerator, kernel).
std::vector<std::string> paper_differences(const PaperInputs& in);

// A short text summary for the terminal: Table 3, Figure 4's two points, the differences.
std::string render_paper_text(const PaperInputs& in);

}  // namespace ht
