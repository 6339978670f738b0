/* kind_clip_preprocess.c — CLIP image preprocessing cases (README-clip.md §5).
 *
 * Each case file's __metadata__ "image" names its input image, relative to
 * the case folder (or, failing that, to the fixture root). Two processors:
 * the case folder's preprocessor_config.json (224 px) gives pixel_values,
 * ROOT/models/clip-vision-tiny/preprocessor_config.json (32 px, §6) gives
 * pixel_values_32.
 *
 * Tolerance 1e-6 abs on pixel values: the resampler is a port of Pillow's
 * fixed-point code, so the resized and cropped uint8 pixels must be
 * identical, and rescale/normalize repeat numpy's float64-then-float32
 * arithmetic, so the floats should be too; 1e-6 only leaves room for a
 * last-bit difference in float32 division. Each tensor is also checked as
 * uint8 (the reference un-normalised and rounded; tolerance 0), which says
 * directly whether the resize and crop are exact.
 *
 * What is compared with what:
 *   - pixel_values, pixel_values_32 come from Image.open(file), which ignores
 *     EXIF orientation. libdif's loader applies it (as diffusers' load_image
 *     does), so the loaded image is turned back with the inverse orientation
 *     before preprocessing. pixel_values_exif (load_image, EXIF applied) is
 *     compared with dif__clip_preprocess_file's output as it comes.
 *   - decoded_rgb (JPEGs) is compared with the decoded, un-oriented pixels
 *     (tolerance 0; libjpeg-turbo here decodes as Pillow's does).
 *   - 16-bit PNGs: Pillow opens 16-bit gray as mode "I" and convert("RGB")
 *     clips it to 0..255 (nearly everything white); 16-bit colour keeps the
 *     high byte. That is a defect of the reference, which libdif does not
 *     copy: it scales samples as round(v / 257). For these files the runner
 *     reads the raw samples with libpng and checks (a) libdif's output
 *     against the raw samples scaled round(v / 257) and sent through the same
 *     preprocessing (bit-exact: this pins the loader's scaling), and (b) the
 *     fixture's pixel_values against the raw samples converted Pillow's way
 *     and preprocessed by libdif (1e-6: this still tests the resampler on
 *     the case, and that the fixture is what the README says). How far
 *     libdif's real output is from the fixture is printed as "info".
 */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kinds.h"
#include "models/clip_preprocess.h"

#define TOL 1e-6

typedef struct procs {
  dif__clip_preprocess p224, p32;
  int ok224, ok32;
} procs;

/* Preprocesses img with p into a new buffer (n floats); NULL after
 * recording a failure. The uint8 crop is returned in *crop when non-NULL. */
static float *run(golden *g, const char *name, const char *what, const dif__clip_preprocess *p,
                  const dif__image *img, int64_t *n, dif__image *crop) {
  dif__error err = {0};
  dif__image c;
  if (dif__clip_preprocess_resize_crop(p, img, NULL, &c, &err)) {
    golden_fail(g, name, "%s: %s", what, err.msg);
    return NULL;
  }
  *n = (int64_t)3 * c.width * c.height;
  float *out = malloc((size_t)*n * sizeof *out);
  if (!out) {
    golden_fail(g, name, "%s: out of memory", what);
    dif__image_free(&c);
    return NULL;
  }
  dif__clip_preprocess_pixels(p, &c, out);
  if (crop)
    *crop = c;
  else
    dif__image_free(&c);
  return out;
}

/* The reference tensor key turned back into uint8 values (as doubles) by
 * undoing p's normalize and rescale; NULL if absent. */
static double *ref_uint8(golden *g, const char *name, const dif__safetensors *st, const char *key,
                         const dif__clip_preprocess *p, int64_t *n) {
  double *v = golden_tensor(g, name, st, key, n);
  if (!v) return NULL;
  int64_t plane = *n / 3;
  for (int64_t i = 0; i < *n; i++) {
    int c = (int)(i / plane);
    double x = v[i];
    if (p->do_normalize) x = x * (float)p->std[c] + (float)p->mean[c];
    if (p->do_rescale) x /= p->rescale_factor;
    v[i] = nearbyint(x);
  }
  return v;
}

