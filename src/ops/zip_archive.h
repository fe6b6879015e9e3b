/*
 * zip_archive.h - write a directory tree as a ZIP file, for the diagnostic bundle (the guide:
 * "This creates a zip file"): a format every support desk opens, on any system, without tar.
 *
 * The file follows PKWARE's APPNOTE 6.3 in its most common form: per file a local header and the
 * data compressed with raw deflate (zlib), then the central directory and the end record. Names
 * are the paths below the directory, '/'-separated, in sorted order; directories get no entries
 * of their own (every unzip makes them from the paths). No ZIP64: a file or the whole archive
 * must stay below 4 GiB and 65,535 entries, far above what a bundle holds; beyond that the
 * call fails rather than writing a broken archive.
 */
#ifndef MCPGW_OPS_ZIP_ARCHIVE_H
#define MCPGW_OPS_ZIP_ARCHIVE_H

#include "core/buf.h"
#include "core/err.h"

/*
 * Write every regular file below dir into a new file zip_path (mode 0600; it must not exist).
 * Symbolic links and other special files are skipped. On failure nothing is left at zip_path,
 * and error receives one line saying what went wrong.
 */
enum gw_err zip_archive_write_tree(const char *dir, const char *zip_path, struct buf *error);

#endif
