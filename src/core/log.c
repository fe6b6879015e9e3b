/*
 * log.c - JSON-lines logger.
 *
 * Threading model: the level is a relaxed atomic, so a disabled log_debug costs one load.
 * Each thread formats into its own reusable buffer (no allocation once warm), then emits the
 * whole line with one write(2) per destination. stderr writes are serialised by a mutex
 * because stderr may be a pipe, where writes above PIPE_BUF (4 KiB) can interleave. The log
 * file fd is guarded by a writer-preferring rwlock: writers share it (O_APPEND writes to a
 * regular file are atomic as a whole on Linux), log_reopen takes it exclusively only to swap
 * the fd, so the old fd is closed when no writer can still be using it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"

/* Longest line written, newline included. Longer lines get their message (and, if still
 * needed, their string fields) cut and "truncated":true added. */
#define LOG_LINE_MAX 16384
/* Field values are cut to this many bytes when cutting the message alone was not enough. */
#define LOG_FIELD_VALUE_CUT 256

static char log_service_name[64] = "mcpgw";
static char log_file_path[PATH_MAX];
static atomic_int log_min_level = LOG_INFO;

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_rwlock_t log_file_lock;
static int log_file_fd = -1;
static pthread_mutex_t log_stderr_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool log_to_stderr = true; /* besides the file; see log_set_stderr */

/* Per-thread line buffer, freed by the key's destructor when the thread exits. */
static pthread_key_t log_buf_key;

static void log_free_thread_buf(void *p)
{
    struct buf *b = p;
    buf_free(b);
    free(b);
}

static void log_init_once(void)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Writers (log lines) are constant under load; without this a reopen could wait forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&log_file_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (pthread_key_create(&log_buf_key, log_free_thread_buf) != 0)
        gw_oom(sizeof(pthread_key_t));
}

static struct buf *log_thread_buf(void)
{
    struct buf *b = pthread_getspecific(log_buf_key);
    if (!b) {
        b = gw_malloc(sizeof(*b));
        buf_init(b, LOG_LINE_MAX);
        if (pthread_setspecific(log_buf_key, b) != 0)
            gw_oom(sizeof(*b));
    }
    buf_reset(b);
    return b;
}

/* ---- fields ---------------------------------------------------------------------------- */

struct log_field log_str(const char *key, const char *value)
{
    struct log_field f = {.key = key, .type = LOG_FIELD_STR, .v.s = value};
    return f;
}

struct log_field log_int(const char *key, long long value)
{
    struct log_field f = {.key = key, .type = LOG_FIELD_INT, .v.i = value};
    return f;
}

struct log_field log_double(const char *key, double value)
{
    struct log_field f = {.key = key, .type = LOG_FIELD_DOUBLE, .v.d = value};
    return f;
}

struct log_field log_bool(const char *key, bool value)
{
    struct log_field f = {.key = key, .type = LOG_FIELD_BOOL, .v.b = value};
    return f;
}

/* Keys whose values must never reach a log: bearer tokens, client secrets, passwords,
 * authorization codes and PKCE verifiers, Authorization and Cookie headers. */
static bool log_key_is_secret(const char *key)
{
    static const char *const contains[] = {"token", "secret", "password", "authorization", "cookie"};
    static const char *const equals[] = {"code", "code_verifier", "client_secret"};
    for (size_t i = 0; i < sizeof(contains) / sizeof(contains[0]); i++)
        if (strcasestr(key, contains[i]))
            return true;
    for (size_t i = 0; i < sizeof(equals) / sizeof(equals[0]); i++)
        if (strcasecmp(key, equals[i]) == 0)
            return true;
    return false;
}

/* Keys the line itself uses; a field with one of these names is written as field_<name>
 * so that filters on .level or .message can trust what they read. */
static bool log_key_is_reserved(const char *key)
{
    static const char *const reserved[] = {"timestamp", "level", "service", "message", "truncated"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(key, reserved[i]) == 0)
            return true;
    return false;
}

/* ---- formatting ------------------------------------------------------------------------ */

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_DEBUG:
        return "DEBUG";
    case LOG_INFO:
        return "INFO";
    case LOG_WARNING:
        return "WARNING";
    case LOG_ERROR:
        return "ERROR";
    }
    return "ERROR";
}

/* "2026-11-27T20:30:45.123Z". The part up to the seconds is cached per thread because
 * gmtime_r is the most expensive step of a line and changes once a second. */
