// plot.cpp — see plot.h.
#include "map/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "common.h"
#include "map/rng.h"

// stb headers are third-party C: keep their warnings out of this build's warning-free output.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_easy_font.h>
#define STB_IMAGE_WRITE_STATIC  // private copy: no clash with another file that embeds stb
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace t2l::map {

Colour group_colour(int i) {
    static const Colour kFirst[12] = {
        {31, 95, 191},  {232, 89, 12},  {43, 147, 72},  {201, 42, 42},  {123, 44, 191}, {141, 85, 36},
        {214, 51, 140}, {90, 98, 105},  {160, 155, 0},  {11, 159, 184}, {245, 159, 0},  {20, 30, 110},
    };
    if (i >= 0 && i < 12) return kFirst[i];
    // HSV with hue stepped by the golden angle (successive hues far apart), value alternating.
    const double h = std::fmod((double)i * 0.6180339887498949, 1.0) * 6.0;
    const double v = (i % 2) ? 0.62 : 0.88, s = (i % 3) ? 0.85 : 0.65;
    const double c = v * s, x = c * (1 - std::fabs(std::fmod(h, 2.0) - 1)), m = v - c;
    double r = 0, g = 0, b = 0;
    switch ((int)h) {
        case 0: r = c, g = x; break;
        case 1: r = x, g = c; break;
        case 2: g = c, b = x; break;
        case 3: g = x, b = c; break;
        case 4: r = x, b = c; break;
        default: r = c, b = x; break;
    }
    return {(uint8_t)std::lround((r + m) * 255), (uint8_t)std::lround((g + m) * 255), (uint8_t)std::lround((b + m) * 255)};
}

Image::Image(int width, int height, Colour bg) : w_(width), h_(height) {
    if (width < 1 || height < 1 || width > 20000 || height > 20000) fail("plot: image size ", width, " x ", height, " is out of range");
    rgb_.resize((size_t)width * (size_t)height * 3);
    for (size_t p = 0; p < rgb_.size(); p += 3) {
        rgb_[p] = bg.r;
        rgb_[p + 1] = bg.g;
        rgb_[p + 2] = bg.b;
    }
}

Colour Image::pixel(int x, int y) const {
    const size_t p = ((size_t)y * (size_t)w_ + (size_t)x) * 3;
    return {rgb_[p], rgb_[p + 1], rgb_[p + 2]};
}

void Image::blend(int x, int y, Colour c, double alpha) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_ || alpha <= 0) return;
    alpha = std::min(alpha, 1.0);
    uint8_t* p = &rgb_[((size_t)y * (size_t)w_ + (size_t)x) * 3];
    p[0] = (uint8_t)std::lround(p[0] + (c.r - p[0]) * alpha);
    p[1] = (uint8_t)std::lround(p[1] + (c.g - p[1]) * alpha);
    p[2] = (uint8_t)std::lround(p[2] + (c.b - p[2]) * alpha);
}

void Image::fill_rect(double x0, double y0, double x1, double y1, Colour c, double alpha) {
    for (int py = (int)std::floor(y0); py < (int)std::ceil(y1); py++) {
        const double cy = std::min(y1, py + 1.0) - std::max(y0, (double)py);
        for (int px = (int)std::floor(x0); px < (int)std::ceil(x1); px++) {
            const double cx = std::min(x1, px + 1.0) - std::max(x0, (double)px);
            blend(px, py, c, alpha * cx * cy);
        }
    }
}

void Image::fill_disc(double cx, double cy, double radius, Colour c, double alpha) {
    for (int py = (int)std::floor(cy - radius - 1); py <= (int)std::ceil(cy + radius + 1); py++)
        for (int px = (int)std::floor(cx - radius - 1); px <= (int)std::ceil(cx + radius + 1); px++) {
            const double d = std::hypot(px + 0.5 - cx, py + 0.5 - cy);
            blend(px, py, c, alpha * std::clamp(radius + 0.5 - d, 0.0, 1.0));
        }
}

namespace {
std::string printable(const std::string& s) {
    std::string out = s;
    for (char& ch : out)
        if (ch != '\n' && ((unsigned char)ch < 32 || (unsigned char)ch > 126)) ch = '?';  // stb_easy_font indexes by ch - 32
    return out;
}
}  // namespace

