#!/usr/bin/env bash
# tests/bench/bench.sh - luxy side by side with nginx and haproxy (`make bench`).
#
# Starts an nginx origin on 127.0.0.1 that serves two static files, /1k and
# /100k, and in front of it, all at once:
#
#   origin        the origin itself, no proxy (the baseline)
#   nginx-proxy   nginx as a reverse proxy, upstream keepalive 64
#   haproxy       haproxy, http-reuse always, round robin
#   luxy          luxy reverse proxy (tests/bench/luxy-passthrough.lua)
#   luxy-forward  luxy forward proxy, absolute-URI requests with a browser's
#                 fields (tests/bench/luxy-forward.lua, anonymity "anonymous",
#                 the default); no other forward proxy runs here
#   luxy-fwd-none / luxy-fwd-elite  the same with anonymity = false and
#                 "elite", /1k only: what a level costs
#   nginx-cache   nginx proxy_cache (sendfile from its file cache)  \  cache hits:
#   varnish       varnish, malloc storage (when varnishd is there)  |  GET /cached/1k
#   luxy-cache    luxy with cache { } (tests/bench/luxy-cache.lua)  /  and /cached/100k
#
# And the balancing strategies, /1k only (the pass-through cells above are
# luxy "wrr" and haproxy "roundrobin"):
#   haproxy-lc    haproxy balance leastconn
#   nginx-lua     nginx with balancer_by_lua_block round robin (when the
#                 ngx_http_lua module is there: libnginx-mod-http-lua)
#   luxy-rr, luxy-lc, luxy-p2c, luxy-chash  luxy balance = "rr",
#                 "least_conn", "p2c_ewma", "chash" (hash = "uri")
#   luxy-lua      luxy with round robin written in Lua (select_backend,
#                 tests/bench/luxy-lua-rr.lua)
#
# The origin sends Cache-Control: max-age=60 under /cached/, so every cache
# cell measures hits from memory after the first request.
#
# Every proxy is one process with one worker (nginx worker_processes 1,
# haproxy nbthread 1, luxy workers(1)) and both origin ports behind it.
# wrk then drives each (anchor, path) cell in turn, round-robin over REPEATS
# rounds, so that a noisy minute on a shared machine hits every anchor alike.
# Per cell it reports the median req/s, p50 and p99 latency, CPU microseconds
# per request, that CPU as a multiple of haproxy's for the same path, RSS and
# the non-2xx responses and socket errors wrk saw.
#
# Why CPU microseconds per request: on a small machine wrk, the origin and the
# proxy share the cores, so req/s mostly measures the machine. The CPU time
# the proxy's process tree used (utime+stime from /proc/PID/stat, all threads,
# reaped children included) divided by the requests wrk completed is a much
# steadier efficiency figure.
#
# The last lines state luxy's pass-through CPU per request as a multiple of
# haproxy's for /1k and /100k, with PASS/FAIL against the target (at most
# 1.2x, and no errors), and luxy's CPU per cache hit against varnish's for
# /cached/1k (at most 0.8x) and nginx's for /cached/100k (at most 1x), and
# for balancing: luxy's Lua round robin against its built-in rr (at most
# 1.10x) and luxy's rr and least_conn against haproxy's roundrobin and
# leastconn (at most 1x). It is a benchmark: it exits 0 whatever the verdict,
# and non-zero only when something could not run (a tool missing, a port
# busy, a process that did not start or died, a cell without results).
#
# Knobs (environment):
#   DURATION   seconds per measured run (10)
#   REPEATS    rounds over all cells (3)
#   CONNS      wrk connections (50)
#   THREADS    wrk threads (1)
#   WARMUP     seconds of unmeasured load before each run (1)
#   BENCH_DIR  work files: configs, logs, wrk output (/tmp/luxy-bench)
#   LUXY       the luxy binary (build/luxy of this checkout)
# Ports 18200-18244 on 127.0.0.1; the script refuses to run if one is busy.
# Every process it starts is stopped on exit, by PID. With the defaults a run
# takes about 14 minutes (25 cells x 3 rounds x 11 s, plus start-up).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LUXY=${LUXY:-$ROOT/build/luxy}
DIR=${BENCH_DIR:-/tmp/luxy-bench}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-1}
TARGET=1.2 # luxy pass-through CPU/request at most this multiple of haproxy's
TARGET_HIT_1K=0.8   # luxy CPU per 1 KiB cache hit, at most this multiple of varnish's
TARGET_HIT_100K=1.0 # luxy CPU per 100 KiB cache hit, at most this multiple of nginx's
TARGET_LUA_LB=1.10  # luxy's Lua round robin, at most this multiple of its built-in rr
TARGET_LB=1.0       # luxy rr / least_conn, at most this multiple of haproxy roundrobin / leastconn