static enum gw_err log_append_timestamp(struct buf *b)
{
    static _Thread_local time_t cached_second = (time_t)-1;
    static _Thread_local char cached_prefix[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        strftime(cached_prefix, sizeof(cached_prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = now.tv_sec;
    }
    return buf_printf(b, "%s.%03ldZ", cached_prefix, now.tv_nsec / 1000000);
}

/* Up to 3 decimals without trailing zeros ("15", "15.5", "0.123"); JSON has no NaN or
 * infinity, so those become null. */
static enum gw_err log_append_double(struct buf *b, double d)
{
    if (!isfinite(d))
        return buf_append_str(b, "null");
    char tmp[64];
    /* Beyond 1e15 the 3 decimals are noise, and an exponent keeps readers that parse
     * integers into 64 bits (jansson) from refusing a 300-digit "integer". */
    if (fabs(d) >= 1e15) {
        char exact[40];
        snprintf(exact, sizeof(exact), "%.15g", d);
        if (strtod(exact, NULL) != d)
            snprintf(exact, sizeof(exact), "%.17g", d);
        return buf_append_str(b, exact);
    }
    int n = snprintf(tmp, sizeof(tmp), "%.3f", d);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return GW_ERR_INVALID;
    while (n > 0 && tmp[n - 1] == '0')
        n--;
    if (n > 0 && tmp[n - 1] == '.')
        n--;
    if (n == 2 && tmp[0] == '-' && tmp[1] == '0')
        n = 1, tmp[0] = '0'; /* "-0.0001" rounds to "-0": write 0 */
    return buf_append(b, tmp, (size_t)n);
}

/* Length of s[0..len) cut back so that it does not end inside a UTF-8 sequence. */
static size_t log_utf8_cut(const char *s, size_t len)
{
    size_t back = 0;
    while (len > 0 && back < 3 && ((unsigned char)s[len] & 0xc0) == 0x80) {
        len--;
        back++;
    }
    return len;
}

static enum gw_err log_append_json_string(struct buf *b, const char *s, size_t len)
{
    enum gw_err err = buf_append_char(b, '"');
    if (!err)
        err = buf_append_json_escaped(b, s, len);
    if (!err)
        err = buf_append_char(b, '"');
    return err;
}

static enum gw_err log_append_field(struct buf *b, const struct log_field *f, size_t value_cap)
{
    const char *key = f->key ? f->key : "field";
    enum gw_err err = buf_append_str(b, log_key_is_reserved(key) ? ",\"field_" : ",\"");
    if (!err)
        err = buf_append_json_escaped(b, key, strlen(key));
    if (!err)
        err = buf_append(b, "\":", 2);
    if (err)
        return err;
    switch (f->type) {
    case LOG_FIELD_STR: {
        if (log_key_is_secret(key))
            return buf_append_str(b, "\"[REDACTED]\"");
        if (!f->v.s)
            return buf_append_str(b, "null");
        size_t len = strlen(f->v.s);
        if (len > value_cap)
            len = log_utf8_cut(f->v.s, value_cap);
        return log_append_json_string(b, f->v.s, len);
    }
    case LOG_FIELD_INT:
        return buf_printf(b, "%lld", f->v.i);
    case LOG_FIELD_DOUBLE:
        return log_append_double(b, f->v.d);
    case LOG_FIELD_BOOL:
        return buf_append_str(b, f->v.b ? "true" : "false");
    }
    return buf_append_str(b, "null");
}

/* One whole line into b (appended; b's cap bounds it). GW_ERR_TOO_LARGE if it does not fit. */
static enum gw_err log_format_into(struct buf *b, enum log_level level, const char *service,
                                   const char *message, size_t message_len, const struct log_field *fields,
                                   int nfields, size_t value_cap, bool truncated)
{
    enum gw_err err = buf_append_str(b, "{\"timestamp\":\"");
    if (!err)
        err = log_append_timestamp(b);
    if (!err)
        err = buf_printf(b, "\",\"level\":\"%s\",\"service\":", log_level_name(level));
    if (!err)
        err = log_append_json_string(b, service, strlen(service));
    if (!err)
        err = buf_append_str(b, ",\"message\":");
    if (!err)
        err = log_append_json_string(b, message, message_len);
    for (int i = 0; !err && fields && i < nfields; i++)
        err = log_append_field(b, &fields[i], value_cap);
    if (!err && truncated)
        err = buf_append_str(b, ",\"truncated\":true");
    if (!err)
        err = buf_append(b, "}\n", 2);
    return err;
}

/* The line did not fit in b: keep as much of the message as fits (binary search over its
 * length, since escaping can grow a byte up to six), then cut string fields, then drop them. */
static enum gw_err log_format_truncated(struct buf *b, enum log_level level, const char *service,
                                        const char *message, size_t message_len,
                                        const struct log_field *fields, int nfields)
{
    size_t value_cap = SIZE_MAX;
    buf_reset(b);
    if (log_format_into(b, level, service, message, 0, fields, nfields, value_cap, true)) {
        value_cap = LOG_FIELD_VALUE_CUT;
        buf_reset(b);
        if (log_format_into(b, level, service, message, 0, fields, nfields, value_cap, true))
            nfields = 0;
    }
    buf_reset(b);
    if (log_format_into(b, level, service, message, message_len, fields, nfields, value_cap, true) == GW_OK)
        return GW_OK; /* cutting the fields was enough */
    size_t fits = 0, too_long = message_len;
    while (too_long - fits > 1) {
        size_t mid = fits + (too_long - fits) / 2;
        buf_reset(b);
        if (log_format_into(b, level, service, message, mid, fields, nfields, value_cap, true) == GW_OK)
            fits = mid;
        else
            too_long = mid;
    }
    buf_reset(b);
    /* With a service name under 64 bytes and no fields this always fits in LOG_LINE_MAX. */
    return log_format_into(b, level, service, message, log_utf8_cut(message, fits), fields, nfields,
                           value_cap, true);
}

/* Shared body of log_format_line and log_format_line_capped: format into a temporary buffer
 * capped at outsz - 1, then copy with the NUL. */
static int log_format_to_array(char *out, size_t outsz, enum log_level level, const char *service,
                               const char *message, const struct log_field *fields, int nfields, bool cut)
{
    if (!out || outsz == 0)
        return -1;
    out[0] = '\0';
    if (!service)
        service = log_service_name;
    if (!message)
        message = "";
    struct buf b;
    buf_init(&b, outsz - 1);
    size_t message_len = strlen(message);
    enum gw_err err =
        log_format_into(&b, level, service, message, message_len, fields, nfields, SIZE_MAX, false);
    if (err && cut)
        err = log_format_truncated(&b, level, service, message, message_len, fields, nfields);
    int len = -1;
    if (!err && b.len <= INT_MAX) {
        memcpy(out, b.data, b.len + 1);
        len = (int)b.len;
    }
    buf_free(&b);
    return len;
}

int log_format_line(char *out, size_t outsz, enum log_level level, const char *service, const char *message,
                    const struct log_field *fields, int nfields)
{
    return log_format_to_array(out, outsz, level, service, message, fields, nfields, false);
}

int log_format_line_capped(char *out, size_t outsz, enum log_level level, const char *service,
                           const char *message, const struct log_field *fields, int nfields)
{
    return log_format_to_array(out, outsz, level, service, message, fields, nfields, true);
}

/* ---- output ---------------------------------------------------------------------------- */

/* One write(2) in the normal case; the loop only continues after a signal or a short write
 * (a full pipe), which a regular file never produces. */
static void log_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report a failing log */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void log_emit(const char *line, size_t len)
{
    pthread_rwlock_rdlock(&log_file_lock);
    bool in_file = log_file_fd >= 0;
    if (in_file)
        log_write_all(log_file_fd, line, len);
    pthread_rwlock_unlock(&log_file_lock);

    /* Without a file stderr is the only copy, whatever log_set_stderr said. */
    if (in_file && !atomic_load(&log_to_stderr))
        return;
    pthread_mutex_lock(&log_stderr_lock);
    log_write_all(STDERR_FILENO, line, len);
    pthread_mutex_unlock(&log_stderr_lock);
}

void log_set_stderr(bool on)
{
    atomic_store(&log_to_stderr, on);
}

void log_write(enum log_level level, const char *message, const struct log_field *fields, int nfields)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno; /* callers log and then report errno */
    pthread_once(&log_once, log_init_once);
    if (!message)
        message = "";
    struct buf *b = log_thread_buf();
    size_t message_len = strlen(message);
    enum gw_err err =
        log_format_into(b, level, log_service_name, message, message_len, fields, nfields, SIZE_MAX, false);
    if (err)
        err = log_format_truncated(b, level, log_service_name, message, message_len, fields, nfields);
    if (!err)
        log_emit(b->data, b->len);
    errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno;
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        errno = saved_errno;
        return;
    }
    char *message = small;
    if ((size_t)n >= sizeof(small)) {
        /* A message longer than a line is cut anyway; LOG_LINE_MAX + 1 bytes still makes
         * log_write see that it is too long and mark the line truncated. */
        size_t size = (size_t)n + 1 < LOG_LINE_MAX + 1 ? (size_t)n + 1 : LOG_LINE_MAX + 1;
        message = gw_malloc(size);
        va_start(ap, fmt);
        vsnprintf(message, size, fmt, ap);
        va_end(ap);
    }
    errno = saved_errno; /* so that %m-style callers and the line see the same errno */
    log_write(level, message, NULL, 0);
    if (message != small)
        free(message);
    errno = saved_errno;
}

