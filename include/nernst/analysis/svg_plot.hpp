#pragma once
/// \file
/// \brief Minimal SVG plotting for transport results: MSD curves with the fit window shaded,
/// Arrhenius plots with error bars and the 300 K extrapolation, density heat maps.
/// Plain SVG 1.1 text, no dependency; opens in any browser or Inkscape.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct PlotSeries {
  std::vector<double> x, y;
  std::vector<double> y_lo, y_hi;  ///< optional error bars (absolute y values)
  std::string label;
  std::string color = "#1f77b4";
  bool points = false;             ///< markers instead of a line
  bool dashed = false;
};

struct PlotBand {  ///< shaded x interval (e.g. the fit window)
  double x0 = 0, x1 = 0;
  std::string label;
  std::string color = "#ffdd88";
};

struct PlotMarker {  ///< vertical line with a label
  double x = 0;
  std::string label;
};

struct Plot {
  std::string title, xlabel, ylabel;
  bool log_y = false;
  std::vector<PlotSeries> series;
  std::vector<PlotBand> bands;
  std::vector<PlotMarker> markers;
  std::vector<std::string> notes;  ///< text lines printed in the upper (or lower) left of the plot area
  bool notes_bottom = false;       ///< notes in the lower left corner (e.g. Arrhenius: the upper left holds the extrapolation)
  double width = 720, height = 480;
};

namespace detail {
inline std::string fmt_num(double v) {
  char b[32];
  if (v != 0 && (std::abs(v) < 1e-3 || std::abs(v) >= 1e5)) std::snprintf(b, sizeof b, "%.1e", v);
  else std::snprintf(b, sizeof b, "%g", v);
  return b;
}
inline std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}
/// "Nice" tick positions covering [lo, hi].
inline std::vector<double> ticks(double lo, double hi, int n = 6) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  return t;
}
/// Viridis-like colour map (5 anchors, linear interpolation), v in [0, 1].
inline std::string colormap(double v) {
  static const double c[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  v = std::clamp(v, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(v));
  const double f = v - i;
  char b[16];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", static_cast<int>(c[i][0] + f * (c[i + 1][0] - c[i][0])),
                static_cast<int>(c[i][1] + f * (c[i + 1][1] - c[i][1])), static_cast<int>(c[i][2] + f * (c[i + 1][2] - c[i][2])));
  return b;
}
}  // namespace detail