ORIGIN1=18200
ORIGIN2=18201
P_NGINX=18210
P_NGINX_CACHE=18211
P_HAPROXY=18220
P_VARNISH=18221
P_LUXY=18230
P_LUXY_FWD=18231
P_LUXY_CACHE=18232
P_LUXY_FWD_NONE=18233
P_LUXY_FWD_ELITE=18234
P_HAPROXY_LC=18222
P_NGINX_LUA=18212
P_LUXY_RR=18240
P_LUXY_LC=18241
P_LUXY_P2C=18242
P_LUXY_CHASH=18243
P_LUXY_LUA=18244
ALL_PORTS="$ORIGIN1 $ORIGIN2 $P_NGINX $P_NGINX_CACHE $P_HAPROXY $P_VARNISH $P_LUXY $P_LUXY_FWD $P_LUXY_CACHE
	$P_LUXY_FWD_NONE $P_LUXY_FWD_ELITE $P_HAPROXY_LC $P_NGINX_LUA $P_LUXY_RR $P_LUXY_LC $P_LUXY_P2C
	$P_LUXY_CHASH $P_LUXY_LUA"
NGINX_LUA_MODULES="/usr/lib/nginx/modules/ndk_http_module.so /usr/lib/nginx/modules/ngx_http_lua_module.so"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

case "${1:-}" in
-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) echo "usage: $0 [-h]   (knobs are environment variables, see -h)" >&2; exit 2 ;;
esac

for knob in DURATION REPEATS CONNS THREADS; do
	[[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds, not '$WARMUP'"
[ "$CONNS" -ge "$THREADS" ] || die "CONNS ($CONNS) must be at least THREADS ($THREADS)"

for tool in nginx haproxy wrk curl; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "missing $tool (make bench installs it: apt-get install wrk nginx-light haproxy varnish curl procps)"
done
[ -x "$LUXY" ] || die "no luxy binary at $LUXY (run make all first)"

# ------------------------------------------------------------------ processes

STARTED=() # every PID started here, stopped by the exit trap
WRK_PID=

descendants() { # pid -> the pid and all its live descendants
	local p=$1 c
	[ -d "/proc/$p" ] || return 0
	echo "$p"
	# shellcheck disable=SC2013 # children files hold space-separated PIDs
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		descendants "$c"
	done
}

start_bg() { # name cmd... -> BG_PID; output goes to $DIR/name.log
	local name=$1
	shift
	"$@" >"$DIR/$name.log" 2>&1 &
	BG_PID=$!
	STARTED+=("$BG_PID")
}

stop_pid() { # pid: TERM, up to 5 s for it to go, then KILL what is left
	local p=$1 kids i
	[ -d "/proc/$p" ] || { wait "$p" 2>/dev/null; return 0; }
	kids=$(descendants "$p")
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do
		[ -d "/proc/$p" ] || break
		sleep 0.1
	done
	for i in $kids; do
		[ -d "/proc/$i" ] && kill -KILL "$i" 2>/dev/null
	done
	wait "$p" 2>/dev/null
	return 0
}

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local i
	[ -n "$WRK_PID" ] && kill -TERM "$WRK_PID" 2>/dev/null
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		stop_pid "${STARTED[$i]}"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { # port -> 0 when something accepts connections on it
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

http_probe() { # url [proxy] -> "code bytes"
	local args=(-s --max-time 5 -o /dev/null -w '%{http_code} %{size_download}')
	[ -n "${2:-}" ] && args+=(-x "$2")
	curl "${args[@]}" "$1" 2>/dev/null
}

wait_ready() { # pid url [proxy] -> waits up to 20 s for a 200, fails early if pid dies
	local pid=$1 url=$2 proxy=${3:-} deadline=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ -d "/proc/$pid" ] || return 1
		case "$(http_probe "$url" "$proxy")" in 200\ *) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------------ configs

nginx_top() { # dir -> the start of an nginx.conf: one worker, no access log
	cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

write_origin() {
	local d=$DIR/origin
	mkdir -p "$d/tmp" "$DIR/www/cached"
	head -c 1024 /dev/zero | tr '\0' a >"$DIR/www/1k"
	head -c 102400 /dev/zero | tr '\0' b >"$DIR/www/100k"
	cp "$DIR/www/1k" "$DIR/www/100k" "$DIR/www/cached/"
	{
		nginx_top "$d"
		cat <<EOF
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$ORIGIN1;
        listen 127.0.0.1:$ORIGIN2;
        root $DIR/www;
        location /cached/ { add_header Cache-Control "max-age=60"; }
    }
}
EOF
	} >"$d/nginx.conf"
}

write_nginx_proxy() {
	local d=$DIR/nginx-proxy
	mkdir -p "$d/tmp"
	{
		nginx_top "$d"
		cat <<EOF
    upstream origin {
        server 127.0.0.1:$ORIGIN1;
        server 127.0.0.1:$ORIGIN2;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$P_NGINX;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
        }
    }
}
EOF
	} >"$d/nginx.conf"
}

