/* attn_fused_amx.c — the fused bf16 attention (attn_fused.h) with its two
 * products in AMX tiles: TDPBF16PS on 16 × 32 bf16 by 16 × 16 float32
 * tiles, the softmax in AVX512-BF16 (attn_fused_lanes_avx512.h). CMake
 * compiles this file with -mavx512f -mavx512bf16 -mamx-tile -mamx-bf16 on
 * x86-64 when the compiler takes them (and defines DIF_HAVE_AMX_KERNELS);
 * elsewhere it is empty. Only called after attn_fused.c has checked the CPU
 * and obtained the OS's permission; each pool task configures the tiles
 * and releases them when it ends. attn_fused_tiles_model.c runs the same
 * source with the tiles modelled in C on every CPU.
 */
#include "core/attn_fused.h"

/* GCC says __AMX_BF16__, Clang __AMXBF16__ */
#if defined(DIF_HAVE_AMX_KERNELS) && (defined(__AMX_BF16__) || defined(__AMXBF16__)) &&            \
    defined(__AVX512BF16__)

#include "core/attn_fused_lanes_avx512.h"

/* GCC's TILELOADD is an asm statement that does not say it reads memory, so
 * a compiler barrier first makes the stores before it (the softmax's P, the
 * rescaled O) visible to it. TILESTORED says it writes memory. */
#define at_config(cfg) _tile_loadconfig(cfg)
#define at_release() _tile_release()
#define at_zero(t) _tile_zero(t)
#define at_load(t, p, s)                                                                           \
  do {                                                                                             \
    __asm__ __volatile__("" ::: "memory");                                                         \
    _tile_loadd(t, p, s);                                                                          \
  } while (0)
#define at_store(t, p, s) _tile_stored(t, p, s)
#define at_dp(c, a, b) _tile_dpbf16ps(c, a, b)

#define AF_TILES
#define AF(name) name##_amx
#include "core/attn_fused_impl.h"

#else

typedef int dif__attn_fused_amx_empty; /* ISO C forbids an empty translation unit */

#endif
