#include "zip_archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "core/alloc.h"

#define ZIP_LIMIT 0xFFFFFFFFull /* sizes and offsets are 32-bit without ZIP64 */
#define ZIP_MAX_ENTRIES 0xFFFF

#define LOCAL_HEADER_SIG 0x04034b50u
#define CENTRAL_HEADER_SIG 0x02014b50u
#define END_RECORD_SIG 0x06054b50u
#define VERSION_NEEDED 20           /* 2.0: deflate */
#define VERSION_MADE_BY_UNIX 0x0314 /* host 3 (UNIX), spec 2.0: external attributes hold the mode */
#define FLAG_UTF8_NAMES 0x0800
#define METHOD_DEFLATE 8

struct zip_entry {
    char *name;
    uint32_t crc, compressed_size, size, offset;
    uint16_t dos_time, dos_date;
    mode_t mode;
};

struct zip_writer {
    FILE *out;
    uint64_t offset; /* bytes written so far */
    struct zip_entry *entries;
    size_t count, alloc;
    struct buf *error;
};

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static enum gw_err fail(struct zip_writer *w, const char *what, const char *name)
{
    buf_printf(w->error, "ERROR: zip: %s%s%s", what, name ? ": " : "", name ? name : "");
    return GW_ERR_IO;
}

static enum gw_err write_bytes(struct zip_writer *w, const void *data, size_t len)
{
    if (w->offset + len > ZIP_LIMIT)
        return fail(w, "archive would exceed 4 GiB (no ZIP64)", NULL);
    if (len && fwrite(data, 1, len, w->out) != len)
        return fail(w, strerror(errno), "write");
    w->offset += len;
    return GW_OK;
}

/* MS-DOS date and time, in local time as unzip expects, clamped to the format's 1980 start. */
static void dos_time_of(time_t t, uint16_t *dos_time, uint16_t *dos_date)
{
    struct tm tm;
    localtime_r(&t, &tm);
    if (tm.tm_year < 80) {
        *dos_time = 0;
        *dos_date = (1 << 5) | 1; /* 1980-01-01 */
        return;
    }
    *dos_time = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    *dos_date = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

static enum gw_err read_whole_file(struct zip_writer *w, const char *path, unsigned char **data, size_t *len)
{
    struct buf b;
    buf_init(&b, ZIP_LIMIT - 1);
    enum gw_err err = buf_append_file(&b, path);
    if (err) {
        int saved = errno;
        buf_free(&b);
        return fail(w, err == GW_ERR_TOO_LARGE ? "file of 4 GiB or more (no ZIP64)" : strerror(saved), path);
    }
    *len = b.len;
    *data = (unsigned char *)buf_take(&b);
    return GW_OK;
}

/* Raw deflate (no zlib header: ZIP's method 8) of data into a new buffer. */
static enum gw_err deflate_raw(struct zip_writer *w, const unsigned char *data, size_t len,
                               unsigned char **out, size_t *out_len, const char *name)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return fail(w, "deflateInit2 failed", name);
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *p = gw_malloc(bound ? bound : 1);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = p;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(p);
        return fail(w, "deflate failed", name);
    }
    *out = p;
    return GW_OK;
}

static enum gw_err add_file(struct zip_writer *w, const char *path, const char *name, const struct stat *st)
{
    if (w->count == ZIP_MAX_ENTRIES)
        return fail(w, "more than 65,535 files (no ZIP64)", name);
    size_t name_len = strlen(name);
    if (name_len > 0xFFFF)
        return fail(w, "name too long", name);
    unsigned char *data = NULL, *packed = NULL;
    size_t len = 0, packed_len = 0;
    enum gw_err err = read_whole_file(w, path, &data, &len);
    if (!err)
        err = deflate_raw(w, data, len, &packed, &packed_len, name);
    if (err) {
        free(data);
        return err;
    }
    struct zip_entry e = {.crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len),
                          .compressed_size = (uint32_t)packed_len,
                          .size = (uint32_t)len,
                          .offset = (uint32_t)w->offset,
                          .mode = st->st_mode};
    free(data);
    dos_time_of(st->st_mtime, &e.dos_time, &e.dos_date);

    unsigned char h[30];
    put32(h, LOCAL_HEADER_SIG);
    put16(h + 4, VERSION_NEEDED);
    put16(h + 6, FLAG_UTF8_NAMES);
    put16(h + 8, METHOD_DEFLATE);
    put16(h + 10, e.dos_time);
    put16(h + 12, e.dos_date);
    put32(h + 14, e.crc);
    put32(h + 18, e.compressed_size);
    put32(h + 22, e.size);
    put16(h + 26, (uint16_t)name_len);
    put16(h + 28, 0); /* no extra field */
    err = write_bytes(w, h, sizeof(h));
    if (!err)
        err = write_bytes(w, name, name_len);
    if (!err)
        err = write_bytes(w, packed, packed_len);
    free(packed);
    if (err)
        return err;
    if (w->count == w->alloc) {
        w->alloc = w->alloc ? w->alloc * 2 : 16;
        w->entries = gw_realloc(w->entries, w->alloc * sizeof(*w->entries));
    }
    e.name = gw_strdup(name);
    w->entries[w->count++] = e;
    return GW_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every regular file below dir/prefix (prefix "" at the top), in sorted order. */
