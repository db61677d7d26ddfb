// SPDX-License-Identifier: MIT
// A dependency-free SVG line chart, enough for the paper's figures (Figure 4: footprint per guest
// against the number of guests, a line per technique; Figures 1-3: time or ops/s against guests
// per core, with 95 % intervals).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ht {

struct PlotLine {
    std::string label;
    std::vector<std::pair<double, double>> points;  // (x, y), x ascending
    bool dashed = false;
    std::vector<double> err;  // empty, or per point: an error bar y +- err (a 95 % interval)
    bool hollow = false;      // markers drawn as rings (the paper's values beside ours)
    int color = -1;           // index into the palette; -1: the line's own index
};

struct PlotSpec {
    std::string title, x_label, y_label;
    bool log2_x = false;  // x axis in powers of two (1, 2, 4, 8 ... evenly spaced)
    bool log_y = false;   // y axis logarithmic (decades), for lines orders of magnitude apart
    std::vector<PlotLine> lines;
};

std::string render_line_plot_svg(const PlotSpec& spec);

}  // namespace ht
