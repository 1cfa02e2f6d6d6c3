# Sourced by cluster.sh, cluster3.sh and drops.sh: the processes a run
# starts (PIDS, stopped on exit), a fresh loopback port, and a wait until a
# port listens.
PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

free_port() {
    PORT=$((PORT + 1))
    while (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; do PORT=$((PORT + 1)); done
}

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