/* Compares p(img) with tensor key: as floats (TOL) and as uint8 (exact). */
static void check_pixels(golden *g, const char *name, const dif__safetensors *st, const char *key,
                         const dif__clip_preprocess *p, const dif__image *img) {
  int64_t n = 0, m = 0;
  dif__image crop = {0};
  float *got = run(g, name, key, p, img, &n, &crop);
  if (!got) return;
  if (golden_check(g, name, key, got, n, st, TOL, 0)) {
    double *want = ref_uint8(g, name, st, key, p, &m);
    float *u8 = malloc((size_t)n * sizeof *u8);
    if (want && u8 && m == n) {
      int64_t plane = n / 3;
      for (int64_t i = 0; i < n; i++) u8[i] = crop.rgb[(i % plane) * 3 + i / plane];
      char what[96];
      snprintf(what, sizeof what, "%s as uint8", key);
      golden_check_vals(g, name, what, u8, want, n, 0, 0);
    }
    free(want);
    free(u8);
  }
  dif__image_free(&crop);
  free(got);
}

/* Bit-exact comparison of p(a) and p(b). */
static void check_same(golden *g, const char *name, const char *what, const dif__clip_preprocess *p,
                       const dif__image *a, const dif__image *b) {
  int64_t na = 0, nb = 0;
  float *fa = run(g, name, what, p, a, &na, NULL);
  float *fb = fa ? run(g, name, what, p, b, &nb, NULL) : NULL;
  if (fa && fb) {
    if (na == nb)
      golden_check_bits(g, name, what, fa, fb, na);
    else
      golden_fail(g, name, "%s: %lld vs %lld values", what, (long long)na, (long long)nb);
  }
  free(fa);
  free(fb);
}

/* A 16-bit PNG's samples converted to RGB8 two ways: *ours as libdif's
 * loader does (round(v / 257)), *pil as Pillow 9.4's open + convert("RGB")
 * (gray: clipped to 0..255; colour: the high byte). Returns 1 when path is
 * a 16-bit PNG, 0 when it is not, -1 when it cannot be read. */
static int read_png16(const char *path, dif__image *ours, dif__image *pil) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char sig[8];
  if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
    fclose(f);
    return 0;
  }
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  volatile int ret = -1;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return ret;
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, 8);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  int ch = png_get_channels(png, info);
  if (depth != 16) {
    ret = 0;
  } else if (!dif__image_alloc(ours, w, h, NULL, NULL) &&
             !dif__image_alloc(pil, w, h, NULL, NULL)) {
    png_bytepp rows = png_get_rows(png, info);
    int color = type & PNG_COLOR_MASK_COLOR;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
          const png_byte *s = rows[y] + ((size_t)x * ch + (color ? c : 0)) * 2;
          unsigned v = (unsigned)s[0] << 8 | s[1];
          size_t o = ((size_t)y * w + x) * 3 + c;
          ours->rgb[o] = (uint8_t)((v + 128) / 257); /* round(v / 257): v/257 never ends in .5 */
          pil->rgb[o] = (uint8_t)(color ? v >> 8 : (v > 255 ? 255 : v));
        }
    ret = 1;
  }
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  return ret;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Largest |a - b| of p(img) against tensor key (for the "info" line). */
static void info_diff(golden *g, const char *name, const dif__safetensors *st, const char *key,
                      const dif__clip_preprocess *p, const dif__image *img) {
  int64_t n = 0, m = 0;
  float *got = run(g, name, key, p, img, &n, NULL);
  double *want = got ? golden_tensor(g, name, st, key, &m) : NULL;
  if (want && m == n) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(got[i] - want[i]));
    printf("  info %s %s: libdif's own output differs from the (Pillow-clipped) reference by "
           "max_abs=%.3g, as expected\n",
           name, key, mx);
  }
  free(got);
  free(want);
}

