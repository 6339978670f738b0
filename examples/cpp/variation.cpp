// Image variation with the RAII wrapper: variation MODEL_DIR IN.png OUT.png [SEED]
// MODEL_DIR is a Stable unCLIP folder; the picture is redrawn from IN.png's
// CLIP image embedding (an "image prompt" with no text).
#include <dif.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IN.png OUT.png [SEED]\n", argv[0]);
    return 2;
  }
  try {
    dif::context ctx(argv[1]);
    dif::sample s(ctx, dif::prompt().add_image_file(argv[2]));
    s.seed(argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0).progress([](int step, int total) {
      std::printf("\rstep %d/%d", step, total);
      std::fflush(stdout);
      return false; // dif.h's cancel rule: true cancels, false goes on
    });
    s.run();
    s.save_png(0, argv[3]);
    std::printf("\nwrote %s (%dx%d, seed %llu)\n", argv[3], s.width(), s.height(),
                static_cast<unsigned long long>(s.seed()));
    return 0;
  } catch (const dif::error &e) {
    std::fprintf(stderr, "variation: %s\n", e.what());
    return 1;
  }
}
