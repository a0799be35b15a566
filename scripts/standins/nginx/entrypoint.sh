#!/bin/sh
# Stand-in entrypoint (see Dockerfile): the official image's template step. When the command is nginx, every
# file under NGINX_ENVSUBST_TEMPLATE_DIR (default /etc/nginx/templates) ending in NGINX_ENVSUBST_TEMPLATE_SUFFIX
# (default .template) is written, with the environment's variables filled in (only variables that are set, so
# nginx's own $variables survive), to the same relative path under NGINX_ENVSUBST_OUTPUT_DIR (default
# /etc/nginx/conf.d) without the suffix.
set -eu
case "${1:-}" in
nginx | nginx-debug)
    dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
    out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
    if [ -d "$dir" ]; then
        find "$dir" -follow -type f -name "*$suffix" | while read -r template; do
            relative="${template#"$dir"/}"
            target="$out/${relative%"$suffix"}"
            mkdir -p "$(dirname "$target")"
            envsubst "$names" <"$template" >"$target"
        done
    fi
    ;;
esac
exec "$@"
