#!/usr/bin/env bash
# Docker for the container tests (e2e/container_test.go, testcontainers/):
#
#   bash scripts/docker.sh start   # a daemon that answers; prints its DOCKER_HOST on stdout
#   bash scripts/docker.sh stop    # stops the daemon that start started, if it did
#   bash scripts/docker.sh host    # prints the DOCKER_HOST start would use, without starting
#   bash scripts/docker.sh running # prints the DOCKER_HOST of a daemon that answers; fails if none
#
# start uses, in order: the daemon $DOCKER_HOST names, the system daemon on
# /var/run/docker.sock, or this checkout's private daemon, started when it is not running. The
# private daemon is Debian's dockerd (docker.io is installed when dockerd or docker is missing;
# needs root, as apt-get does), run so that it never touches the host's network: no docker0
# bridge (--bridge=none), no iptables rules, no IP forwarding or masquerading. Its socket, data,
# exec root, pid file and log live in $REMOTEASSIST_DOCKER_DIR, by default
# /tmp/remoteassist-docker-HASH, HASH naming the checkout, so two checkouts never share one.
# Containers on it must run with --network host, as the tests' do.
#
# stop removes the private daemon's containers, stops it (SIGTERM, then SIGKILL after 30 s) and
# deletes its directory. It leaves a daemon it did not start alone, and does nothing when none
# runs, so it is safe in a trap.
set -euo pipefail

cd "$(dirname "$0")/.."
checkout=$(pwd -P)
dir=${REMOTEASSIST_DOCKER_DIR:-/tmp/remoteassist-docker-$(printf '%s' "$checkout" | sha256sum | cut -c1-10)}
sock="$dir/docker.sock"
own_host="unix://$sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"

say() { echo "docker.sh: $*" >&2; }

# answers HOST: whether a daemon answers at HOST.
answers() { DOCKER_HOST=$1 timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# own_pid prints the pid of this checkout's dockerd if it is running.
own_pid() {
	[ -f "$pidfile" ] || return 1
	local pid
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

install() {
	if command -v dockerd >/dev/null && command -v docker >/dev/null; then
		return
	fi
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	say "installing docker.io"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

# existing prints the DOCKER_HOST of a daemon that already answers, if any.
existing() {
	if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
		echo "$DOCKER_HOST"
	elif [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then
		echo unix:///var/run/docker.sock
	elif own_pid >/dev/null && answers "$own_host"; then
		echo "$own_host"
	else
		return 1
	fi
}

start() {
	install
	local host
	if host=$(existing); then
		say "using the daemon at $host ($(DOCKER_HOST=$host docker version --format '{{.Server.Version}}'))"
		echo "$host"
		return
	fi
	if [ -n "${DOCKER_HOST:-}" ]; then
		say "no daemon answers at DOCKER_HOST=$DOCKER_HOST; starting a private one instead"
	fi
	if pid=$(own_pid); then
		say "dockerd $pid does not answer; stopping it"
		stop_own
	fi
	if [ -d "$dir" ]; then
		# Left by a daemon that died without stop (killed, or the machine restarted).
		say "removing the stale $dir"
		stop_pidfile "$dir/exec/containerd/containerd.pid" containerd
		unmount_all
		rm -rf "$dir"
	fi
	mkdir -p "$dir"
	chmod 0711 "$dir"
	echo '{}' >"$dir/daemon.json" # ignore /etc/docker/daemon.json
	say "starting dockerd on $own_host (log: $log)"
	# setsid: a Ctrl-C in the terminal reaches the tests, not the daemon; stop ends it.
	setsid dockerd \
		--host "$own_host" \
		--config-file "$dir/daemon.json" \
		--data-root "$dir/data" \
		--exec-root "$dir/exec" \
		--pidfile "$pidfile" \
		--bridge=none \
		--iptables=false \
		--ip-forward=false \
		--ip-masq=false \
		--userland-proxy=false \
		>"$log" 2>&1 </dev/null &
	local started=$! deadline=$((SECONDS + 60))
	until answers "$own_host"; do
		if ! kill -0 "$started" 2>/dev/null; then
			say "dockerd exited at start-up:"
			tail -n 30 "$log" >&2
			exit 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			say "dockerd did not answer within 60 s:"
			tail -n 30 "$log" >&2
			kill "$started" 2>/dev/null || true
			exit 1
		fi
		sleep 0.2
	done
	say "dockerd $(DOCKER_HOST=$own_host docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') is up"
	echo "$own_host"
}

# stop_pidfile FILE NAME stops the process whose pid FILE holds, if it is a NAME: SIGTERM, then
# SIGKILL after 30 s.
stop_pidfile() {
	local file=$1 name=$2 pid
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
	say "stopping $name $pid"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	say "$name $pid did not stop within 30 s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 1
}

# stop_own stops this checkout's daemon: its containers, dockerd, and the containerd dockerd
# started (which outlives a dockerd that was killed).
stop_own() {
	if own_pid >/dev/null && answers "$own_host"; then
		local ids
		ids=$(DOCKER_HOST=$own_host docker ps -aq)
		if [ -n "$ids" ]; then
			say "removing containers left on the private daemon: $(echo $ids)"
			# shellcheck disable=SC2086
			DOCKER_HOST=$own_host docker rm -f -v $ids >/dev/null || true
		fi
	fi
	stop_pidfile "$pidfile" dockerd
	stop_pidfile "$dir/exec/containerd/containerd.pid" containerd
}

# unmount_all unmounts what is still mounted under the directory, deepest first: dockerd leaves
# the bind mount of its network namespace (exec/netns/default) behind when it stops.
unmount_all() {
	local mnt
	awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || say "could not unmount $mnt"
	done
}

stop() {
	stop_own
	[ -d "$dir" ] || return 0
	unmount_all
	rm -rf "$dir" 2>/dev/null || say "could not remove all of $dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
host) existing || echo "$own_host" ;;
running) existing ;;
*)
	echo "usage: bash scripts/docker.sh start|stop|host|running" >&2
	exit 2
	;;
esac
