/* fileio.h — opening files for reading, whole-file reads and atomic
 * whole-file writes.
 *
 * Small POSIX helpers shared by every reader and writer of libdif. Every
 * failure names the path and the system's reason.
 *
 * The one rule for reading: libdif reads regular files only. Every file it
 * reads (configs, tokenizer files, dif_defaults.json, weights, images,
 * records) is opened with dif__file_open_read, which never blocks: a FIFO,
 * device, socket or directory in place of a file is refused with a message
 * that says what it is, and a symbolic link loop or a dangling link is named
 * as such. There are no exceptions.
 */
#ifndef DIF__IO_FILEIO_H
#define DIF__IO_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/error.h"

/* Opens path for reading and returns its descriptor in *fd (close it with
 * close(); -1 on failure) and its fstat in *st (may be NULL). Symbolic links
 * are followed. Only a regular file is accepted: the file is opened with
 * O_NONBLOCK (so a FIFO cannot block the open) and its type checked on the
 * descriptor; O_NONBLOCK is then cleared. Errors (DIF_ERR_IO, the message
 * starts with the path): "<path> is a FIFO, not a regular file" (also a
 * directory, character device, block device, socket), "<path>: symbolic
 * link loop", "<path>: dangling symbolic link", "<path>: cannot open: <the
 * system's reason>"; DIF_ERR_INVALID_ARGUMENT for NULLs. */
dif_status dif__file_open_read(const char *path, int *fd, struct stat *st, dif__error *err);

/* Whether something (a file, a link, anything) is at path without following
 * a final symbolic link: 1 yes, 0 no (ENOENT/ENOTDIR), -1 cannot tell (e.g.
 * EACCES; errno is set). For optional files: absent is fine, anything else
 * present goes through dif__file_open_read and its messages. */
int dif__file_exists(const char *path);

/* The name of a file type for messages: "a FIFO", "a directory", ... */
const char *dif__file_type_name(mode_t mode);

/* Reads the whole file at path into a malloc'ed buffer *data of *len bytes
 * (the caller frees it; *data is NULL for an empty file and on failure).
 * The file must be a regular file (dif__file_open_read).
 * Errors: DIF_ERR_IO (cannot open or read, not a regular file), DIF_ERR_LIMIT (more
 * than max_bytes), DIF_ERR_OUT_OF_MEMORY, DIF_ERR_INVALID_ARGUMENT (NULLs). */
dif_status dif__file_read_all(const char *path, uint64_t max_bytes, uint8_t **data, size_t *len,
                              dif__error *err);

/* dif__file_read_all of a descriptor from dif__file_open_read (not closed
 * here); path is for messages. */
dif_status dif__file_read_fd(int fd, const char *path, uint64_t max_bytes, uint8_t **data,
                             size_t *len, dif__error *err);

/* Whether dif__file_write_atomic may write path, checked without writing:
 *   - path is absent, or a regular file (a symbolic link is refused, not
 *     followed: libdif neither writes through nor replaces links; so are
 *     directories, FIFOs, devices and sockets);
 *   - an existing file has a write permission bit (a file without any is
 *     refused, also for root) and the process may write it (access(W_OK)
 *     with the effective ids);
 *   - its folder exists and the process may create files in it (a name
 *     too long for the file system fails here too, with the system's
 *     words).
 * Errors: DIF_ERR_IO naming the path and the reason, DIF_ERR_INVALID_ARGUMENT
 * (NULL or empty path). */
dif_status dif__file_check_output(const char *path, dif__error *err);

/* Replaces the file at path with len bytes of data, atomically: checks path
 * as dif__file_check_output does, writes a new file ".dif-XXXXXX.tmp" in the
 * same folder, gives it the permission bits of the file it replaces (as root
 * also its owner and group; a new file gets 0666 minus the umask), fsyncs
 * it, checks path again and renames the new file over it, then fsyncs the
 * folder. On failure the temporary file is removed and path is untouched.
 * Errors: DIF_ERR_IO naming the path, DIF_ERR_OUT_OF_MEMORY,
 * DIF_ERR_INVALID_ARGUMENT. */
dif_status dif__file_write_atomic(const char *path, const void *data, size_t len, dif__error *err);

#endif