double text_width(const std::string& text, double size) {
    if (text.empty()) return 0;
    std::string s = printable(text);
    return std::max(0, stb_easy_font_width(&s[0]) - 1) * size;  // minus the last glyph's spacing
}

void Image::draw_text(double x, double y, const std::string& text, double size, Colour c, bool vertical) {
    if (text.empty()) return;
    std::string s = printable(text);
    std::vector<char> quads(400 * s.size() + 1024);  // stb: ~270 bytes per character
    const int n = stb_easy_font_print(0, 0, &s[0], nullptr, quads.data(), (int)quads.size());
    // Coverage mask of the whole string first, then one blend: overlapping strokes do not darken.
    const int lines = 1 + (int)std::count(s.begin(), s.end(), '\n');  // stb_easy_font: 12 units per line
    const int mw = (int)std::ceil(text_width(text, size)) + 2, mh = (int)std::ceil((12 * (lines - 1) + 9) * size) + 2;
    std::vector<float> mask((size_t)mw * (size_t)mh, 0.0f);
    for (int q = 0; q < n; q++) {
        const float* v = reinterpret_cast<const float*>(quads.data() + q * 64);  // 4 vertices of 16 bytes
        float qx0 = v[0], qx1 = v[0], qy0 = v[1], qy1 = v[1];
        for (int k = 1; k < 4; k++) {
            qx0 = std::min(qx0, v[k * 4]);
            qx1 = std::max(qx1, v[k * 4]);
            qy0 = std::min(qy0, v[k * 4 + 1]);
            qy1 = std::max(qy1, v[k * 4 + 1]);
        }
        const double x0 = qx0 * size, x1 = qx1 * size, y0 = qy0 * size, y1 = qy1 * size;
        for (int py = (int)std::floor(y0); py < (int)std::ceil(y1) && py < mh; py++) {
            const double cy = std::min(y1, py + 1.0) - std::max(y0, (double)py);
            for (int px = (int)std::floor(x0); px < (int)std::ceil(x1) && px < mw; px++) {
                const double cx = std::min(x1, px + 1.0) - std::max(x0, (double)px);
                float& m = mask[(size_t)py * (size_t)mw + (size_t)px];
                m = std::min(1.0f, m + (float)(cx * cy));
            }
        }
    }
    const int ox = (int)std::lround(x), oy = (int)std::lround(y);  // whole pixels keep strokes crisp
    for (int my = 0; my < mh; my++)
        for (int mx = 0; mx < mw; mx++) {
            const float a = mask[(size_t)my * (size_t)mw + (size_t)mx];
            if (a <= 0) continue;
            if (vertical)
                blend(ox + my, oy + (mw - 1 - mx), c, a);  // a quarter turn anticlockwise
            else
                blend(ox + mx, oy + my, c, a);
        }
}