static enum gw_err add_tree(struct zip_writer *w, const char *dir, const char *prefix)
{
    char *here = prefix[0] ? gw_malloc(strlen(dir) + strlen(prefix) + 2) : gw_strdup(dir);
    if (prefix[0])
        sprintf(here, "%s/%s", dir, prefix);
    DIR *d = opendir(here);
    if (!d) {
        enum gw_err err = fail(w, strerror(errno), here);
        free(here);
        return err;
    }
    char **names = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            names = gw_realloc(names, alloc * sizeof(*names));
        }
        names[n++] = gw_strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), compare_names);
    enum gw_err err = GW_OK;
    for (size_t i = 0; i < n && !err; i++) {
        char *name = gw_malloc(strlen(prefix) + strlen(names[i]) + 2);
        sprintf(name, "%s%s%s", prefix, prefix[0] ? "/" : "", names[i]);
        char *path = gw_malloc(strlen(dir) + strlen(name) + 2);
        sprintf(path, "%s/%s", dir, name);
        struct stat st;
        if (lstat(path, &st) != 0)
            err = fail(w, strerror(errno), path);
        else if (S_ISDIR(st.st_mode))
            err = add_tree(w, dir, name);
        else if (S_ISREG(st.st_mode))
            err = add_file(w, path, name, &st);
        free(name);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(here);
    return err;
}

static enum gw_err write_central_directory(struct zip_writer *w)
{
    uint64_t start = w->offset;
    enum gw_err err = GW_OK;
    for (size_t i = 0; i < w->count && !err; i++) {
        const struct zip_entry *e = &w->entries[i];
        size_t name_len = strlen(e->name);
        unsigned char h[46];
        put32(h, CENTRAL_HEADER_SIG);
        put16(h + 4, VERSION_MADE_BY_UNIX);
        put16(h + 6, VERSION_NEEDED);
        put16(h + 8, FLAG_UTF8_NAMES);
        put16(h + 10, METHOD_DEFLATE);
        put16(h + 12, e->dos_time);
        put16(h + 14, e->dos_date);
        put32(h + 16, e->crc);
        put32(h + 20, e->compressed_size);
        put32(h + 24, e->size);
        put16(h + 28, (uint16_t)name_len);
        put16(h + 30, 0); /* extra field */
        put16(h + 32, 0); /* comment */
        put16(h + 34, 0); /* disk number */
        put16(h + 36, 0); /* internal attributes */
        put32(h + 38, (uint32_t)(e->mode & 0xFFFF) << 16);
        put32(h + 42, e->offset);
        err = write_bytes(w, h, sizeof(h));
        if (!err)
            err = write_bytes(w, e->name, name_len);
    }
    if (err)
        return err;
    unsigned char end[22];
    put32(end, END_RECORD_SIG);
    put16(end + 4, 0); /* this disk */
    put16(end + 6, 0); /* the central directory's disk */
    put16(end + 8, (uint16_t)w->count);
    put16(end + 10, (uint16_t)w->count);
    put32(end + 12, (uint32_t)(w->offset - start));
    put32(end + 16, (uint32_t)start);
    put16(end + 20, 0); /* no comment */
    return write_bytes(w, end, sizeof(end));
}

enum gw_err zip_archive_write_tree(const char *dir, const char *zip_path, struct buf *error)
{
    struct zip_writer w = {.error = error};
    int fd = open(zip_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(w.out = fdopen(fd, "wb"))) {
        buf_printf(error, "ERROR: zip: %s: %s", zip_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return GW_ERR_IO;
    }
    enum gw_err err = add_tree(&w, dir, "");
    if (!err)
        err = write_central_directory(&w);
    if (fclose(w.out) != 0 && !err)
        err = fail(&w, strerror(errno), zip_path);
    if (err)
        unlink(zip_path);
    for (size_t i = 0; i < w.count; i++)
        free(w.entries[i].name);
    free(w.entries);
    return err;
}
