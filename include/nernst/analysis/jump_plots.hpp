#pragma once
/// \file
/// \brief Figures of a site/jump analysis (Estimator<SiteAnalysis>): the site-to-site jump matrix
/// as a heat map with the label groups marked, and the jumps per jump type in each of the
/// analysis parts against time (the counts the rates and their error bars are made of).

#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/core/macros.hpp>

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Heat map of the jump matrix M[start, destination] (counts, linear colour scale, white = 0).
/// Sites are in file order; lines separate runs of equal labels, named along both axes.
inline std::string render_jump_matrix_svg(const SiteAnalysisResult& r, const std::string& title) {
  using namespace detail;
  const std::size_t S = r.n_sites();
  std::size_t mx = 0;
  for (std::size_t c : r.jump_matrix) mx = std::max(mx, c);
  const double side = 480, L = 90, T = 40, cell = side / static_cast<double>(std::max<std::size_t>(S, 1));
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << L + side + 140 << "\" height=\"" << T + side + 80
    << "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << L + side / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << esc(title) << "</text>\n";
  for (std::size_t i = 0; i < S; ++i)
    for (std::size_t j = 0; j < S; ++j)
      if (const std::size_t c = r.jump_matrix[i * S + j])
        o << "<rect x=\"" << L + static_cast<double>(j) * cell << "\" y=\"" << T + static_cast<double>(i) * cell << "\" width=\""
          << cell + 0.2 << "\" height=\"" << cell + 0.2 << "\" fill=\"" << colormap(static_cast<double>(c) / static_cast<double>(mx))
          << "\"/>\n";
  // label runs: separators and names
  std::size_t begin = 0;
  for (std::size_t k = 1; k <= S; ++k) {
    if (k < S && r.site_labels[k] == r.site_labels[begin]) continue;
    const double mid = (static_cast<double>(begin + k) / 2.0) * cell;
    o << "<text x=\"" << L + mid << "\" y=\"" << T + side + 18 << "\" text-anchor=\"middle\" font-size=\"11\">" << esc(r.site_labels[begin])
      << "</text>\n";
    o << "<text x=\"" << L - 6 << "\" y=\"" << T + mid + 4 << "\" text-anchor=\"end\" font-size=\"11\">" << esc(r.site_labels[begin])
      << "</text>\n";
    if (k < S) {
      const double x = static_cast<double>(k) * cell;
      o << "<line x1=\"" << L + x << "\" y1=\"" << T << "\" x2=\"" << L + x << "\" y2=\"" << T + side << "\" stroke=\"#bbbbbb\" stroke-width=\"0.5\"/>\n";
      o << "<line x1=\"" << L << "\" y1=\"" << T + x << "\" x2=\"" << L + side << "\" y2=\"" << T + x << "\" stroke=\"#bbbbbb\" stroke-width=\"0.5\"/>\n";
    }
    begin = k;
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << side << "\" height=\"" << side << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << L + side / 2 << "\" y=\"" << T + side + 44 << "\" text-anchor=\"middle\">destination site (file order)</text>\n";
  o << "<text transform=\"translate(18," << T + side / 2 << ") rotate(-90)\" text-anchor=\"middle\">start site (file order)</text>\n";
  for (int k = 0; k < 50; ++k)
    o << "<rect x=\"" << L + side + 24 << "\" y=\"" << T + side - (k + 1) * side / 50 << "\" width=\"18\" height=\"" << side / 50 + 0.3
      << "\" fill=\"" << colormap(k / 49.0) << "\"/>\n";
  o << "<text x=\"" << L + side + 46 << "\" y=\"" << T + 10 << "\">" << mx << "</text>\n";
  o << "<text x=\"" << L + side + 46 << "\" y=\"" << T + side << "\">1</text>\n";
  o << "<text x=\"" << L + side + 20 << "\" y=\"" << T + side + 44 << "\">jumps (" << r.jumps.size() << ")</text>\n";
  o << "</svg>\n";
  return o.str();
}

/// Jumps per jump type ("A->B") in each part against the part's mid time (ps). Jumps that
/// straddle a part boundary are not in any part (GEMDAT's rates are built the same way).
inline Plot jumps_vs_time_plot(const SiteAnalysisResult& r, const std::string& title) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"};
  Plot p;
  p.title = title;
  p.xlabel = "time (ps)";
  p.ylabel = "jumps per part";
  const double part_ps = r.total_time_s * 1e12 / static_cast<double>(r.parts.size());
  std::size_t c = 0;
  for (const auto& [key, rate] : r.rates_per_s) {
    (void)rate;
    PlotSeries s;
    bool any = false;
    for (std::size_t q = 0; q < r.parts.size(); ++q) {
      const auto it = r.parts[q].counter.find(key);
      const double n = it == r.parts[q].counter.end() ? 0.0 : static_cast<double>(it->second);
      any |= n > 0;
      s.x.push_back((static_cast<double>(q) + 0.5) * part_ps);
      s.y.push_back(n);
    }
    if (!any) continue;  // a jump type that never occurs would only add a line at zero
    s.label = key;
    s.color = colors[c++ % (sizeof(colors) / sizeof(colors[0]))];
    p.series.push_back(std::move(s));
    PlotSeries pts = p.series.back();
    pts.label.clear();
    pts.points = true;
    p.series.push_back(std::move(pts));
  }
  p.notes.push_back(std::to_string(r.parts.size()) + " parts of " + detail::fmt_num(part_ps) + " ps");
  return p;
}

}  // namespace analysis
NERNST_NAMESPACE_END
