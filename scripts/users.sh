#!/usr/bin/env bash
# Creates the system users the services run as (one each, no login, no
# home) and the "bulkhead" group whose members may administer the suite.
# The names are those of the process table in ipc/suite.c. Idempotent.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "users: run as root" >&2; exit 1; }

getent group bulkhead >/dev/null || groupadd --system bulkhead
for u in bulkhead-log bulkhead-stat bulkhead-crypto bulkhead-filter bulkhead-isakmpd bulkhead-tmd; do
        if ! getent passwd "$u" >/dev/null; then
                useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                        --user-group "$u"
        fi
done