namespace {
// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over span.
double nice_step(double span, double target) {
    const double raw = span / std::max(target, 1.0);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string tick_label(double v, double step) {
    const int decimals = std::max(0, (int)-std::floor(std::log10(step) + 1e-9));
    if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0"
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string shorten(const std::string& s, size_t max_chars) {
    return s.size() <= max_chars ? s : s.substr(0, max_chars - 3) + "...";
}

Colour darker(Colour c) { return {(uint8_t)(c.r * 0.6), (uint8_t)(c.g * 0.6), (uint8_t)(c.b * 0.6)}; }

const Colour kWhite{255, 255, 255}, kInk{33, 37, 41}, kGrid{232, 234, 237}, kFrame{73, 80, 87};
}  // namespace

Image draw_scatter(const ScatterSpec& spec, ScatterLayout* layout_out) {
    const size_t n = spec.x.size();
    if (spec.y.size() != n || spec.group.size() != n) fail("plot: x, y and group lengths differ");
    for (int g : spec.group)
        if (g < 0 || g >= (int)spec.group_names.size()) fail("plot: group index ", g, " has no name");
    Image img(spec.width, spec.height, kWhite);
    const double ts = 2.0;  // tick, legend and label text: 2 px per font unit (capitals 14 px)

    // Legend entries: "name (count)", as wide as the longest (names cut at 34 characters).
    std::vector<size_t> count(spec.group_names.size(), 0);
    for (int g : spec.group) count[(size_t)g]++;
    std::vector<std::string> entries;
    double legend_w = 0;
    for (size_t g = 0; g < spec.group_names.size(); g++) {
        entries.push_back(cat(shorten(spec.group_names[g], 34), " (", count[g], ")"));
        legend_w = std::max(legend_w, text_width(entries.back(), ts));
    }
    legend_w += 44;

    ScatterLayout L;
    const int sub_lines = spec.subtitle.empty() ? 0 : 1 + (int)std::count(spec.subtitle.begin(), spec.subtitle.end(), '\n');
    L.frame_x0 = 96;
    L.frame_y0 = 64 + 24 * sub_lines + 16;
    L.frame_x1 = spec.width - (int)legend_w - 28;
    L.frame_y1 = spec.height - 76;
    if (L.frame_x1 - L.frame_x0 < 100 || L.frame_y1 - L.frame_y0 < 100) fail("plot: the image is too small for the plot and its legend");

    // One scale for both axes, fitted to the data with a margin, the data centred in the frame.
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (n > 0) {
        x0 = *std::min_element(spec.x.begin(), spec.x.end());
        x1 = *std::max_element(spec.x.begin(), spec.x.end());
        y0 = *std::min_element(spec.y.begin(), spec.y.end());
        y1 = *std::max_element(spec.y.begin(), spec.y.end());
    }
    const double span = std::max({x1 - x0, y1 - y0, 1e-12});
    const double fw = L.frame_x1 - L.frame_x0, fh = L.frame_y1 - L.frame_y0;
    L.scale = std::min(fw / std::max(x1 - x0, span * 1e-3), fh / std::max(y1 - y0, span * 1e-3)) * 0.92;
    L.px_origin = (L.frame_x0 + L.frame_x1) / 2.0 - (x0 + x1) / 2 * L.scale;
    L.py_origin = (L.frame_y0 + L.frame_y1) / 2.0 + (y0 + y1) / 2 * L.scale;

    // Grid and ticks over what the frame shows.
    const double vx0 = (L.frame_x0 - L.px_origin) / L.scale, vx1 = (L.frame_x1 - L.px_origin) / L.scale;
    const double vy0 = (L.py_origin - L.frame_y1) / L.scale, vy1 = (L.py_origin - L.frame_y0) / L.scale;
    const double step = nice_step(std::max(vx1 - vx0, vy1 - vy0), std::max(fw, fh) / 110.0);
    for (double t = std::ceil(vx0 / step) * step; t <= vx1; t += step) {
        const double px = std::round(L.to_px(t));
        img.fill_rect(px, L.frame_y0, px + 1, L.frame_y1, kGrid);
        img.fill_rect(px, L.frame_y1, px + 1, L.frame_y1 + 6, kFrame);
        const std::string s = tick_label(t, step);
        img.draw_text(px - text_width(s, ts) / 2, L.frame_y1 + 11, s, ts, kInk);
    }
    for (double t = std::ceil(vy0 / step) * step; t <= vy1; t += step) {
        const double py = std::round(L.to_py(t));
        img.fill_rect(L.frame_x0, py, L.frame_x1, py + 1, kGrid);
        img.fill_rect(L.frame_x0 - 6, py, L.frame_x0, py + 1, kFrame);
        const std::string s = tick_label(t, step);
        img.draw_text(L.frame_x0 - 11 - text_width(s, ts), py - 7, s, ts, kInk);
    }

    // Points in a seeded interleaved order, so no group is always drawn on top of the others.
    const double radius = n <= 300 ? 5.0 : n <= 1500 ? 4.0 : n <= 6000 ? 3.0 : 2.2;
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mix64(a ^ spec.seed) < mix64(b ^ spec.seed); });
    for (size_t i : order)
        img.fill_disc(L.to_px(spec.x[i]), L.to_py(spec.y[i]), radius, group_colour(spec.group[i]), 0.8);

