/* data_dir.h — finding libdif's installed data (the default model, the
 * single-file presets) from wherever the library was installed or built. */
#ifndef DIF__API_DATA_DIR_H
#define DIF__API_DATA_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* Writes to out the first folder that passes ok() among, in order:
 *   1. $env_name (when env_name is not NULL and the variable is set);
 *   2. <folder of libdif>/DIF_LIB_TO_MODELS_DIR/sub: the install layout's
 *      path from the library folder (or, for a static library, the program's
 *      folder) to ${datadir}/dif/models, so an installed tree that was moved
 *      (`cmake --install --prefix X`, DESTDIR packaging) still finds it;
 *   3. the configured install folder, DIF_MODELS_DIR/sub;
 *   4. the source tree the library was built from, DIF_SOURCE_MODELS_DIR/sub.
 * Returns false (out = "") when none does. Thread-safe. */
bool dif__data_dir_find(const char *env_name, const char *sub, bool (*ok)(const char *dir),
                        char *out, size_t size);

#endif
