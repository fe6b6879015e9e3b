/*
 * add_user.c - `mcpgw add-user NAME [--file PATH] [--env-file PATH]`: reads a password (from the
 * terminal without echo, asked twice, or one line from stdin when it is not a terminal) and
 * appends `NAME:bcrypt-hash` to LOCAL_USERS_FILE (created 0600 when missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/browser.h"
#include "auth/local_users.h"
#include "core/config.h"
#include "core/crypto.h"

static const char add_user_usage[] = "Usage: mcpgw add-user NAME [--file PATH] [--env-file PATH]\n"
                                     "Reads the password from the terminal (or one line from stdin) and "
                                     "appends NAME:HASH\n"
                                     "to LOCAL_USERS_FILE (or PATH).\n";

/* Exit 2 for usage errors, as every other command (docs/operations.md). */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "ERROR: %s%s%s\n%s", what, arg ? " " : "", arg ? arg : "", add_user_usage);
    return 2;
}

/* One line from fd into out (without the newline); false on EOF before any byte or overflow. */
static bool read_line(FILE *in, char *out, size_t cap)
{
    if (!fgets(out, (int)cap, in))
        return false;
    size_t n = strlen(out);
    if (n && out[n - 1] == '\n')
        out[--n] = '\0';
    else if (n == cap - 1)
        return false; /* too long */
    if (n && out[n - 1] == '\r')
        out[--n] = '\0';
    return true;
}

static bool read_password_tty(const char *prompt, char *out, size_t cap)
{
    FILE *tty = fopen("/dev/tty", "r+e");
    if (!tty)
        return false;
    struct termios old, quiet;
    int fd = fileno(tty);
    bool echo_off = tcgetattr(fd, &old) == 0;
    if (echo_off) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    bool ok = read_line(tty, out, cap);
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    return ok;
}

static bool name_present(const char *path, const char *name)
{
    char *h = users_file_find_in_file(path, name);
    bool present = h != NULL;
    free(h);
    return present;
}

int add_user_main(int argc, char **argv)
{
    const char *name = NULL, *file = NULL, *env_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return fputs(add_user_usage, stdout), 0;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return usage_error(argv[i][0] == '-' ? "unknown option or missing value:" : "extra argument:",
                               argv[i]);
    }
    if (!name)
        return usage_error("a user name is needed", NULL);
    if (!users_file_name_valid(name)) {
        fprintf(stderr, "ERROR: invalid user name \"%s\" (1-64 of letters, digits, . _ - @)\n", name);
        return 2;
    }
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    if (!file) {
        if (config_load(env_file, &cfg, &errors) != GW_OK) {
            fputs(buf_cstr(&errors), stderr);
            buf_free(&errors);
            return CONFIG_EXIT_CODE;
        }
        file = config_get(cfg, "LOCAL_USERS_FILE", "");
        if (!file[0]) {
            fprintf(stderr, "ERROR: Required variable LOCAL_USERS_FILE not set (or pass --file PATH)\n");
            config_free(cfg);
            buf_free(&errors);
            return CONFIG_EXIT_CODE;
        }
    }
    buf_free(&errors);
    int rc = 0;
    char password[LOCAL_PASSWORD_MAX + 2], again[LOCAL_PASSWORD_MAX + 2];
    bool ok;
    if (isatty(STDIN_FILENO)) {
        ok = read_password_tty("Password: ", password, sizeof password) &&
             read_password_tty("Password (again): ", again, sizeof again);
        if (ok && strcmp(password, again) != 0) {
            fprintf(stderr, "ERROR: the passwords differ\n");
            ok = false;
        }
    } else {
        ok = read_line(stdin, password, sizeof password);
    }
    char *hash = NULL;
    if (!ok || !password[0] || strlen(password) > LOCAL_PASSWORD_MAX) {
        fprintf(stderr, "ERROR: no password read (1-%d bytes)\n", LOCAL_PASSWORD_MAX);
        rc = 1;
    } else if (name_present(file, name)) {
        fprintf(stderr, "ERROR: user \"%s\" already exists in %s\n", name, file);
        rc = 1;
    } else if (!(hash = local_password_hash(password))) {
        fprintf(stderr, "ERROR: cannot hash the password (is libcrypt.so.1 installed?)\n");
        rc = 1;
    } else {
        int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        char line[USERS_FILE_MAX_NAME + 256];
        int n = snprintf(line, sizeof line, "%s:%s\n", name, hash);
        if (fd < 0 || write(fd, line, (size_t)n) != n) {
            fprintf(stderr, "ERROR: cannot write %s: %s\n", file, strerror(errno));
            rc = 73;
        } else {
            printf("added user %s to %s\n", name, file);
        }
        if (fd >= 0)
            close(fd);
    }
    crypto_wipe(password, sizeof password);
    crypto_wipe(again, sizeof again);
    free(hash);
    config_free(cfg);
    return rc;
}