    // Group names at the group's point nearest its median (a group in two clumps still gets its
    // name on one of them, not in the gap), with a white halo to stay readable over points; a
    // name that would overlap one already placed is left to the legend.
    if (spec.label_groups && spec.group_names.size() <= 20) {
        std::vector<std::array<double, 4>> placed;  // x0, y0, x1, y1
        for (size_t g = 0; g < spec.group_names.size(); g++) {
            std::vector<float> gx, gy;
            for (size_t i = 0; i < n; i++)
                if (spec.group[i] == (int)g) gx.push_back(spec.x[i]), gy.push_back(spec.y[i]);
            if (gx.empty()) continue;
            std::vector<float> sx = gx, sy = gy;
            std::nth_element(sx.begin(), sx.begin() + sx.size() / 2, sx.end());
            std::nth_element(sy.begin(), sy.begin() + sy.size() / 2, sy.end());
            const double mx = sx[sx.size() / 2], my = sy[sy.size() / 2];
            size_t best = 0;
            for (size_t k = 1; k < gx.size(); k++)
                if (std::hypot(gx[k] - mx, gy[k] - my) < std::hypot(gx[best] - mx, gy[best] - my)) best = k;
            const std::string s = shorten(spec.group_names[g], 24);
            const double tx = L.to_px(gx[best]) - text_width(s, ts) / 2, ty = L.to_py(gy[best]) - 9 * ts - 6;  // just above it
            const std::array<double, 4> box = {tx - 4, ty - 4, tx + text_width(s, ts) + 4, ty + 9 * ts + 4};
            if (std::any_of(placed.begin(), placed.end(), [&](const std::array<double, 4>& o) {
                    return box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3];
                }))
                continue;
            placed.push_back(box);
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++)
                    if (dx || dy) img.draw_text(tx + dx, ty + dy, s, ts, kWhite);
            img.draw_text(tx, ty, s, ts, darker(group_colour((int)g)));
        }
    }

    // Frame, drawn last so points at the edge do not cover it.
    img.fill_rect(L.frame_x0 - 1, L.frame_y0 - 1, L.frame_x1 + 1, L.frame_y0, kFrame);
    img.fill_rect(L.frame_x0 - 1, L.frame_y1, L.frame_x1 + 1, L.frame_y1 + 1, kFrame);
    img.fill_rect(L.frame_x0 - 1, L.frame_y0, L.frame_x0, L.frame_y1, kFrame);
    img.fill_rect(L.frame_x1, L.frame_y0, L.frame_x1 + 1, L.frame_y1, kFrame);

    // Titles and axis labels.
    img.draw_text(L.frame_x0 - 60, 18, spec.title, 3.0, kInk);
    img.draw_text(L.frame_x0 - 60, 56, spec.subtitle, ts, kFrame);
    img.draw_text((L.frame_x0 + L.frame_x1) / 2.0 - text_width(spec.x_label, ts) / 2, L.frame_y1 + 44, spec.x_label, ts, kInk);
    img.draw_text(14, (L.frame_y0 + L.frame_y1) / 2.0 - text_width(spec.y_label, ts) / 2, spec.y_label, ts, kInk, true);

    // Legend: as many entries as fit, then a line saying how many are left out.
    const double lx = L.frame_x1 + 24, row = 22;
    const size_t fit = (size_t)std::max(1.0, std::floor((L.frame_y1 - L.frame_y0) / row));
    const size_t shown = entries.size() <= fit ? entries.size() : fit - 1;
    for (size_t g = 0; g < shown; g++) {
        const double cy = L.frame_y0 + 8 + row * (double)g;
        img.fill_disc(lx + 6, cy, 6, group_colour((int)g));
        img.draw_text(lx + 20, cy - 7, entries[g], ts, kInk);
    }
    if (shown < entries.size())
        img.draw_text(lx, L.frame_y0 + 8 + row * (double)shown - 7, cat("+ ", entries.size() - shown, " more groups"), ts, kFrame);

    if (layout_out) *layout_out = L;
    return img;
}

std::string encode_png(const Image& img) {
    std::string out;
    auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), (size_t)size); };
    if (!stbi_write_png_to_func(sink, &out, img.width(), img.height(), 3, img.rgb().data(), img.width() * 3))
        fail("plot: PNG encoding failed");
    return out;
}

}  // namespace t2l::map
