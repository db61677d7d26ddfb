// SPDX-License-Identifier: MIT
// A dependency-free SVG line chart, enough for the paper's figures (Figure 4: footprint per guest
// against the number of guests, a line per technique).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ht {

struct PlotLine {
    std::string label;
    std::vector<std::pair<double, double>> points;  // (x, y), x ascending
    bool dashed = false;
};

struct PlotSpec {
    std::string title, x_label, y_label;
    bool log2_x = false;  // x axis in powers of two (1, 2, 4, 8 ... evenly spaced)
    bool log_y = false;   // y axis logarithmic (decades), for lines orders of magnitude apart
    std::vector<PlotLine> lines;
};

std::string render_line_plot_svg(const PlotSpec& spec);

}  // namespace ht
