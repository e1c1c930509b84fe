#pragma once
/// \file
/// \brief PNG copies of the SVG plots (analysis/svg_plot.hpp), rendered with librsvg + cairo.
///
/// Optional dependency: when CMake finds librsvg (Debian librsvg2-dev) it defines
/// NERNST_HAVE_RSVG and links it; without it png_available() is false and write_png_from_svg()
/// throws NotSupported, so callers write the SVG always and the PNG when available
/// (write_svg_and_png does exactly that). Rendering the SVG itself keeps one plot model and
/// gives real anti-aliased text (Unicode: Å², σ, ±) through the system fonts.

#include <nernst/analysis/svg_plot.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <cmath>
#include <string>

#if defined(NERNST_HAVE_RSVG) && NERNST_HAVE_RSVG
// nvcc defines __noinline__ as a macro, which breaks glib's __has_attribute(__noinline__).
#if defined(__CUDACC__)
#pragma push_macro("__noinline__")
#undef __noinline__
#endif
#include <cairo.h>
#include <librsvg/rsvg.h>
#if defined(__CUDACC__)
#pragma pop_macro("__noinline__")
#endif
#endif

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// True when this build can write PNG files (librsvg found at configure time).
constexpr bool png_available() {
#if defined(NERNST_HAVE_RSVG) && NERNST_HAVE_RSVG
  return true;
#else
  return false;
#endif
}

/// `path` with its ".svg" suffix (if any) replaced by ".png".
inline std::string png_path_for(const std::string& svg_path) {
  const std::string ext = ".svg";
  if (svg_path.size() >= ext.size() && svg_path.compare(svg_path.size() - ext.size(), ext.size(), ext) == 0)
    return svg_path.substr(0, svg_path.size() - ext.size()) + ".png";
  return svg_path + ".png";
}

/// Renders SVG text to a PNG file at `scale` × its intrinsic pixel size (white background).
inline void write_png_from_svg(const std::string& svg, const std::string& path, double scale = 1.5) {
  if (!(scale > 0) || scale > 16) throw ValueError("PNG scale must be in (0, 16], got " + std::to_string(scale));
#if defined(NERNST_HAVE_RSVG) && NERNST_HAVE_RSVG
  GError* err = nullptr;
  RsvgHandle* h = rsvg_handle_new_from_data(reinterpret_cast<const guint8*>(svg.data()), svg.size(), &err);
  if (!h) {
    const std::string msg = err ? err->message : "unknown error";
    if (err) g_error_free(err);
    throw ValueError("cannot parse the SVG for '" + path + "': " + msg);
  }
  gdouble w = 0, hgt = 0;
  if (!rsvg_handle_get_intrinsic_size_in_pixels(h, &w, &hgt) || !(w > 0) || !(hgt > 0)) {
    g_object_unref(h);
    throw ValueError("SVG for '" + path + "' has no pixel size (width/height attributes)");
  }
  const int W = static_cast<int>(std::ceil(w * scale)), Hh = static_cast<int>(std::ceil(hgt * scale));
  cairo_surface_t* surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, Hh);
  cairo_t* cr = cairo_create(surf);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  const RsvgRectangle viewport{0.0, 0.0, static_cast<double>(W), static_cast<double>(Hh)};
  const bool ok = rsvg_handle_render_document(h, cr, &viewport, &err);
  std::string msg;
  if (!ok) {
    msg = err ? err->message : "unknown error";
    if (err) g_error_free(err);
  }
  cairo_destroy(cr);
  cairo_status_t st = CAIRO_STATUS_SUCCESS;
  if (ok) st = cairo_surface_write_to_png(surf, path.c_str());
  cairo_surface_destroy(surf);
  g_object_unref(h);
  if (!ok) throw ValueError("cannot render the SVG for '" + path + "': " + msg);
  if (st != CAIRO_STATUS_SUCCESS)
    throw IOError("cannot write PNG '" + path + "': " + cairo_status_to_string(st));
#else
  (void)svg;
  throw NotSupported("cannot write '" + path + "': this build has no PNG support (install librsvg2-dev and reconfigure)");
#endif
}

/// Writes `svg` to `svg_path` and, when PNG output is available, a PNG copy next to it
/// (same name, ".png"). Returns the PNG path, or "" when none was written.
inline std::string write_svg_and_png(const std::string& svg, const std::string& svg_path, double scale = 1.5) {
  write_text_file(svg_path, svg);
  if (!png_available()) return {};
  const std::string png = png_path_for(svg_path);
  write_png_from_svg(svg, png, scale);
  return png;
}

}  // namespace analysis
NERNST_NAMESPACE_END