write_nginx_cache() {
	local d=$DIR/nginx-cache
	mkdir -p "$d/tmp" "$d/cache"
	{
		nginx_top "$d"
		cat <<EOF
    sendfile on;
    upstream origin {
        server 127.0.0.1:$ORIGIN1;
        server 127.0.0.1:$ORIGIN2;
        keepalive 64;
        keepalive_requests 1000000;
    }
    proxy_cache_path $d/cache levels=1:2 keys_zone=bench:10m max_size=256m
                     inactive=10m use_temp_path=off;
    server {
        listen 127.0.0.1:$P_NGINX_CACHE;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
            proxy_cache bench;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
EOF
	} >"$d/nginx.conf"
}

write_varnish() {
	local d=$DIR/varnish
	mkdir -p "$d"
	cat >"$d/default.vcl" <<EOF
vcl 4.1;
import directors;
backend o1 { .host = "127.0.0.1"; .port = "$ORIGIN1"; }
backend o2 { .host = "127.0.0.1"; .port = "$ORIGIN2"; }
sub vcl_init {
    new rr = directors.round_robin();
    rr.add_backend(o1);
    rr.add_backend(o2);
}
sub vcl_recv { set req.backend_hint = rr.backend(); }
EOF
}

write_haproxy() { # [name port balance]
	local d=$DIR/${1:-haproxy} port=${2:-$P_HAPROXY} balance=${3:-roundrobin}
	mkdir -p "$d"
	cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend fe
    bind 127.0.0.1:$port
    default_backend be

backend be
    balance $balance
    http-reuse always
    server o1 127.0.0.1:$ORIGIN1
    server o2 127.0.0.1:$ORIGIN2
EOF
}

write_nginx_lua() { # nginx proxying with a round robin written in Lua (balancer_by_lua)
	local d=$DIR/nginx-lua m
	mkdir -p "$d/tmp"
	{
		for m in $NGINX_LUA_MODULES; do echo "load_module $m;"; done
		nginx_top "$d"
		cat <<EOF
    init_worker_by_lua_block { rr_turn = 0 }
    upstream origin {
        server 0.0.0.1;   # a placeholder: the Lua balancer sets the peer
        balancer_by_lua_block {
            local balancer = require "ngx.balancer"
            rr_turn = rr_turn % 2 + 1
            local ok, err = balancer.set_current_peer("127.0.0.1", rr_turn == 1 and $ORIGIN1 or $ORIGIN2)
            if not ok then ngx.log(ngx.ERR, "set_current_peer: ", err) end
        }
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$P_NGINX_LUA;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
        }
    }
}
EOF
	} >"$d/nginx.conf"
}

write_luxy_balance() { # name port balance [hook file]: luxy-passthrough.lua with that balance (and hook)
	local dst=$DIR/$1.lua
	sed -e "s/@LISTEN_PORT@/$2/g" -e "s/@ORIGIN1_PORT@/$ORIGIN1/g" -e "s/@ORIGIN2_PORT@/$ORIGIN2/g" \
		-e "s/  keepalive = 64,/  keepalive = 64, balance = \"$3\", hash = \"uri\",/" "$HERE/luxy-passthrough.lua" >"$dst"
	grep -q "balance = \"$3\"" "$dst" || die "$dst: could not set balance"
	[ -n "${4:-}" ] && cat "$HERE/$4" >>"$dst"
	"$LUXY" -t -c "$dst" >"$DIR/$1-check.log" 2>&1 || die "luxy rejects $dst: $(cat "$DIR/$1-check.log")"
}