static void run_case(golden *g, const char *dir, const char *name, const dif__safetensors *st,
                     const procs *pr) {
  const char *rel = dif__st_metadata(st, "image");
  if (!rel) {
    golden_fail(g, name, "no 'image' in metadata");
    return;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  if (!exists(path)) snprintf(path, sizeof path, "%s", golden_path(g, rel));
  dif__error err = {0};
  dif__image upright, stored = {0};
  if (dif__image_load(path, NULL, &upright, &err)) {
    golden_fail(g, name, "%s", err.msg);
    return;
  }
  /* The pixels as stored in the file, which Image.open gives. */
  if (dif__image_alloc(&stored, upright.width, upright.height, NULL, &err) ||
      (memcpy(stored.rgb, upright.rgb, (size_t)upright.width * upright.height * 3),
       dif__image_orient(&stored, dif__image_orientation_inverse(upright.exif_orientation),
                         &err))) {
    golden_fail(g, name, "%s", err.msg);
    goto done;
  }

  if (dif__st_find(st, "decoded_rgb")) {
    int64_t n = (int64_t)stored.width * stored.height * 3;
    float *got = malloc((size_t)n * sizeof *got);
    if (got) {
      for (int64_t i = 0; i < n; i++) got[i] = stored.rgb[i];
      golden_check(g, name, "decoded_rgb", got, n, st, 0, 0);
    }
    free(got);
  }

  dif__image ours16 = {0}, pil16 = {0};
  int png16 = read_png16(path, &ours16, &pil16);
  if (png16 < 0) golden_fail(g, name, "cannot read %s", path);
  const dif__image *ref_in = png16 == 1 ? &pil16 : &stored;
  if (png16 == 1) {
    if (pr->ok224)
      check_same(g, name, "libdif 16-bit PNG (round(v/257)), 224", &pr->p224, &stored, &ours16);
    if (pr->ok32)
      check_same(g, name, "libdif 16-bit PNG (round(v/257)), 32", &pr->p32, &stored, &ours16);
  }
  if (pr->ok224) check_pixels(g, name, st, "pixel_values", &pr->p224, ref_in);
  if (pr->ok32 && dif__st_find(st, "pixel_values_32"))
    check_pixels(g, name, st, "pixel_values_32", &pr->p32, ref_in);
  if (png16 == 1 && pr->ok224) info_diff(g, name, st, "pixel_values", &pr->p224, &stored);

  if (pr->ok224 && dif__st_find(st, "pixel_values_exif")) {
    /* The file entry point: EXIF applied as load_image does. */
    int w = 0, h = 0;
    float *got = NULL;
    if (dif__clip_preprocess_output_size(&pr->p224, upright.width, upright.height, &w, &h, &err) ||
        !(got = malloc((size_t)3 * w * h * sizeof *got)) ||
        dif__clip_preprocess_file(&pr->p224, path, NULL, got, (size_t)3 * w * h, &w, &h, &err))
      golden_fail(g, name, "pixel_values_exif: %s", err.msg[0] ? err.msg : "out of memory");
    else
      golden_check(g, name, "pixel_values_exif", got, (int64_t)3 * w * h, st, TOL, 0);
    free(got);
  }
  dif__image_free(&ours16);
  dif__image_free(&pil16);
done:
  dif__image_free(&stored);
  dif__image_free(&upright);
}

int golden_kind_clip_preprocess(golden *g, const char *dir) {
  procs pr = {0};
  dif__error err = {0};
  pr.ok224 = dif__clip_preprocess_load(dir, &pr.p224, &err) == DIF_OK;
  if (!pr.ok224) golden_fail(g, "preprocessor_config.json", "%s", err.msg);
  pr.ok32 =
      dif__clip_preprocess_load(golden_path(g, "models/clip-vision-tiny"), &pr.p32, &err) == DIF_OK;
  if (!pr.ok32) golden_fail(g, "clip-vision-tiny preprocessor", "%s", err.msg);
  size_t n;
  char **files = golden_list(dir, ".safetensors", &n);
  for (size_t i = 0; i < n; i++) {
    dif__safetensors *st = golden_open_case(g, dir, files[i]);
    if (st) run_case(g, dir, files[i], st, &pr);
    dif__st_close(st);
  }
  golden_free_list(files, n);
  return (int)n;
}
