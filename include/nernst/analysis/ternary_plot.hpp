#pragma once
/// \file
/// \brief A composition triangle as SVG (the ternary hull of a pseudo-ternary series): corners
/// labelled, each entry a point at its end-member fractions coloured by a value (E_hull,
/// meV/atom) with a colour bar, hull vertices ringed, hull facets drawn as triangles.
///
/// Geometry: corner 0 bottom left, corner 1 bottom right, corner 2 on top; a point with
/// fractions (w0, w1, w2) sits at w0 P0 + w1 P1 + w2 P2 (barycentric), so an edge holds the
/// entries of the binary between its two corners.

#include <nernst/analysis/svg_plot.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct TernaryPlot {
  std::string title, value_label = "E_hull (meV/atom)";
  std::array<std::string, 3> corners;           ///< corner labels (end members)
  std::vector<std::array<double, 3>> points;    ///< end-member fractions of each entry (sum 1)
  std::vector<double> values;                   ///< colour value of each entry
  std::vector<bool> marked;                     ///< hull vertices (ringed)
  std::vector<std::array<std::size_t, 3>> facets;  ///< triangles of entry indices
  int width = 640, height = 600;
};

inline std::string render_ternary_svg(const TernaryPlot& p) {
  using detail::fmt_num;
  if (p.values.size() != p.points.size() || (!p.marked.empty() && p.marked.size() != p.points.size()))
    throw ValueError("ternary plot: " + std::to_string(p.points.size()) + " points, " + std::to_string(p.values.size()) + " values, " +
                     std::to_string(p.marked.size()) + " marks");
  const double side = std::min(p.width - 200.0, (p.height - 130.0) / (std::sqrt(3.0) / 2));
  const double x0 = 70, yb = p.height - 70.0;
  const std::array<std::array<double, 2>, 3> P{{{x0, yb}, {x0 + side, yb}, {x0 + side / 2, yb - side * std::sqrt(3.0) / 2}}};
  auto at = [&](const std::array<double, 3>& w) {
    return std::array<double, 2>{w[0] * P[0][0] + w[1] * P[1][0] + w[2] * P[2][0], w[0] * P[0][1] + w[1] * P[1][1] + w[2] * P[2][1]};
  };
  double lo = 0, hi = 0;
  for (double v : p.values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(hi > lo)) hi = lo + 1;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << p.width << "\" height=\"" << p.height
    << "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << p.width / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << detail::esc(p.title) << "</text>\n";
  o << "<polygon points=\"" << P[0][0] << "," << P[0][1] << " " << P[1][0] << "," << P[1][1] << " " << P[2][0] << "," << P[2][1]
    << "\" fill=\"none\" stroke=\"black\" stroke-width=\"1.5\"/>\n";
  // Bottom labels run inwards from their corners (long labels stay inside the figure).
  const std::array<std::string, 3> anchor{"start", "end", "middle"};
  const std::array<std::array<double, 2>, 3> shift{{{-20, 24}, {20, 24}, {0, -12}}};
  for (int k = 0; k < 3; ++k)
    o << "<text x=\"" << P[k][0] + shift[k][0] << "\" y=\"" << P[k][1] + shift[k][1] << "\" text-anchor=\"" << anchor[k] << "\">"
      << detail::esc(p.corners[k]) << "</text>\n";
  for (const auto& f : p.facets) {
    o << "<polygon points=\"";
    for (std::size_t i : f) {
      const auto q = at(p.points.at(i));
      o << q[0] << "," << q[1] << " ";
    }
    o << "\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1\"/>\n";
  }
  // Highest values first, so that where entries share a composition the lowest is on top.
  std::vector<std::size_t> order(p.points.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](std::size_t i) { return std::isfinite(p.values[i]) ? p.values[i] : std::numeric_limits<double>::infinity(); };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return key(i) > key(j); });
  for (std::size_t i : order) {
    const auto q = at(p.points[i]);
    const std::string c = std::isfinite(p.values[i]) ? detail::colormap((p.values[i] - lo) / (hi - lo)) : "#bbbbbb";
    o << "<circle cx=\"" << q[0] << "\" cy=\"" << q[1] << "\" r=\"4.5\" fill=\"" << c << "\" stroke=\"#333333\" stroke-width=\"0.5\"/>\n";
    if (!p.marked.empty() && p.marked[i])
      o << "<circle cx=\"" << q[0] << "\" cy=\"" << q[1] << "\" r=\"8\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  }
  // Colour bar (top right) and the legend of the marks.
  const double bx = p.width - 90.0, by = 60, bh = 200;
  for (int s = 0; s < 50; ++s)
    o << "<rect x=\"" << bx << "\" y=\"" << by + bh * (49 - s) / 50.0 << "\" width=\"16\" height=\"" << bh / 50.0 + 0.5 << "\" fill=\""
      << detail::colormap(s / 49.0) << "\"/>\n";
  o << "<text x=\"" << bx + 20 << "\" y=\"" << by + 5 << "\">" << fmt_num(hi) << "</text>\n";
  o << "<text x=\"" << bx + 20 << "\" y=\"" << by + bh << "\">" << fmt_num(lo) << "</text>\n";
  o << "<text x=\"" << p.width - 8 << "\" y=\"" << by - 12 << "\" text-anchor=\"end\">" << detail::esc(p.value_label) << "</text>\n";
  o << "<circle cx=\"" << bx + 8 << "\" cy=\"" << by + bh + 30 << "\" r=\"8\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  o << "<text x=\"" << bx + 20 << "\" y=\"" << by + bh + 35 << "\">on hull</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace analysis
NERNST_NAMESPACE_END