write_luxy() { # template port [copy anonymity] -> $DIR/<copy or template> with the placeholders filled in
	local src=$HERE/$1 dst=$DIR/${3:-$1}
	[ -f "$src" ] || die "missing $src"
	sed -e "s/@LISTEN_PORT@/$2/g" -e "s/@ORIGIN1_PORT@/$ORIGIN1/g" -e "s/@ORIGIN2_PORT@/$ORIGIN2/g" \
		-e "s/@ANONYMITY@/${4:-\"anonymous\"}/g" "$src" >"$dst"
	if grep -q '@[A-Z0-9_]*@' "$dst"; then die "$dst: placeholder left unfilled"; fi
	"$LUXY" -t -c "$dst" >"$DIR/${dst##*/}-check.log" 2>&1 ||
		die "luxy rejects $dst: $(cat "$DIR/${dst##*/}-check.log")"
}

write_forward_script() { # path -> wrk Lua script that sends an absolute URI
	local f=$DIR/wrk-forward-${1//\//_}.lua
	cat >"$f" <<EOF
-- wrk sends wrk.path verbatim: an absolute URI makes it a forward-proxy request
wrk.path = "http://127.0.0.1:$ORIGIN1$1"
wrk.headers["Host"] = "127.0.0.1:$ORIGIN1"
-- what a browser behind another proxy sends: the anonymity levels have work to do
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml"
wrk.headers["Accept-Language"] = "ko-KR,ko;q=0.9,en;q=0.5"
wrk.headers["Cookie"] = "session=abc"
wrk.headers["Referer"] = "https://news.example/articles/1"
wrk.headers["Sec-CH-UA"] = '"Chromium";v="131"'
wrk.headers["Sec-CH-UA-Platform"] = '"Linux"'
wrk.headers["X-Forwarded-For"] = "192.0.2.7"
EOF
	echo "$f"
}

# ------------------------------------------------------------------ measuring

CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # pid -> utime+stime+cutime+cstime summed over the process tree
	local p s f total=0
	for p in $(descendants "$1"); do
		s=$(cat /proc/"$p"/stat 2>/dev/null) || continue
		s=${s##*) } # drop "pid (comm) ": comm may hold spaces
		read -r -a f <<<"$s"
		total=$((total + f[11] + f[12] + f[13] + f[14]))
	done
	echo "$total"
}

rss_kib() { # pid -> VmRSS summed over the process tree
	local p v total=0
	for p in $(descendants "$1"); do
		v=$(awk '$1=="VmRSS:"{print $2}' /proc/"$p"/status 2>/dev/null)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

busy_ticks() { # machine-wide non-idle CPU ticks
	awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9}' /proc/stat
}

to_ms() { # wrk latency (812.00us, 1.23ms, 2.01s, 1.50m) -> ms
	awk -v v="$1" 'BEGIN{
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else print "-" }'
}

median() { # format numbers... -> their median, "-" when there are none
	local fmt=$1
	shift
	printf '%s\n' "$@" | grep -E '^[0-9]*[.]?[0-9]+$' | sort -g |
		awk -v f="$fmt" '{ a[NR] = $1 } END { if (NR == 0) print "-";
			else printf f, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

spread() { # numbers... -> (max - min) / median, in percent
	local m
	m=$(median %.6f "$@")
	printf '%s\n' "$@" | grep -E '^[0-9]*[.]?[0-9]+$' | sort -g |
		awk -v m="$m" 'NR == 1 { lo = $1 } { hi = $1 }
			END { if (NR > 0 && m > 0) printf "%.0f%%", (hi - lo) * 100 / m; else print "-" }'
}

run_wrk() { # out-file wrk-args...: wrk in the background so INT/TERM reach the trap
	local out=$1
	shift
	wrk "$@" >"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID"
	WRK_PID=
}

# A cell is one (anchor, path). Per-run values pile up in V[cell,metric].
C_NAME=() C_MODE=() C_PATH=() C_PID=() C_URL=() C_SCRIPT=() C_BROKEN=()
declare -A V
PROBLEMS=() # what could not run; any of these makes the exit status 1
RESULTS=$DIR/results.tsv

add_cells() { # name mode(direct|reverse|forward) port pid paths...
	local name=$1 mode=$2 port=$3 pid=$4 path url script got want
	shift 4
	for path; do
		script=
		if [ "$mode" = forward ]; then
			script=$(write_forward_script "$path")
			url=http://127.0.0.1:$port
			got=$(http_probe "http://127.0.0.1:$ORIGIN1$path" "127.0.0.1:$port")
		else
			url=http://127.0.0.1:$port$path
			got=$(http_probe "$url")
		fi
		case "$path" in */1k) want="200 1024" ;; */100k) want="200 102400" ;; *) want= ;; esac
		if [ "$got" = "$want" ]; then
			log "$name $path: probe ok ($got)"
		else
			log "$name $path: probe got '$got', expected '$want'"
			PROBLEMS+=("$name $path: probe got '$got', expected '$want'")
		fi
		C_NAME+=("$name") C_MODE+=("$mode") C_PATH+=("$path") C_PID+=("$pid")
		C_URL+=("$url") C_SCRIPT+=("$script") C_BROKEN+=("")
	done
}

