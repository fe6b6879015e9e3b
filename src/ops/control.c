/*
 * control.c - JSON lines over the supervisor's Unix socket.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define CONTROL_LINE_MAX (1 << 20)

int control_socket_path(const char *run_dir, char *out, unsigned outsz)
{
    struct sockaddr_un sun;
    int n = snprintf(out, outsz, "%s/%s", run_dir, CONTROL_SOCKET_NAME);
    return n > 0 && (size_t)n < outsz && (size_t)n < sizeof(sun.sun_path);
}

int control_listen(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    unlink(path); /* the caller made sure no live supervisor owns it */
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until '\n' or EOF; returns the line without the newline (caller frees) or NULL. */
static char *read_line(int fd, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    struct buf b;
    buf_init(&b, CONTROL_LINE_MAX);
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        if (buf_append(&b, chunk, (size_t)n) != GW_OK)
            break;
        if (memchr(chunk, '\n', (size_t)n))
            break;
    }
    if (!b.len || !memchr(b.data, '\n', b.len)) {
        buf_free(&b);
        return NULL;
    }
    b.data[strcspn(b.data, "\n")] = '\0';
    return buf_take(&b);
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

enum gw_err control_call(const char *path, json_t *request, int timeout_ms, json_t **reply)
{
    *reply = NULL;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path))
        return GW_ERR_INVALID;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return GW_ERR_IO;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return GW_ERR_UNAVAILABLE;
    }
    char *text = json_dumps(request, JSON_COMPACT);
    bool sent = text && write_all(fd, text, strlen(text)) && write_all(fd, "\n", 1);
    free(text);
    char *line = sent ? read_line(fd, timeout_ms) : NULL;
    close(fd);
    if (!line)
        return sent ? GW_ERR_TIMEOUT : GW_ERR_IO;
    *reply = json_loads(line, 0, NULL);
    free(line);
    return *reply && json_is_object(*reply) ? GW_OK : GW_ERR_PROTOCOL;
}

json_t *control_read_request(int fd, int timeout_ms)
{
    char *line = read_line(fd, timeout_ms);
    if (!line)
        return NULL;
    json_t *req = json_loads(line, 0, NULL);
    free(line);
    if (req && !json_is_object(req)) {
        json_decref(req);
        return NULL;
    }
    return req;
}

void control_write_reply(int fd, json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    if (text) {
        write_all(fd, text, strlen(text));
        write_all(fd, "\n", 1);
        free(text);
    }
}
