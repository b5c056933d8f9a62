// plot.h — drawing the map: an RGB image with anti-aliased discs, rectangles and text, a scatter
// plot (title, axis frame with ticks, one colour per group, legend) and its PNG encoding.
//
// Text uses stb_easy_font (part of libstb-dev, which the build already needs): an ASCII stroke
// font of unit segments on a 6 x 9 grid, scaled here and rasterised with exact area coverage,
// so nothing outside the build's dependencies (no font package) is needed. Characters outside
// printable ASCII are drawn as '?'.
// Coordinates are pixels, x to the right and y down, (0, 0) the top-left corner of the image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace t2l::map {

struct Colour {
    uint8_t r = 0, g = 0, b = 0;
};

// The colour of group i: twelve hand-picked, mutually distinct colours, then hues stepped by
// the golden angle at alternating lightness (distinct, though no longer easy to name).
Colour group_colour(int i);

class Image {
public:
    Image(int width, int height, Colour background);
    int width() const { return w_; }
    int height() const { return h_; }
    const std::vector<uint8_t>& rgb() const { return rgb_; }  // (height, width, 3)
    Colour pixel(int x, int y) const;

    // Mixes colour into one pixel with weight alpha in [0, 1] (ignored outside the image).
    void blend(int x, int y, Colour c, double alpha);
    // The rectangle [x0, x1) x [y0, y1); edge pixels get their covered fraction.
    void fill_rect(double x0, double y0, double x1, double y1, Colour c, double alpha = 1.0);
    // A disc; the rim is anti-aliased over one pixel.
    void fill_disc(double cx, double cy, double radius, Colour c, double alpha = 1.0);
    // Text with its top-left corner at (x, y); size = pixels per font unit (capitals are 7 units
    // high, descenders reach 9; '\n' starts a line 12 units lower). vertical: rotated a quarter turn to read bottom to top, with
    // (x, y) the top-left of the rotated box.
    void draw_text(double x, double y, const std::string& text, double size, Colour c, bool vertical = false);

private:
    int w_, h_;
    std::vector<uint8_t> rgb_;
};

// Width in pixels of text at the given size (height is 9 * size).
double text_width(const std::string& text, double size);

struct ScatterSpec {
    std::string title, subtitle;          // drawn at the top; the subtitle may have several lines
    std::string x_label, y_label;         // axis titles
    std::vector<std::string> group_names; // legend order = group index
    std::vector<float> x, y;              // (N) point coordinates
    std::vector<int> group;               // (N) index into group_names
    int width = 1400, height = 1000;
    bool label_groups = true;             // name each group on the map (when <= 20 groups)
    uint64_t seed = 0;                    // the order points are drawn in (interleaved groups)
};

// Where the data landed: pixel = (px_origin + x * scale, py_origin - y * scale); the frame is
// [frame_x0, frame_x1] x [frame_y0, frame_y1]. One scale for both axes, so distances in the
// picture are distances in the projection.
struct ScatterLayout {
    double px_origin = 0, py_origin = 0, scale = 1;
    int frame_x0 = 0, frame_y0 = 0, frame_x1 = 0, frame_y1 = 0;
    double to_px(double x) const { return px_origin + x * scale; }
    double to_py(double y) const { return py_origin - y * scale; }
};

Image draw_scatter(const ScatterSpec& spec, ScatterLayout* layout = nullptr);

// PNG bytes of the image (stb_image_write).
std::string encode_png(const Image& img);

}  // namespace t2l::map
