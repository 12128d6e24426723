# Sourced by bench/deliveries and bench/pace: an agency endpoint on loopback that answers 204 at
# once. nginx when it is installed (installing it if it can), else the intake-baseline sink, which
# costs more CPU on the same cores: the scripts print which one they measured against.
#   start_receiver PORT WORKDIR BINDIR   sets receiver_pid and receiver_name
start_receiver() {
  local port=$1 work=$2 bin=$3
  command -v nginx >/dev/null || apt-get install -y nginx >/dev/null 2>&1 || true
  if command -v nginx >/dev/null; then
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location / { return 204; } }
}
NGINX
    nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
    for _ in $(seq 1 50); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
    receiver_pid=$(cat "$work/nginx/nginx.pid")
    receiver_name="nginx answering 204"
  else
    "$bin/intake-baseline" sink "$port" >/dev/null 2>&1 &
    receiver_pid=$!
    receiver_name="the intake-baseline sink answering 202 (nginx unavailable)"
  fi
  for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "no receiver listening on $port" >&2
  return 1
}
