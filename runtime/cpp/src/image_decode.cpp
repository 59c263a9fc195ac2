// JPEG (libjpeg-turbo) and PNG (libpng) decoding into 8-bit samples.
//
// Both libraries report errors by longjmp. The functions that call setjmp keep only trivially
// destructible locals (the output vector belongs to the caller), so a longjmp never skips a
// destructor; the C++ exception is thrown after setjmp returns.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "decoded.hpp"
#include "ijepa/error.hpp"

namespace ijepa {
namespace detail {

int Decoded::channels() const {
  switch (mode) {
    case Mode::Grey: return 1;
    case Mode::GreyAlpha: return 2;
    case Mode::Rgb: return 3;
    case Mode::Rgba: return 4;
    case Mode::Cmyk: return 4;
  }
  return 0;
}

namespace {

const char* kCorruptExpected = "a complete image file";

void check_size(uint64_t width, uint64_t height, const std::string& subject) {
  if (width == 0 || height == 0) {
    throw Error(subject, "image has zero width or height", "an image of at least 1x1 pixels");
  }
  if (width * height > kMaxImagePixels) {
    throw Error(subject,
                "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                    std::to_string(width * height) + " pixels, over Pillow's decompression-bomb limit",
                "at most " + std::to_string(kMaxImagePixels) + " pixels");
  }
}

// -- JPEG ------------------------------------------------------------------------------------
struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// A truncated stream is a warning to libjpeg (it pads with a fake EOI and grey pixels); Pillow
// and the Python runtime refuse it, so it is an error here too. Other warnings stay warnings.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

struct JpegHeader {
  JDIMENSION width, height;
  int components;
  J_COLOR_SPACE space;
};

// Returns 0 on success, 1 if libjpeg failed (message in err.message), 2 if too large.
int jpeg_decode_raw(const uint8_t* data, size_t size, Decoded* out, JpegError* err, uint64_t max_pixels) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = jpeg_fail;
  err->mgr.emit_message = jpeg_message;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const uint64_t pixels = static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height;
  if (pixels == 0 || pixels > max_pixels) {
    out->width = static_cast<int>(cinfo.image_width);
    out->height = static_cast<int>(cinfo.image_height);
    jpeg_destroy_decompress(&cinfo);
    return 2;
  }
  // The Pillow modes: 1 component -> L, 3 -> RGB (libjpeg converts YCbCr), 4 -> CMYK (YCCK converted).
  if (cinfo.num_components == 1) {
    cinfo.out_color_space = JCS_GRAYSCALE;
    out->mode = Mode::Grey;
  } else if (cinfo.num_components == 4) {
    cinfo.out_color_space = JCS_CMYK;
    out->mode = Mode::Cmyk;
  } else {
    cinfo.out_color_space = JCS_RGB;
    out->mode = Mode::Rgb;
  }
  jpeg_start_decompress(&cinfo);
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  const size_t stride = static_cast<size_t>(cinfo.output_width) * cinfo.output_components;
  out->data.resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->data.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

// -- PNG -------------------------------------------------------------------------------------
struct PngState {
  const uint8_t* data;
  size_t size;
  size_t offset;
  char message[256];
};

void png_fail(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void png_quiet(png_structp, png_const_charp) {}

void png_read_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (length > state->size - state->offset) png_error(png, "unexpected end of data (file truncated)");
  std::memcpy(out, state->data + state->offset, length);
  state->offset += length;
}

int png_decode_raw(PngState* state, Decoded* out, uint64_t max_pixels) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, png_fail, png_quiet);
  if (!png) {
    std::snprintf(state->message, sizeof state->message, "libpng could not allocate");
    return 1;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(state->message, sizeof state->message, "libpng could not allocate");
    return 1;
  }
  // Written inside the setjmp region, so volatile (its value survives the longjmp).
  png_bytep* volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    png_free(png, rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return 1;
  }
  png_set_read_fn(png, state, png_read_memory);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const uint64_t pixels = static_cast<uint64_t>(width) * height;
  if (pixels == 0 || pixels > max_pixels) {
    out->width = static_cast<int>(width);
    out->height = static_cast<int>(height);
    png_destroy_read_struct(&png, &info, nullptr);
    return 2;
  }
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  // 16-bit samples keep their high byte (value >> 8), as the Python runtime and Pillow's
  // 16-bit RGB(A)/LA unpackers do.
  if (depth == 16) png_set_strip_16(png);
  switch (color) {
    case PNG_COLOR_TYPE_PALETTE:
      png_set_palette_to_rgb(png);
      if (has_trns) png_set_tRNS_to_alpha(png);
      out->mode = has_trns ? Mode::Rgba : Mode::Rgb;
      break;
    case PNG_COLOR_TYPE_GRAY:
      if (depth < 8) png_set_expand_gray_1_2_4_to_8(png);
      // Pillow keeps a grey tRNS as "transparency" (composited onto white); 16-bit grey goes
      // the Python runtime's 16-bit path, which ignores it.
      if (has_trns && depth < 16) {
        png_set_tRNS_to_alpha(png);
        out->mode = Mode::GreyAlpha;
      } else {
        out->mode = Mode::Grey;
      }
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: out->mode = Mode::GreyAlpha; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: out->mode = Mode::Rgba; break;
    default: out->mode = Mode::Rgb; break;  // RGB: a tRNS colour is ignored (the runtime keeps RGB as is)
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  const int channels = png_get_channels(png, info);
  if (stride != static_cast<size_t>(width) * channels || channels != out->channels()) {
    std::snprintf(state->message, sizeof state->message, "unexpected PNG layout (%d channels)", channels);
    png_destroy_read_struct(&png, &info, nullptr);
    return 1;
  }
  out->width = static_cast<int>(width);
  out->height = static_cast<int>(height);
  out->data.resize(stride * height);
  rows = static_cast<png_bytep*>(png_malloc(png, sizeof(png_bytep) * height));
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = out->data.data() + stride * y;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  png_free(png, rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return 0;
}

}  // namespace

Decoded decode_jpeg(const uint8_t* data, size_t size, const std::string& subject) {
  Decoded out;
  JpegError err{};
  const int status = jpeg_decode_raw(data, size, &out, &err, kMaxImagePixels);
  if (status == 2) check_size(out.width, out.height, subject);
  if (status != 0) {
    throw Error(subject, std::string("image data is corrupt or truncated (JPEG: ") + err.message + ")",
                kCorruptExpected);
  }
  return out;
}

Decoded decode_png(const uint8_t* data, size_t size, const std::string& subject) {
  Decoded out;
  PngState state{data, size, 0, {0}};
  const int status = png_decode_raw(&state, &out, kMaxImagePixels);
  if (status == 2) check_size(out.width, out.height, subject);
  if (status != 0) {
    throw Error(subject, std::string("image data is corrupt or truncated (PNG: ") + state.message + ")",
                kCorruptExpected);
  }
  return out;
}

}  // namespace detail

#ifdef IJEPA_HAVE_WEBP
constexpr const char* kFormats = "JPEG, PNG or WebP";
#else
constexpr const char* kFormats = "JPEG or PNG";
#endif

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& subject) {
  if (size == 0) throw Error(subject, "no image data (0 bytes)", "encoded image bytes");
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return detail::to_rgb(detail::decode_png(data, size, subject));
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return detail::to_rgb(detail::decode_jpeg(data, size, subject));
  }
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0) {
#ifdef IJEPA_HAVE_WEBP
    return detail::to_rgb(detail::decode_webp(data, size, subject));
#else
    throw Error(subject, "WebP image, but this build of the C++ runtime has no WebP decoder",
                "a build with libwebp (Debian libwebp-dev), or a JPEG or PNG file");
#endif
  }
  // Pillow (the Python runtime) reads more formats (BMP, GIF, TIFF, ...): decode those yourself.
  throw Error(subject, "not an image the C++ runtime can decode",
              std::string("a ") + kFormats + " file (decode other formats yourself and pass RGB pixels)");
}

std::vector<std::string> image_formats() {
#ifdef IJEPA_HAVE_WEBP
  return {"jpeg", "png", "webp"};
#else
  return {"jpeg", "png"};
#endif
}

RgbImage decode_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path, "no such file", "a path to an image file");
  if (std::filesystem::file_size(path, ec) == 0) {
    throw Error(path, "file is empty (0 bytes)", std::string("an image file (") + kFormats + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(path, "could not read the file", "a readable image file");
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace ijepa