/// Renders a line/scatter plot to an SVG string.
inline std::string render_svg(const Plot& p) {
  using namespace detail;
  const double L = 80, R = 20, T = 40, B = 60;
  const double W = p.width - L - R, H = p.height - T - B;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  auto ty = [&](double y) { return p.log_y ? std::log10(y) : y; };
  for (const auto& s : p.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (p.log_y && !(s.y[i] > 0)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      const double lo = s.y_lo.empty() ? s.y[i] : s.y_lo[i], hi = s.y_hi.empty() ? s.y[i] : s.y_hi[i];
      if (!p.log_y || lo > 0) y0 = std::min(y0, ty(lo));
      y1 = std::max(y1, ty(hi));
    }
  for (const auto& m : p.markers) x0 = std::min(x0, m.x), x1 = std::max(x1, m.x);
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  const double xp = 0.03 * (x1 - x0), yp = 0.05 * (y1 - y0);
  x0 -= xp, x1 += xp, y0 -= yp, y1 += yp;
  auto X = [&](double x) { return L + (x - x0) / (x1 - x0) * W; };
  auto Y = [&](double y) { return T + H - (ty(y) - y0) / (y1 - y0) * H; };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << p.width << "\" height=\"" << p.height
    << "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << p.width / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << esc(p.title) << "</text>\n";
  for (const auto& b : p.bands) {
    const double a = std::max(X(b.x0), L), e = std::min(X(b.x1), L + W);
    o << "<rect x=\"" << a << "\" y=\"" << T << "\" width=\"" << std::max(0.0, e - a) << "\" height=\"" << H
      << "\" fill=\"" << b.color << "\" fill-opacity=\"0.45\"/>\n";
    // Label at the bottom edge: the top-left corner holds the annotation text.
    o << "<text x=\"" << (a + e) / 2 << "\" y=\"" << T + H - 8 << "\" text-anchor=\"middle\" fill=\"#806000\">" << esc(b.label) << "</text>\n";
  }
  // Axes, grid and ticks.
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W << "\" height=\"" << H << "\" fill=\"none\" stroke=\"black\"/>\n";
  for (double t : ticks(x0, x1))
    o << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"" << T << "\" y2=\"" << T + H
      << "\" stroke=\"#ddd\"/><text x=\"" << X(t) << "\" y=\"" << T + H + 18 << "\" text-anchor=\"middle\">" << fmt_num(t) << "</text>\n";
  if (p.log_y) {
    // Decades; within a narrow range (< 2 decades) also 2× and 5× (< 1 decade: 1…9×) so that
    // the axis always carries several labelled values.
    const double span = y1 - y0;
    std::vector<double> mant{1.0};
    if (span < 1.0) mant = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    else if (span < 2.0) mant = {1, 2, 5};
    for (double e = std::floor(y0); e <= y1; e += 1.0)
      for (double mt : mant) {
        const double v = e + std::log10(mt);
        if (v < y0 || v > y1) continue;
        const double yy = T + H - (v - y0) / (y1 - y0) * H;
        char lab[32];
        std::snprintf(lab, sizeof lab, "%.0fe%d", mt, static_cast<int>(e));
        o << "<line x1=\"" << L << "\" x2=\"" << L + W << "\" y1=\"" << yy << "\" y2=\"" << yy << "\" stroke=\""
          << (mt == 1.0 ? "#ccc" : "#eee") << "\"/><text x=\"" << L - 6 << "\" y=\"" << yy + 4 << "\" text-anchor=\"end\">" << lab
          << "</text>\n";
      }
  } else {
    for (double t : ticks(y0, y1)) {
      const double yy = T + H - (t - y0) / (y1 - y0) * H;
      o << "<line x1=\"" << L << "\" x2=\"" << L + W << "\" y1=\"" << yy << "\" y2=\"" << yy << "\" stroke=\"#ddd\"/><text x=\""
        << L - 6 << "\" y=\"" << yy + 4 << "\" text-anchor=\"end\">" << fmt_num(t) << "</text>\n";
    }
  }
  o << "<text x=\"" << L + W / 2 << "\" y=\"" << p.height - 18 << "\" text-anchor=\"middle\">" << esc(p.xlabel) << "</text>\n";
  o << "<text transform=\"translate(20," << T + H / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(p.ylabel) << "</text>\n";
  for (const auto& m : p.markers)
    o << "<line x1=\"" << X(m.x) << "\" x2=\"" << X(m.x) << "\" y1=\"" << T << "\" y2=\"" << T + H
      << "\" stroke=\"#c00\" stroke-dasharray=\"3,3\"/><text x=\"" << X(m.x) + 4 << "\" y=\"" << T + 14 << "\" fill=\"#c00\">"
      << esc(m.label) << "</text>\n";
  // Series.
  o << "<g clip-path=\"none\">\n";
  double ly = T + 20;
  std::ostringstream legend;  // drawn last, on a white box, so that curves never run through it
  std::size_t longest = 0;    // legend width from the longest label (≈ 7 px per character)
  for (const auto& s : p.series) {
    std::size_t n = 0;
    for (unsigned char c : s.label) n += (c & 0xC0) != 0x80;  // UTF-8 code points
    longest = std::max(longest, n);
  }
  const double lw = 44.0 + 7.0 * static_cast<double>(longest), lx = L + W - lw;
  for (const auto& s : p.series) {
    if (s.points) {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (p.log_y && !(s.y[i] > 0)) continue;
        if (!s.y_lo.empty())
          o << "<line x1=\"" << X(s.x[i]) << "\" x2=\"" << X(s.x[i]) << "\" y1=\"" << Y(std::max(s.y_lo[i], 1e-300)) << "\" y2=\""
            << Y(s.y_hi[i]) << "\" stroke=\"" << s.color << "\" stroke-width=\"1.5\"/>\n";
        o << "<circle cx=\"" << X(s.x[i]) << "\" cy=\"" << Y(s.y[i]) << "\" r=\"4\" fill=\"" << s.color << "\"/>\n";
      }
    } else {
      o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << (s.dashed ? " stroke-dasharray=\"6,4\"" : "")
        << " points=\"";
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (!p.log_y || s.y[i] > 0) o << X(s.x[i]) << ',' << Y(s.y[i]) << ' ';
      o << "\"/>\n";
    }
    if (!s.label.empty()) {
      if (s.points)
        legend << "<line x1=\"" << lx + 16 << "\" x2=\"" << lx + 16 << "\" y1=\"" << ly - 7 << "\" y2=\"" << ly + 7 << "\" stroke=\""
               << s.color << "\" stroke-width=\"1.5\"/><circle cx=\"" << lx + 16 << "\" cy=\"" << ly << "\" r=\"4\" fill=\"" << s.color
               << "\"/>";
      else
        legend << "<line x1=\"" << lx + 4 << "\" x2=\"" << lx + 29 << "\" y1=\"" << ly << "\" y2=\"" << ly << "\" stroke=\""
               << s.color << "\" stroke-width=\"3\"" << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>";
      legend << "<text x=\"" << lx + 36
        << "\" y=\"" << ly + 4 << "\">" << esc(s.label) << "</text>\n";
      ly += 18;
    }
  }
  o << "</g>\n";
  if (ly > T + 20)
    o << "<rect x=\"" << lx - 4 << "\" y=\"" << T + 6 << "\" width=\"" << lw << "\" height=\"" << ly - T - 10
      << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n";
  o << legend.str();
  double ny = p.notes_bottom ? T + H - 12 - 17.0 * (static_cast<double>(p.notes.size()) - 1) : T + 20;
  if (!p.notes.empty()) {  // white box behind the notes, sized like the legend's
    std::size_t longest_note = 0;
    for (const auto& n : p.notes) {
      std::size_t k = 0;
      for (unsigned char c : n) k += (c & 0xC0) != 0x80;
      longest_note = std::max(longest_note, k);
    }
    o << "<rect x=\"" << L + 4 << "\" y=\"" << ny - 15 << "\" width=\"" << 14.0 + 7.0 * static_cast<double>(longest_note)
      << "\" height=\"" << 17.0 * static_cast<double>(p.notes.size()) + 6 << "\" fill=\"white\" fill-opacity=\"0.85\"/>\n";
  }
  for (const auto& n : p.notes) {
    o << "<text x=\"" << L + 10 << "\" y=\"" << ny << "\">" << esc(n) << "</text>\n";
    ny += 17;
  }
  o << "</svg>\n";
  return o.str();
}