/* ---- set-up ---------------------------------------------------------------------------- */

/* mkdir -p with mode 0750 for every directory created. */
static enum gw_err log_make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return GW_ERR_INVALID;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return GW_ERR_IO;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return GW_ERR_IO;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return GW_ERR_IO;
    }
    return GW_OK;
}

static int log_open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

/* Replace the file fd; the old one is closed after the exclusive lock guarantees that no
 * writer is inside write(2) with it. */
static void log_swap_fd(int fd)
{
    pthread_rwlock_wrlock(&log_file_lock);
    int old = log_file_fd;
    log_file_fd = fd;
    pthread_rwlock_unlock(&log_file_lock);
    if (old >= 0)
        close(old);
}

enum gw_err log_init(const char *service, const char *log_dir, enum log_level level)
{
    pthread_once(&log_once, log_init_once);
    if (!service || !*service)
        service = "mcpgw";
    /* The service name becomes a file name: keep it inside log_dir. */
    if (strchr(service, '/') || strcmp(service, ".") == 0 || strcmp(service, "..") == 0)
        return GW_ERR_INVALID;
    snprintf(log_service_name, sizeof(log_service_name), "%s", service);
    log_set_level(level);
    log_swap_fd(-1);
    log_file_path[0] = '\0';
    if (!log_dir || !*log_dir)
        return GW_OK;
    enum gw_err err = log_make_dirs(log_dir);
    if (err)
        return err == GW_ERR_INVALID ? err : GW_ERR_IO;
    int n = snprintf(log_file_path, sizeof(log_file_path), "%s/%s.log", log_dir, log_service_name);
    if (n < 0 || (size_t)n >= sizeof(log_file_path)) {
        log_file_path[0] = '\0';
        errno = ENAMETOOLONG;
        return GW_ERR_INVALID;
    }
    int fd = log_open_file(log_file_path);
    if (fd < 0)
        return GW_ERR_IO;
    log_swap_fd(fd);
    return GW_OK;
}

