# Sourced by the scripts that test a running server (SCIM compliance, API conformance, the
# interop runs, the console in a browser, the client tour): starts `gatehouse` on a temporary
# SQLite file in "$tmp" on a free loopback port with a bootstrap token, and stops it.
#
#   start_gatehouse <name> <binary> [log level]   sets base, bootstrap, server_pid
#   stop_gatehouse                                 kills it and waits (safe to call twice)
#   gatehouse_log                                  prints its log to stderr

start_gatehouse() {
  local name="$1" binary="$2" level="${3:-warn}" port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  bootstrap="$name-bootstrap-$(date +%s)-$$"
  GATEHOUSE_DATABASE_URL="sqlite://$tmp/gatehouse.db?mode=rwc" \
  GATEHOUSE_LISTEN="127.0.0.1:$port" \
  GATEHOUSE_PUBLIC_URL="$base" \
  GATEHOUSE_BOOTSTRAP_TOKEN="$bootstrap" \
  GATEHOUSE_LOG="$level" \
    "$binary" serve >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if gatehouse_ready; then return 0; fi
    sleep 0.2
  done
  gatehouse_ready || { gatehouse_log; echo "$name: gatehouse did not start" >&2; exit 1; }
}

gatehouse_ready() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/ready" 2>/dev/null
}

gatehouse_log() {
  echo "-- server log" >&2
  cat "$tmp/server.log" >&2
}

# Returns the server's exit status (nonzero when it did not stop cleanly).
stop_gatehouse() {
  local status=0
  if [ -n "${server_pid:-}" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || status=$?
  fi
  server_pid=""
  return "$status"
}