/// Heat map of a 2-D array (rows × cols, row 0 drawn at the bottom) with a colour bar.
template <class Array2D>
std::string render_heatmap_svg(const Array2D& a, const std::string& title, const std::string& xlabel,
                               const std::string& ylabel, const std::string& unit) {
  using namespace detail;
  const std::size_t nr = a.shape()[0], nc = a.shape()[1];
  double mx = 0;
  for (std::size_t i = 0; i < nr; ++i)
    for (std::size_t j = 0; j < nc; ++j) mx = std::max(mx, static_cast<double>(a(i, j)));
  const double S = 420, L = 70, T = 40;
  const double cw = S / static_cast<double>(nc), ch = S / static_cast<double>(nr);
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << L + S + 130 << "\" height=\"" << T + S + 60
    << "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << L + S / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << esc(title) << "</text>\n";
  for (std::size_t i = 0; i < nr; ++i)
    for (std::size_t j = 0; j < nc; ++j)
      o << "<rect x=\"" << L + j * cw << "\" y=\"" << T + S - (i + 1) * ch << "\" width=\"" << cw + 0.3 << "\" height=\"" << ch + 0.3
        << "\" fill=\"" << colormap(mx > 0 ? a(i, j) / mx : 0.0) << "\"/>\n";
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << S << "\" height=\"" << S << "\" fill=\"none\" stroke=\"black\"/>\n";
  for (double f : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    o << "<text x=\"" << L + f * S << "\" y=\"" << T + S + 18 << "\" text-anchor=\"middle\">" << f << "</text>\n";
    o << "<text x=\"" << L - 6 << "\" y=\"" << T + S - f * S + 4 << "\" text-anchor=\"end\">" << f << "</text>\n";
  }
  o << "<text x=\"" << L + S / 2 << "\" y=\"" << T + S + 40 << "\" text-anchor=\"middle\">" << esc(xlabel) << "</text>\n";
  o << "<text transform=\"translate(22," << T + S / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(ylabel) << "</text>\n";
  for (int k = 0; k < 50; ++k)
    o << "<rect x=\"" << L + S + 20 << "\" y=\"" << T + S - (k + 1) * S / 50 << "\" width=\"18\" height=\"" << S / 50 + 0.3
      << "\" fill=\"" << colormap(k / 49.0) << "\"/>\n";
  o << "<text x=\"" << L + S + 42 << "\" y=\"" << T + 10 << "\">" << fmt_num(mx) << "</text>\n";
  o << "<text x=\"" << L + S + 42 << "\" y=\"" << T + S << "\">0</text>\n";
  o << "<text x=\"" << L + S + 20 << "\" y=\"" << T + S + 40 << "\">" << esc(unit) << "</text>\n";
  o << "</svg>\n";
  return o.str();
}

inline void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  if (!out) throw IOError("cannot open '" + path + "' for writing");
  out << text;
  if (!out) throw IOError("error writing '" + path + "'");
}

}  // namespace analysis
NERNST_NAMESPACE_END