void log_shutdown(void)
{
    pthread_once(&log_once, log_init_once);
    log_swap_fd(-1);
    log_file_path[0] = '\0';
}

enum gw_err log_reopen(void)
{
    pthread_once(&log_once, log_init_once);
    if (!log_file_path[0])
        return GW_OK; /* stderr only: nothing to reopen */
    int fd = log_open_file(log_file_path);
    if (fd < 0)
        return GW_ERR_IO; /* keep writing to the old file rather than nowhere */
    log_swap_fd(fd);
    return GW_OK;
}

void log_set_level(enum log_level level)
{
    if ((int)level < LOG_DEBUG)
        level = LOG_DEBUG;
    if ((int)level > LOG_ERROR)
        level = LOG_ERROR;
    atomic_store_explicit(&log_min_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

enum gw_err log_level_parse(const char *text, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"DEBUG", LOG_DEBUG},
                 {"INFO", LOG_INFO},
                 {"WARNING", LOG_WARNING},
                 {"WARN", LOG_WARNING},
                 {"ERROR", LOG_ERROR}};
    if (!text || !out)
        return GW_ERR_INVALID;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].level;
            return GW_OK;
        }
    }
    return GW_ERR_INVALID;
}

const char *log_service(void)
{
    return log_service_name;
}
