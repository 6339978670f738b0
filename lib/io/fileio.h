/* fileio.h — whole-file reads and atomic whole-file writes.
 *
 * Small POSIX helpers shared by the file formats of lib/io. Every failure
 * names the path and the system's reason.
 */
#ifndef DIF_IO_FILEIO_H
#define DIF_IO_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Reads the whole file at path into a malloc'ed buffer *data of *len bytes
 * (the caller frees it; *data is NULL for an empty file and on failure).
 * Errors: DIF_ERR_IO (cannot open or read, a directory), DIF_ERR_LIMIT (more
 * than max_bytes), DIF_ERR_OUT_OF_MEMORY, DIF_ERR_INVALID_ARGUMENT (NULLs). */
dif_status dif_file_read_all(const char *path, uint64_t max_bytes, uint8_t **data, size_t *len,
                             dif_error *err);

/* Replaces the file at path with len bytes of data, atomically: writes a new
 * file "<path>.tmp.XXXXXX" in the same directory (created with mode 0666
 * minus the umask, like any new file), fsyncs it, renames it over path and
 * fsyncs the directory. On failure the temporary file is removed and path is
 * untouched. Errors: DIF_ERR_IO naming the path, DIF_ERR_OUT_OF_MEMORY,
 * DIF_ERR_INVALID_ARGUMENT. */
dif_status dif_file_write_atomic(const char *path, const void *data, size_t len, dif_error *err);

#endif
