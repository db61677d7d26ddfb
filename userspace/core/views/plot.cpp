// SPDX-License-Identifier: MIT
#include "core/views/plot.h"

#include "core/base/text.h"
#include "core/views/report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace ht {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string num(double v) {
    if (std::fabs(v) >= 100 || v == std::floor(v)) return fmt("%.0f", v);
    if (std::fabs(v) >= 10) return fmt("%.1f", v);
    return fmt("%.2g", v);
}

// A "nice" step for about `ticks` intervals over [0, hi].
double nice_step(double hi, int ticks) {
    double raw = hi / ticks;
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (raw <= m * mag) return m * mag;
    return 10 * mag;
}

}  // namespace


// The spec without points that were not measured (NaN or infinite x, y or interval): a gap in a
// line, never "nan" in the SVG.
static PlotSpec without_gaps(const PlotSpec& in) {
    PlotSpec out = in;
    for (auto& l : out.lines) {
        PlotLine kept = l;
        kept.points.clear();
        kept.err.clear();
        for (std::size_t k = 0; k < l.points.size(); ++k) {
            const double e = k < l.err.size() ? l.err[k] : 0;
            if (!std::isfinite(l.points[k].first) || !std::isfinite(l.points[k].second)) continue;
            kept.points.push_back(l.points[k]);
            if (!l.err.empty()) kept.err.push_back(std::isfinite(e) ? e : 0);
        }
        l = std::move(kept);
    }
    return out;
}

std::string render_line_plot_svg(const PlotSpec& given) {
    const PlotSpec spec = without_gaps(given);
    const double W = 880, H = 480, left = 80, right = 330, top = 50, bottom = 60;  // right: the legend
    const double pw = W - left - right, ph = H - top - bottom;

    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = 0;
    for (const auto& l : spec.lines)
        for (std::size_t k = 0; k < l.points.size(); ++k) {
            auto [x, y] = l.points[k];
            const double e = k < l.err.size() ? l.err[k] : 0;
            xmin = std::min(xmin, x);
            xmax = std::max(xmax, x);
            if (y - e > 0) ymin = std::min(ymin, y - e);
            else if (y > 0) ymin = std::min(ymin, y);
            ymax = std::max(ymax, y + e);
        }
    if (!std::isfinite(xmin)) xmin = 1, xmax = 2;
    if (xmax <= xmin) xmax = xmin + 1;
    if (ymax <= 0) ymax = 1;
    if (!std::isfinite(ymin)) ymin = 1;

    auto fx_raw = [&](double x) { return spec.log2_x ? std::log2(std::max(x, 1e-9)) : x; };
    const double x0 = fx_raw(xmin), x1 = fx_raw(xmax) > x0 ? fx_raw(xmax) : x0 + 1;
    double y0 = 0, y1 = 0, step = 0;
    if (spec.log_y) {
        y0 = std::floor(std::log10(ymin));
        y1 = std::ceil(std::log10(ymax));
        if (y1 <= y0) y1 = y0 + 1;
    } else {
        step = nice_step(ymax * 1.05, 6);
        y1 = std::ceil(ymax * 1.05 / step) * step;
    }
    auto px = [&](double x) { return left + (fx_raw(x) - x0) / (x1 - x0) * pw; };
    auto py = [&](double y) {
        double f = spec.log_y ? (std::log10(std::max(y, 1e-9)) - y0) / (y1 - y0) : y / y1;
        return top + ph - f * ph;
    };

    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      // From the left edge: a title wider than the plot area is never cut off on the left.
      << "<text x=\"10\" y=\"28\" font-size=\"15\">" << xml_escape(spec.title)
      << "</text>\n";
    // Grid and y ticks.
    std::vector<double> yticks;
    if (spec.log_y)
        for (double e = y0; e <= y1 + 1e-9; ++e) yticks.push_back(std::pow(10.0, e));
    else
        for (double v = 0; v <= y1 + step / 2; v += step) yticks.push_back(v);
    for (double v : yticks) {
        double y = py(v);
        o << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
          << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << num(v)
          << "</text>\n";
    }
    // X ticks at the data's x values.
    std::vector<double> xs;
    for (const auto& l : spec.lines)
        for (auto [x, y] : l.points) xs.push_back(x);
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    for (double v : xs) {
        double x = px(v);
        o << "<line x1=\"" << x << "\" y1=\"" << top + ph << "\" x2=\"" << x << "\" y2=\"" << top + ph + 5
          << "\" stroke=\"black\"/>\n<text x=\"" << x << "\" y=\"" << top + ph + 20 << "\" text-anchor=\"middle\">"
          << num(v) << "</text>\n";
    }
    o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"black\"/>\n"
      << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 15 << "\" text-anchor=\"middle\">" << xml_escape(spec.x_label)
      << "</text>\n"
      << "<text transform=\"translate(22," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(spec.y_label) << "</text>\n";
    // Lines, markers, legend.
    for (std::size_t i = 0; i < spec.lines.size(); ++i) {
        const auto& l = spec.lines[i];
        const std::size_t ci = l.color >= 0 ? std::size_t(l.color) : i;
        const char* c = kColors[ci % (sizeof kColors / sizeof *kColors)];
        std::string pts;
        for (auto [x, y] : l.points) pts += fmt("%.1f", px(x)) + "," + fmt("%.1f", py(y)) + " ";
        o << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\""
          << (l.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"" << pts << "\"/>\n";
        for (std::size_t k = 0; k < l.points.size(); ++k) {
            auto [x, y] = l.points[k];
            const double e = k < l.err.size() ? l.err[k] : 0;
            if (e > 0) {  // the interval: a vertical bar with caps
                const double xs = px(x), ya = py(std::max(y - e, spec.log_y ? 1e-9 : 0.0)), yb = py(y + e);
                o << "<path d=\"M" << xs << "," << ya << "V" << yb << "M" << xs - 4 << "," << ya << "h8M" << xs - 4 << "," << yb
                  << "h8\" stroke=\"" << c << "\" fill=\"none\"/>\n";
            }
            o << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"" << (l.hollow ? "4.5" : "3.5")
              << (l.hollow ? std::string("\" fill=\"white\" stroke-width=\"2\" stroke=\"") : std::string("\" fill=\""))
              << c << "\"><title>"
              << xml_escape(l.label) << ": " << num(x) << " -> " << fmt("%.4g", y) << (e > 0 ? " +- " + fmt("%.3g", e) : "")
              << "</title></circle>\n";
        }
        double ly = top + 10 + 22 * double(i);
        o << "<line x1=\"" << left + pw + 15 << "\" y1=\"" << ly << "\" x2=\"" << left + pw + 45 << "\" y2=\"" << ly
          << "\" stroke=\"" << c << "\" stroke-width=\"2\"" << (l.dashed ? " stroke-dasharray=\"6,4\"" : "")
          << "/>\n<text x=\"" << left + pw + 52 << "\" y=\"" << ly + 4 << "\">" << xml_escape(l.label) << "</text>\n";
    }
    o << "</svg>\n";
    return o.str();
}

}  // namespace ht
