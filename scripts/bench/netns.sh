#!/usr/bin/env bash
# Runs a command inside private network, PID and mount namespaces whose only
# network interface is loopback. Nothing started inside can reach another
# machine, which matters for Ray Serve: it binds every interface and probes
# an outside address to learn its own IP. This script is PID 1 of the PID
# namespace, so when the command exits the kernel ends every process it left.
#
# Usage: scripts/bench/netns.sh COMMAND [ARGUMENT...]
# Needs root (or CAP_SYS_ADMIN) for unshare. Exits with COMMAND's status.
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 COMMAND [ARGUMENT...]" >&2
    exit 2
fi

if [[ "${SLUICE_BENCH_IN_NETNS:-}" != 1 ]]; then
    exec unshare --net --pid --fork --mount-proc \
        env SLUICE_BENCH_IN_NETNS=1 "$0" "$@"
fi

ip link set lo up

# Stay PID 1 and run the command as a child: PID 1 reaps orphans, and the
# namespace ends with this process. SIGINT and SIGTERM are passed on.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
status=0
wait "$child" || status=$?
# A trapped signal interrupts `wait`, so wait again for the real status.
if kill -0 "$child" 2>/dev/null; then
    wait "$child" || status=$?
fi
exit "$status"
