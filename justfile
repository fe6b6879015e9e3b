# justfile - `just COMMAND [ARGS]` runs `./mcpgw COMMAND [ARGS]`, so the operations guide's
# commands work as written (just health-check, just logs auth --tail 100, just restart, ...).
# Every recipe forwards its arguments unchanged, quoted. `just --list` shows them all.
# A guide command that this build does not have yet answers with mcpgw's own message
# ("unknown command", exit 2); `mcpgw --help` lists what exists.

set positional-arguments

# MCPGW=/path/to/mcpgw picks another binary (the tests use the ASan build this way)
mcpgw := env_var_or_default("MCPGW", justfile_directory() / "mcpgw")

# list the recipes
default:
    @just --list --unsorted

# build, then start the whole stack in the foreground (a local .env is written when missing)
[no-exit-message]
up *args:
    @make --no-print-directory -C {{justfile_directory()}} all >/dev/null
    @"{{justfile_directory()}}/scripts/up" "$@"

# stop every service (or one: just down SERVICE)
[no-exit-message]
down *args:
    @"{{mcpgw}}" down "$@"

# restart one service, or all with .env re-read
[no-exit-message]
restart *args:
    @"{{mcpgw}}" restart "$@"

# kill -9 everything, clear stale pid files and sockets, start fresh
[no-exit-message]
emergency-restart *args:
    @"{{mcpgw}}" emergency-restart "$@"

# service status (the guide's container status)
[no-exit-message]
ps *args:
    @"{{mcpgw}}" ps "$@"

# same as ps
[no-exit-message]
status *args:
    @"{{mcpgw}}" status "$@"

# every service's /health as a table
[no-exit-message]
health-check *args:
    @"{{mcpgw}}" health-check "$@"

# JSON log lines: just logs [SERVICE] [-f] [--tail N]
[no-exit-message]
logs *args:
    @"{{mcpgw}}" logs "$@"

# CPU, memory, disk I/O, open fds per service
[no-exit-message]
stats *args:
    @"{{mcpgw}}" stats "$@"

# check the configuration
[no-exit-message]
validate-env *args:
    @"{{mcpgw}}" validate-env "$@"

# effective configuration, secrets masked
[no-exit-message]
show-config *args:
    @"{{mcpgw}}" show-config "$@"

# add a local user (password from the terminal)
[no-exit-message]
add-user *args:
    @"{{mcpgw}}" add-user "$@"

# the guide's remaining runbook commands (forwarded as they land in mcpgw)

[no-exit-message]
decode-token *args:
    @"{{mcpgw}}" decode-token "$@"

[no-exit-message]
validate-token *args:
    @"{{mcpgw}}" validate-token "$@"

[no-exit-message]
generate-token *args:
    @"{{mcpgw}}" generate-token "$@"

[no-exit-message]
test-oauth-flow *args:
    @"{{mcpgw}}" test-oauth-flow "$@"

[no-exit-message]
redis-cli *args:
    @"{{mcpgw}}" redis-cli "$@"

[no-exit-message]
cleanup-tokens *args:
    @"{{mcpgw}}" cleanup-tokens "$@"

[no-exit-message]
redis-vacuum *args:
    @"{{mcpgw}}" redis-vacuum "$@"

[no-exit-message]
rotate-logs *args:
    @"{{mcpgw}}" rotate-logs "$@"

[no-exit-message]
backup-all *args:
    @"{{mcpgw}}" backup-all "$@"

[no-exit-message]
restore *args:
    @"{{mcpgw}}" restore "$@"

[no-exit-message]
diagnostic-bundle *args:
    @"{{mcpgw}}" diagnostic-bundle "$@"

[no-exit-message]
update-all *args:
    @"{{mcpgw}}" update-all "$@"

[no-exit-message]
renew-certs *args:
    @"{{mcpgw}}" renew-certs "$@"

[no-exit-message]
import-dashboards *args:
    @"{{mcpgw}}" import-dashboards "$@"

# the services themselves
[no-exit-message]
auth *args:
    @"{{mcpgw}}" auth "$@"

[no-exit-message]
router *args:
    @"{{mcpgw}}" router "$@"

[no-exit-message]
echo *args:
    @"{{mcpgw}}" echo "$@"

version:
    @"{{mcpgw}}" version
