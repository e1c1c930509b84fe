// The shared transport figures (msd_plot, arrhenius_plot) and their PNG copies.
#include "../test_support.hpp"

#include <nernst/analysis/png.hpp>
#include <nernst/analysis/transport_plots.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace nernst;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
  return v;
}
}  // namespace

TEST_CASE("msd_plot and arrhenius_plot carry the fit, its window and the extrapolation") {
  // MSD = 6 D t with D = 0.5 Å²/ps: slope 3.
  std::vector<double> lag;
  analysis::MSDTensor msd;
  for (int m = 0; m < 50; ++m) {
    lag.push_back(0.1 * m);
    for (int c = 0; c < 6; ++c) msd.c[c].push_back(c < 3 ? 0.1 * m : 0.0);
  }
  analysis::DiffusionOptions d;
  d.fit_start_ps = 1.0;
  const auto fit = analysis::fit_diffusion(lag, msd.xyz(), 10, d);
  CHECK(fit.D_A2_per_ps == doctest::Approx(0.5));
  const auto p = analysis::msd_plot("test", lag, msd, fit);
  REQUIRE(p.bands.size() == 1);
  CHECK(p.bands[0].x0 == doctest::Approx(1.0));
  CHECK(p.bands[0].x1 == doctest::Approx(fit.t_end_ps));
  REQUIRE(p.series.size() == 5);  // xyz, x, y, z, fit
  CHECK(p.series[4].y[1] == doctest::Approx(3.0 * lag.back()));
  CHECK(p.notes[0].find("5.000e-05") != std::string::npos);  // D in cm²/s

  std::vector<analysis::ArrheniusPoint> pts;
  for (double T : {600.0, 800.0, 1000.0}) pts.push_back({T, 1e-3 * std::exp(-0.3 / (8.617333262e-5 * T)), 1e-7});
  const auto af = analysis::fit_arrhenius(pts, false);
  const auto ap = analysis::arrhenius_plot("Arrhenius", pts, af, 300.0, 1.0, {"note"});
  REQUIRE(ap.series.size() == 5);  // data, fit, interval low/high, extrapolated point
  CHECK(ap.series[0].x[0] == doctest::Approx(1000.0 / 600.0));
  CHECK(ap.series[0].y_lo[0] == doctest::Approx(pts[0].D_cm2_s - 1e-7));
  CHECK(ap.series[4].x[0] == doctest::Approx(1000.0 / 300.0));
  CHECK(ap.series[4].y[0] == doctest::Approx(af.D_at(300.0)));
  CHECK(ap.series[1].x.back() == doctest::Approx(1000.0 / 300.0));  // the fit reaches 300 K
  CHECK(ap.notes.front() == "note");
  // The lower error bar never reaches 0 on the log axis.
  const auto s = analysis::arrhenius_data_series({{500.0, 1e-6, 5e-6}}, "x", 0.05);
  CHECK(s.y_lo[0] == doctest::Approx(5e-8));
}

TEST_CASE("write_svg_and_png writes the SVG and, with librsvg, a PNG of 1.5x its size") {
  const auto dir = std::filesystem::temp_directory_path() / "nernst_test_plots";
  std::filesystem::create_directories(dir);
  analysis::Plot p;
  p.title = "MSD (Å²) σ ± test";
  p.xlabel = "lag time (ps)";
  p.ylabel = "MSD (Å²)";
  p.series.push_back({{0, 1, 2}, {0, 1, 4}, {}, {}, "curve", "#1f77b4"});
  const std::string svg = analysis::render_svg(p);
  const auto svg_path = (dir / "plot.svg").string();
  CHECK(analysis::png_path_for(svg_path) == (dir / "plot.png").string());
  CHECK(analysis::png_path_for("a.txt") == "a.txt.png");
  const std::string png = analysis::write_svg_and_png(svg, svg_path);
  CHECK(slurp(svg_path) == svg);
  if (analysis::png_available()) {
    REQUIRE(png == (dir / "plot.png").string());
    const std::string b = slurp(png);
    REQUIRE(b.size() > 33);
    CHECK(b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    CHECK(b.compare(12, 4, "IHDR") == 0);
    CHECK(be32(b, 16) == 1080u);  // 720 × 1.5
    CHECK(be32(b, 20) == 720u);   // 480 × 1.5
    CHECK(b.size() > 5000);       // text and lines, not a blank image
    CHECK_THROWS_AS(analysis::write_png_from_svg("<not svg", (dir / "bad.png").string()), ValueError);
  } else {
    CHECK(png.empty());
    CHECK_THROWS_AS(analysis::write_png_from_svg(svg, (dir / "x.png").string()), NotSupported);
  }
  std::filesystem::remove_all(dir);
}
