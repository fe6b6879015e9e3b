/*
 * log.h - JSON-lines logger (DESIGN §7).
 *
 * One JSON object per line with `timestamp` (RFC 3339 UTC, milliseconds), `level`
 * (DEBUG/INFO/WARNING/ERROR), `service`, `message`, then any fields the caller adds. Each line
 * goes to stderr and, when a log directory is configured, to <dir>/<service>.log. Writes are
 * single write(2) calls of whole lines, so lines from several threads never interleave.
 * Thread-safe. Values of string fields named like secrets (token, secret, password, code,
 * authorization, cookie, ...) are replaced by "[REDACTED]". Any input bytes give valid JSON
 * and valid UTF-8 (invalid sequences become U+FFFD); lines over 16 KiB are cut and marked
 * "truncated":true. See docs/internals/log.md.
 */
#ifndef MCPGW_CORE_LOG_H
#define MCPGW_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARNING = 2, LOG_ERROR = 3 };

/* A typed field of a log line. Strings are borrowed for the duration of the call. */
enum log_field_type { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DOUBLE, LOG_FIELD_BOOL };
struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        const char *s;
        long long i;
        double d;
        bool b;
    } v;
};

/* Field constructors (C11 compound literals are not needed: these return by value). */
struct log_field log_str(const char *key, const char *value);
struct log_field log_int(const char *key, long long value);
struct log_field log_double(const char *key, double value);
struct log_field log_bool(const char *key, bool value);

/* Set up logging for `service`. log_dir may be NULL (stderr only); the directory is created
 * if missing. Returns GW_ERR_IO when the file cannot be opened (logging to stderr still works).
 * Call once at start-up, before threads. */
enum gw_err log_init(const char *service, const char *log_dir, enum log_level level);
/* Whether lines also go to stderr when they go to the log file (default: yes). The detached
 * supervisor turns it off: its stderr is LOG_DIR/supervisor.out, kept for what is no log line. */
void log_set_stderr(bool on);
/* Close the log file. */
void log_shutdown(void);
/* Reopen the log file (after rotation). Safe to call from any thread; used on SIGUSR1. */
enum gw_err log_reopen(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);
/* Parse "DEBUG"/"INFO"/"WARNING"/"WARN"/"ERROR" (any case). GW_ERR_INVALID otherwise. */
enum gw_err log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);
/* The service name given to log_init ("mcpgw" before). Borrowed, static. */
const char *log_service(void);

/* Write one line: message plus nfields extra fields. */
void log_write(enum log_level level, const char *message, const struct log_field *fields, int nfields);
/* printf-style message, no extra fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Convenience: log_debug("x=%d", 1) etc. */
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Format a whole log line into out (NUL-terminated, ends in '\n') without writing it;
 * used by log_write and by tests. Returns the line length, or -1 if it did not fit. */
int log_format_line(char *out, size_t outsz, enum log_level level, const char *service, const char *message,
                    const struct log_field *fields, int nfields);
/* Like log_format_line, but a line that does not fit is cut instead of refused, as log_write
 * does at 16 KiB: the message is shortened (at a character boundary), then string field values
 * are cut to 256 bytes, then fields are dropped, and "truncated":true is added. Returns -1 only
 * if even the bare line does not fit (outsz below about 400 bytes). */
int log_format_line_capped(char *out, size_t outsz, enum log_level level, const char *service,
                           const char *message, const struct log_field *fields, int nfields);

#endif