measure() { # cell round
	local i=$1 r=$2
	local name=${C_NAME[$i]} mode=${C_MODE[$i]} path=${C_PATH[$i]} pid=${C_PID[$i]}
	local args=(-t"$THREADS" -c"$CONNS" --latency)
	[ -n "${C_SCRIPT[$i]}" ] && args+=(-s "${C_SCRIPT[$i]}")
	[ -n "${C_BROKEN[$i]}" ] && return
	if [ ! -d "/proc/$pid" ]; then
		log "$name $path round $r: process $pid is gone; its log ends with:"
		tail -n 20 "$DIR/$name.log" >&2
		C_BROKEN[i]="process died"
		PROBLEMS+=("$name $path: process $pid died before round $r (see $DIR/$name.log)")
		return
	fi
	[ "$WARMUP" -gt 0 ] && run_wrk "$DIR/warmup.txt" "${args[@]}" -d"${WARMUP}s" "${C_URL[$i]}"

	local out=$DIR/wrk-$name-${path//\//}-$r.txt c0 c1 o0 o1 b0 b1 t0 t1
	c0=$(cpu_ticks "$pid") o0=$(cpu_ticks "$ORIGIN_PID") b0=$(busy_ticks) t0=$(date +%s.%N)
	run_wrk "$out" "${args[@]}" -d"${DURATION}s" "${C_URL[$i]}"
	t1=$(date +%s.%N) c1=$(cpu_ticks "$pid") o1=$(cpu_ticks "$ORIGIN_PID") b1=$(busy_ticks)

	local reqs rps l50 l99 non2xx sock
	reqs=$(awk '/ requests in /{ print $1; exit }' "$out")
	rps=$(awk '/^Requests\/sec:/{ print $2 }' "$out")
	l50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	l99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	non2xx=$(awk '/Non-2xx or 3xx responses/{ print $NF }' "$out")
	sock=$(awk '/Socket errors/{ gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		log "$name $path round $r: wrk completed no requests; its output:"
		cat "$out" >&2
		PROBLEMS+=("$name $path round $r: wrk completed no requests (see $out)")
		return
	fi
	if [ ! -d "/proc/$pid" ]; then
		log "$name $path round $r: process $pid died during the run"
		PROBLEMS+=("$name $path: process $pid died during round $r (see $DIR/$name.log)")
	fi
	[ "${non2xx:-0}" != 0 ] && log "$name $path round $r: $non2xx non-2xx/3xx responses (see $out)"
	[ "${sock:-0}" != 0 ] && log "$name $path round $r: $sock socket errors: $(grep 'Socket errors' "$out")"

	# CPU per request: the cell's process tree for proxies, the origin for
	# the direct cells. "other" is busy CPU (in cores) not used by the origin
	# or the proxy: wrk, this script, other tenants; a noise indicator.
	local m cpu ocpu other
	m=$(awk -v c="$((c1 - c0))" -v o="$((o1 - o0))" -v b="$((b1 - b0))" -v hz="$CLK_TCK" \
		-v n="$reqs" -v dt="$(awk -v a="$t0" -v b="$t1" 'BEGIN{ print b - a }')" \
		-v self="$([ "$mode" = direct ] && echo 1 || echo 0)" 'BEGIN {
			us = 1e6 / hz
			used = o + (self ? 0 : c)
			oth = (dt > 0) ? (b - used) / hz / dt : 0
			if (oth < 0) oth = 0
			printf "%.1f %.1f %.2f", (self ? o : c) * us / n, o * us / n, oth }')
	read -r cpu ocpu other <<<"$m"
	V[$i,rps]+=" $rps" V[$i,p50]+=" $l50" V[$i,p99]+=" $l99" V[$i,cpu]+=" $cpu"
	V[$i,bad]=$((${V[$i,bad]:-0} + ${non2xx:-0}))
	V[$i,sock]=$((${V[$i,sock]:-0} + ${sock:-0}))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$path" "$r" \
		"$reqs" "$rps" "$l50" "$l99" "$cpu" "$ocpu" "$other" "${non2xx:-0}" "${sock:-0}" >>"$RESULTS"
	log "$name $path round $r: $rps req/s, p50 ${l50} ms, p99 ${l99} ms, ${cpu} us/req CPU (origin ${ocpu}), other ${other} cores"
}

# ------------------------------------------------------------------ main

mkdir -p "$DIR" || die "cannot create $DIR"
rm -f "$DIR"/wrk-*.txt "$DIR"/*.log "$DIR"/warmup.txt
printf 'anchor\tmode\tpath\tround\trequests\treq_s\tp50_ms\tp99_ms\tcpu_us_req\torigin_cpu_us_req\tother_cores\tnon2xx\tsocket_errors\n' >"$RESULTS"

busy=
for port in $ALL_PORTS; do
	port_busy "$port" && busy="$busy $port"
done
[ -z "$busy" ] || die "ports already in use:$busy (a previous run still alive?); stop those first"

# the nginx workers run as nobody when started by root: let them into their dirs
as_root() { [ "$(id -u)" = 0 ]; }

log "origin on 127.0.0.1:$ORIGIN1 and :$ORIGIN2; wrk -t$THREADS -c$CONNS -d${DURATION}s, $REPEATS rounds"
write_origin
as_root && chown -R nobody "$DIR/origin/tmp" 2>/dev/null
start_bg origin nginx -p "$DIR/origin" -e "$DIR/origin/error.log" -c "$DIR/origin/nginx.conf"
ORIGIN_PID=$BG_PID
if ! wait_ready "$ORIGIN_PID" "http://127.0.0.1:$ORIGIN1/1k" ||
	! wait_ready "$ORIGIN_PID" "http://127.0.0.1:$ORIGIN2/1k"; then
	die "the nginx origin did not start: $(tail -n 20 "$DIR/origin.log" "$DIR/origin/error.log" 2>/dev/null)"
fi
add_cells origin direct "$ORIGIN1" "$ORIGIN_PID" /1k /100k

start_proxy() { # name mode port cmd... -> starts, waits, adds the cells of $PATHS (/1k /100k)
	local name=$1 mode=$2 port=$3 paths=${PATHS:-/1k /100k}
	shift 3
	log "starting $name on :$port"
	start_bg "$name" "$@"
	local pid=$BG_PID ok=0
	if [ "$mode" = forward ]; then
		wait_ready "$pid" "http://127.0.0.1:$ORIGIN1/1k" "127.0.0.1:$port" && ok=1
	else
		wait_ready "$pid" "http://127.0.0.1:$port${paths%% *}" && ok=1
	fi
	if [ $ok = 0 ]; then
		log "$name did not answer on :$port; its output:"
		tail -n 20 "$DIR/$name.log" >&2
		PROBLEMS+=("$name did not start (see $DIR/$name.log)")
		stop_pid "$pid"
		return 1
	fi
	# shellcheck disable=SC2086 # paths is a list
	add_cells "$name" "$mode" "$port" "$pid" $paths
}

write_nginx_proxy
as_root && chown -R nobody "$DIR/nginx-proxy/tmp" 2>/dev/null
start_proxy nginx-proxy reverse "$P_NGINX" \
	nginx -p "$DIR/nginx-proxy" -e "$DIR/nginx-proxy/error.log" -c "$DIR/nginx-proxy/nginx.conf"

write_haproxy
start_proxy haproxy reverse "$P_HAPROXY" haproxy -db -f "$DIR/haproxy/haproxy.cfg"

write_luxy luxy-passthrough.lua "$P_LUXY"
start_proxy luxy reverse "$P_LUXY" "$LUXY" -c "$DIR/luxy-passthrough.lua"

write_luxy luxy-forward.lua "$P_LUXY_FWD"
start_proxy luxy-forward forward "$P_LUXY_FWD" "$LUXY" -c "$DIR/luxy-forward.lua"
# the same forward proxy without rules and with the strictest level: what a level costs
write_luxy luxy-forward.lua "$P_LUXY_FWD_NONE" luxy-forward-none.lua false
PATHS="/1k" start_proxy luxy-fwd-none forward "$P_LUXY_FWD_NONE" "$LUXY" -c "$DIR/luxy-forward-none.lua"
write_luxy luxy-forward.lua "$P_LUXY_FWD_ELITE" luxy-forward-elite.lua '"elite"'
PATHS="/1k" start_proxy luxy-fwd-elite forward "$P_LUXY_FWD_ELITE" "$LUXY" -c "$DIR/luxy-forward-elite.lua"

write_nginx_cache
as_root && chown -R nobody "$DIR/nginx-cache/tmp" "$DIR/nginx-cache/cache" 2>/dev/null
PATHS="/cached/1k /cached/100k" start_proxy nginx-cache reverse "$P_NGINX_CACHE" \
	nginx -p "$DIR/nginx-cache" -e "$DIR/nginx-cache/error.log" -c "$DIR/nginx-cache/nginx.conf"

if command -v varnishd >/dev/null 2>&1; then
	write_varnish
	# -F foreground, one thread pool (varnish is thread-per-connection: one
	# worker thread is impossible), malloc storage, no CLI port
	PATHS="/cached/1k /cached/100k" start_proxy varnish reverse "$P_VARNISH" \
		varnishd -F -n "$DIR/varnish/work" -a "127.0.0.1:$P_VARNISH" -T none \
		-f "$DIR/varnish/default.vcl" -s malloc,256m -p thread_pools=1
else
	log "no varnishd (make bench installs varnish): the cache hits have no varnish anchor"
fi

write_luxy luxy-cache.lua "$P_LUXY_CACHE"
PATHS="/cached/1k /cached/100k" start_proxy luxy-cache reverse "$P_LUXY_CACHE" "$LUXY" -c "$DIR/luxy-cache.lua"

# ---- balancing strategies, /1k
write_haproxy haproxy-lc "$P_HAPROXY_LC" leastconn
PATHS="/1k" start_proxy haproxy-lc reverse "$P_HAPROXY_LC" haproxy -db -f "$DIR/haproxy-lc/haproxy.cfg"
lua_ok=1
for m in $NGINX_LUA_MODULES; do [ -f "$m" ] || lua_ok=0; done
if [ $lua_ok = 1 ]; then
	write_nginx_lua
	as_root && chown -R nobody "$DIR/nginx-lua/tmp" 2>/dev/null
	PATHS="/1k" start_proxy nginx-lua reverse "$P_NGINX_LUA" \
		nginx -p "$DIR/nginx-lua" -e "$DIR/nginx-lua/error.log" -c "$DIR/nginx-lua/nginx.conf"
else
	log "no ngx_http_lua module (make bench installs libnginx-mod-http-lua): no nginx+Lua balancer anchor"
fi
for cell in "luxy-rr $P_LUXY_RR rr" "luxy-lc $P_LUXY_LC least_conn" "luxy-p2c $P_LUXY_P2C p2c_ewma" \
	"luxy-chash $P_LUXY_CHASH chash" "luxy-lua $P_LUXY_LUA rr luxy-lua-rr.lua"; do
	read -r name port balance hook <<<"$cell"
	write_luxy_balance "$name" "$port" "$balance" "$hook"
	PATHS="/1k" start_proxy "$name" reverse "$port" "$LUXY" -c "$DIR/$name.lua"
done

ncells=${#C_NAME[@]}
log "$ncells cells x $REPEATS rounds x (${WARMUP} s warm-up + ${DURATION} s)"
for r in $(seq "$REPEATS"); do
	for ((i = 0; i < ncells; i++)); do measure "$i" "$r"; done
done

# ------------------------------------------------------------------ report

declare -A CPU_MED # name,path -> median CPU us/req
for ((i = 0; i < ncells; i++)); do
	read -r -a cpus <<<"${V[$i,cpu]:-}"
	CPU_MED[${C_NAME[$i]},${C_PATH[$i]}]=$(median %.1f ${cpus[@]+"${cpus[@]}"})
done

ratio() { # a b -> a/b with two decimals, "-" when either is missing
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}

ROWS=()
for ((i = 0; i < ncells; i++)); do
	name=${C_NAME[$i]} mode=${C_MODE[$i]} path=${C_PATH[$i]}
	read -r -a rps <<<"${V[$i,rps]:-}"
	read -r -a cpus <<<"${V[$i,cpu]:-}"
	read -r -a p50s <<<"${V[$i,p50]:-}"
	read -r -a p99s <<<"${V[$i,p99]:-}"
	if [ ${#rps[@]} = 0 ]; then
		ROWS+=("| $name | $mode | $path | no result${C_BROKEN[$i]:+ (${C_BROKEN[$i]})} | | | | | | | |")
		continue
	fi
	vs=-
	case "$path" in
	/cached/*) [ "$name" != varnish ] && vs=$(ratio "${CPU_MED[$name,$path]}" "${CPU_MED[varnish,$path]:-}") ;;
	*) [ "$mode" != direct ] && vs=$(ratio "${CPU_MED[$name,$path]}" "${CPU_MED[haproxy,$path]:-}") ;;
	esac
	rss=$(awk -v k="$(rss_kib "${C_PID[$i]}")" 'BEGIN { printf "%.1f", k / 1024 }')
	ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |' \
		"$name" "$mode" "$path" "$(median %.0f "${rps[@]}")" \
		"$(median %.2f "${p50s[@]}")" "$(median %.2f "${p99s[@]}")" \
		"${CPU_MED[$name,$path]}" "$vs" "$(spread "${cpus[@]}")" "$rss" \
		"${V[$i,bad]:-0}" "${V[$i,sock]:-0}")")
done

errors_of() { # name -> total non-2xx + socket errors over its cells
	local i n=0
	for ((i = 0; i < ncells; i++)); do
		[ "${C_NAME[$i]}" = "$1" ] && n=$((n + ${V[$i,bad]:-0} + ${V[$i,sock]:-0}))
	done
	echo "$n"
}

r1k=$(ratio "${CPU_MED[luxy,/1k]:-}" "${CPU_MED[haproxy,/1k]:-}")
r100k=$(ratio "${CPU_MED[luxy,/100k]:-}" "${CPU_MED[haproxy,/100k]:-}")
luxy_errors=$(errors_of luxy)
if [ "$r1k" = - ] || [ "$r100k" = - ]; then
	verdict="n/a (luxy or haproxy has no result)"
	PROBLEMS+=("no luxy/haproxy CPU ratio could be computed")
elif [ "$luxy_errors" != 0 ]; then
	verdict="FAIL (luxy pass-through had $luxy_errors non-2xx responses or socket errors)"
elif awk -v a="$r1k" -v b="$r100k" -v t="$TARGET" 'BEGIN { exit !(a <= t && b <= t) }'; then
	verdict="PASS (target: at most ${TARGET}x)"
else
	verdict="FAIL (target: at most ${TARGET}x)"
fi

h1k=$(ratio "${CPU_MED[luxy-cache,/cached/1k]:-}" "${CPU_MED[varnish,/cached/1k]:-}")
h100k=$(ratio "${CPU_MED[luxy-cache,/cached/100k]:-}" "${CPU_MED[nginx-cache,/cached/100k]:-}")
hit_errors=$(errors_of luxy-cache)
if [ "$h1k" = - ] || [ "$h100k" = - ]; then
	hit_verdict="n/a (luxy-cache, varnish or nginx-cache has no result)"
elif [ "$hit_errors" != 0 ]; then
	hit_verdict="FAIL (luxy-cache had $hit_errors non-2xx responses or socket errors)"
elif awk -v a="$h1k" -v b="$h100k" -v t="$TARGET_HIT_1K" -v u="$TARGET_HIT_100K" 'BEGIN { exit !(a <= t && b <= u) }'; then
	hit_verdict="PASS (targets: at most ${TARGET_HIT_1K}x varnish, ${TARGET_HIT_100K}x nginx)"
else
	hit_verdict="FAIL (targets: at most ${TARGET_HIT_1K}x varnish, ${TARGET_HIT_100K}x nginx)"
fi

lua_lb=$(ratio "${CPU_MED[luxy-lua,/1k]:-}" "${CPU_MED[luxy-rr,/1k]:-}")
rr_lb=$(ratio "${CPU_MED[luxy-rr,/1k]:-}" "${CPU_MED[haproxy,/1k]:-}")
lc_lb=$(ratio "${CPU_MED[luxy-lc,/1k]:-}" "${CPU_MED[haproxy-lc,/1k]:-}")
lb_errors=$(($(errors_of luxy-rr) + $(errors_of luxy-lc) + $(errors_of luxy-p2c) + $(errors_of luxy-chash) + $(errors_of luxy-lua)))
if [ "$lua_lb" = - ] || [ "$rr_lb" = - ] || [ "$lc_lb" = - ]; then
	lb_verdict="n/a (a balancing cell has no result)"
elif [ "$lb_errors" != 0 ]; then
	lb_verdict="FAIL (the luxy balancing cells had $lb_errors non-2xx responses or socket errors)"
elif awk -v a="$lua_lb" -v b="$rr_lb" -v c="$lc_lb" -v t="$TARGET_LUA_LB" -v u="$TARGET_LB" \
	'BEGIN { exit !(a <= t && b <= u && c <= u) }'; then
	lb_verdict="PASS (targets: Lua at most ${TARGET_LUA_LB}x built-in, built-in at most ${TARGET_LB}x haproxy)"
else
	lb_verdict="FAIL (targets: Lua at most ${TARGET_LUA_LB}x built-in, built-in at most ${TARGET_LB}x haproxy)"
fi

versions="$(nginx -v 2>&1 | sed 's/^nginx version: //'), haproxy $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }'), $(varnishd -V 2>&1 | awk 'NR == 1 { print $2 }' | tr -d '()'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), $("$LUXY" -v 2>&1 | head -n 1)"
noise=$(awk -F'\t' 'NR > 1 { print $11 }' "$RESULTS" | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "median %.2f, max %.2f", a[int((NR + 1) / 2)], a[NR]; else print "-" }')

{
	echo
	echo "## luxy bench: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "Versions: $versions"
	echo "Load: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency after a ${WARMUP} s warm-up; median of $REPEATS interleaved rounds"
	echo
	echo "| anchor | mode | path | req/s | p50 ms | p99 ms | CPU us/req | CPU vs anchor | CPU spread | RSS MiB | non-2xx / sock err |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "CPU us/req: utime+stime of the process tree under test (for origin: the origin itself) per"
	echo "completed request. CPU vs anchor: that over haproxy's for the same path, or varnish's for the"
	echo "cache hits under /cached/ (luxy-forward is a forward proxy: its ratio is indicative only)."
	echo "CPU spread: (max - min) / median over the rounds."
	echo "Busy CPU outside origin and proxy (wrk, other load), in cores per run: $noise."
	for ((i = 0; i < ncells; i++)); do
		n=$((${V[$i,bad]:-0} + ${V[$i,sock]:-0}))
		[ "$n" != 0 ] && echo "Errors: ${C_NAME[$i]} ${C_PATH[$i]}: ${V[$i,bad]:-0} non-2xx, ${V[$i,sock]:-0} socket errors (wrk output: $DIR/wrk-${C_NAME[$i]}-${C_PATH[$i]//\//}-*.txt)"
	done
	for name in luxy luxy-forward luxy-fwd-none luxy-fwd-elite luxy-cache luxy-rr luxy-lc luxy-p2c luxy-chash luxy-lua; do
		if [ -s "$DIR/$name.log" ]; then
			echo
			echo "$name wrote to stderr ($DIR/$name.log), last lines:"
			echo '```'
			tail -n 10 "$DIR/$name.log"
			echo '```'
		fi
	done
	if [ ${#PROBLEMS[@]} -gt 0 ]; then
		echo
		echo "Could not run:"
		printf -- '- %s\n' "${PROBLEMS[@]}"
	fi
	echo
	if [ "$r1k" = - ] || [ "$r100k" = - ]; then
		echo "luxy pass-through CPU/request vs haproxy: n/a: $verdict"
	else
		echo "luxy pass-through CPU/request vs haproxy: ${r1k}x for /1k, ${r100k}x for /100k: $verdict"
	fi
	echo "luxy forward CPU/request, anonymity levels vs none (/1k): anonymous $(ratio "${CPU_MED[luxy-forward,/1k]:-}" "${CPU_MED[luxy-fwd-none,/1k]:-}")x, elite $(ratio "${CPU_MED[luxy-fwd-elite,/1k]:-}" "${CPU_MED[luxy-fwd-none,/1k]:-}")x (target: at most 1.05x)"
	if [ "$h1k" = - ] || [ "$h100k" = - ]; then
		echo "luxy CPU per cache hit: n/a: $hit_verdict"
	else
		echo "luxy CPU per cache hit: ${h1k}x varnish's for /cached/1k, ${h100k}x nginx's for /cached/100k: $hit_verdict"
	fi
	echo "luxy balancing CPU/request (/1k): Lua round robin ${lua_lb}x built-in rr; rr ${rr_lb}x haproxy roundrobin; least_conn ${lc_lb}x haproxy leastconn; p2c_ewma $(ratio "${CPU_MED[luxy-p2c,/1k]:-}" "${CPU_MED[luxy-rr,/1k]:-}")x and chash $(ratio "${CPU_MED[luxy-chash,/1k]:-}" "${CPU_MED[luxy-rr,/1k]:-}")x rr; nginx+Lua balancer $(ratio "${CPU_MED[nginx-lua,/1k]:-}" "${CPU_MED[luxy-lua,/1k]:-}")x luxy's Lua: $lb_verdict"
} | tee "$DIR/report.md"

[ ${#PROBLEMS[@]} = 0 ] || exit 1
exit 0
