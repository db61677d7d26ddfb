// SPDX-License-Identifier: MIT
// Just enough PNG decoding for screenshot tests: 8-bit RGB or RGBA, not interlaced (what headless
// Chromium writes). Returns RGBA pixels, or an empty image on anything else.
#pragma once
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ht_test {

struct Image {
    unsigned width = 0, height = 0;
    std::vector<uint8_t> rgba;  // width * height * 4
};

inline uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

inline Image decode_png(const std::string& file) {
    Image img;
    const auto* b = reinterpret_cast<const uint8_t*>(file.data());
    if (file.size() < 8 || std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) return img;
    std::size_t pos = 8;
    unsigned depth = 0, type = 0, interlace = 0, w = 0, h = 0;
    std::string idat;
    while (pos + 12 <= file.size()) {
        const uint32_t len = be32(b + pos);
        const std::string kind(file, pos + 4, 4);
        if (pos + 12 + len > file.size()) return img;
        const uint8_t* d = b + pos + 8;
        if (kind == "IHDR") {
            w = be32(d);
            h = be32(d + 4);
            depth = d[8];
            type = d[9];
            interlace = d[12];
        } else if (kind == "IDAT") {
            idat.append(reinterpret_cast<const char*>(d), len);
        } else if (kind == "IEND") {
            break;
        }
        pos += 12 + len;
    }
    if (depth != 8 || (type != 2 && type != 6) || interlace != 0 || !w || !h) return img;
    const unsigned bpp = type == 6 ? 4 : 3, stride = w * bpp;
    std::vector<uint8_t> raw(std::size_t(h) * (stride + 1));
    uLongf out_len = uLongf(raw.size());
    if (uncompress(raw.data(), &out_len, reinterpret_cast<const Bytef*>(idat.data()), uLong(idat.size())) != Z_OK ||
        out_len != raw.size())
        return img;
    std::vector<uint8_t> px(std::size_t(h) * stride);
    for (unsigned y = 0; y < h; ++y) {
        const uint8_t f = raw[std::size_t(y) * (stride + 1)];
        const uint8_t* in = &raw[std::size_t(y) * (stride + 1) + 1];
        uint8_t* row = &px[std::size_t(y) * stride];
        const uint8_t* up = y ? row - stride : nullptr;
        for (unsigned x = 0; x < stride; ++x) {
            const int a = x >= bpp ? row[x - bpp] : 0, u = up ? up[x] : 0, c = (up && x >= bpp) ? up[x - bpp] : 0;
            int v = in[x];
            switch (f) {
            case 1: v += a; break;
            case 2: v += u; break;
            case 3: v += (a + u) / 2; break;
            case 4: {
                const int p = a + u - c, pa = std::abs(p - a), pb = std::abs(p - u), pc = std::abs(p - c);
                v += (pa <= pb && pa <= pc) ? a : (pb <= pc ? u : c);
                break;
            }
            default: break;
            }
            row[x] = uint8_t(v);
        }
    }
    img.width = w;
    img.height = h;
    img.rgba.resize(std::size_t(w) * h * 4);
    for (std::size_t i = 0; i < std::size_t(w) * h; ++i) {
        std::memcpy(&img.rgba[i * 4], &px[i * bpp], 3);
        img.rgba[i * 4 + 3] = bpp == 4 ? px[i * bpp + 3] : 255;
    }
    return img;
}

}  // namespace ht_test
