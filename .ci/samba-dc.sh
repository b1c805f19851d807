#!/usr/bin/env bash
# A throw-away Samba Active Directory domain controller for the end-to-end
# tests of `avdgen gpo publish`.
#
#   .ci/samba-dc.sh run [--dir DIR] -- COMMAND [ARGS...]
#
# Enters a fresh network namespace (loopback only) and a private mount
# namespace, provisions contoso.local there with a CA and server certificate
# of its own (openssl), starts samba, runs COMMAND with the DC's coordinates in
# the environment, then stops every process it started and exits with
# COMMAND's status. Nothing listens on, or sends to, the host's network; the
# host's /etc/hosts, /etc/resolv.conf and /run/samba are never touched (they
# are bind-mounted over inside the mount namespace only).
#
# COMMAND sees:
#   AVDGEN_DC_DOMAIN    contoso.local
#   AVDGEN_DC_HOST      dc1.contoso.local (the name in the server certificate)
#   AVDGEN_DC_CA        PEM file of the test CA (pass it as --ca-file)
#   AVDGEN_DC_USER      Administrator@contoso.local
#   AVDGEN_DC_PASSWORD  the administrator's password
#   AVDGEN_DC_SMBCONF   smb.conf for samba-tool/smbclient (-s)
#   AVDGEN_DC_DIR       the DC's directory (logs: samba.log, provision.log;
#                       private/krb5.conf for Kerberos clients)
#
# Needs root (unshare), and the Debian packages samba samba-ad-dc
# samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind smbclient
# ldap-utils openssl iproute2 util-linux. Works inside CI's `unshare -n`.
set -euo pipefail

usage() { echo "usage: $0 run [--dir DIR] -- COMMAND [ARGS...]" >&2; exit 2; }

[ "${1:-}" = run ] || usage
shift
dir=${TMPDIR:-/tmp}/avdgen-samba-dc.$$
if [ "${1:-}" = --dir ]; then dir=$2; shift 2; fi
[ "${1:-}" = -- ] || usage
shift
[ $# -gt 0 ] || usage

if [ -z "${AVDGEN_DC_INSIDE:-}" ]; then
  missing=()
  for tool in samba samba-tool smbclient openssl unshare ip; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  # Provisioning fails without the AD schema files (samba-ad-provision).
  [ -d /usr/share/samba/setup/ad-schema ] || missing+=(samba-ad-provision)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "samba-dc: missing ${missing[*]} (apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind smbclient ldap-utils openssl)" >&2
    exit 3
  fi
  exec env AVDGEN_DC_INSIDE=1 unshare --net --mount --propagation private "$0" run --dir "$dir" -- "$@"
fi

# ---- inside the namespaces from here on ----
domain=contoso.local
realm=CONTOSO.LOCAL
host=dc1
fqdn=$host.$domain
password='Avdgen-Test-Passw0rd!'
started=$(date +%s.%N)
say() { awk -v a="$started" -v b="$(date +%s.%N)" -v m="$*" 'BEGIN{printf "samba-dc: %5.1fs %s\n", b-a, m}' >&2; }

rm -rf "$dir"
mkdir -p "$dir/etc" "$dir/run" "$dir/tls"
# Samba serves SYSVOL to each account as that account's own Unix uid (only
# Administrator maps to root), so every folder above the DC's must let other
# users through; below a 0700 folder (Go's t.TempDir) every non-admin account
# is refused at the share's chdir ("vfs_ChDir(...) failed: Permission denied").
p=$(cd "$dir" && pwd -P)
while [ "$p" != / ]; do
  mode=$(stat -c %a "$p")
  if [ $((0$mode & 1)) != 1 ]; then
    echo "samba-dc: $p (mode $mode) is not searchable by other users; non-admin accounts could not reach SYSVOL. Choose a --dir below searchable folders (chmod o+x)" >&2
    exit 1
  fi
  p=$(dirname "$p")
done
ip link set lo up

# libwbclient and samba use fixed paths under /run/samba; give them a private
# tmpfs so a host samba (or another test run) is never disturbed.
mkdir -p /run/samba
mount -t tmpfs -o mode=0755 avdgen-samba-run /run/samba
printf '127.0.0.1 localhost\n127.0.0.1 %s %s\n' "$fqdn" "$host" >"$dir/etc/hosts"
printf 'nameserver 127.0.0.1\nsearch %s\n' "$domain" >"$dir/etc/resolv.conf"
mount --bind "$dir/etc/hosts" /etc/hosts
mount --bind "$dir/etc/resolv.conf" /etc/resolv.conf

# The test's own CA and a server certificate for the DC. Samba's
# self-generated certificate has a negative serial, which Go's x509 refuses,
# and no CA a client could trust; this one is verified by name.
tls=$dir/tls
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=avdgen test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$fqdn" -keyout "$tls/dc.key" -out "$tls/dc.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s,DNS:%s\n' \
  "$fqdn" "$domain" >"$tls/dc.ext"
openssl x509 -req -in "$tls/dc.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -set_serial 4242 -days 2 \
  -extfile "$tls/dc.ext" -out "$tls/dc.pem" 2>/dev/null
chmod 0600 "$tls/dc.key" "$tls/ca.key" # samba refuses a key others can read
say "certificates issued"

samba-tool domain provision --realm="$realm" --domain=CONTOSO --server-role=dc \
  --dns-backend=SAMBA_INTERNAL --adminpass="$password" --host-name="$host" \
  --targetdir="$dir" --option='interfaces = lo' --option='bind interfaces only = yes' \
  >"$dir/provision.log" 2>&1 || { tail -20 "$dir/provision.log" >&2; exit 1; }
conf=$dir/etc/smb.conf
# Keep every socket and pid file inside $dir, no DNS forwarding (no network),
# logs beside the DC, and TLS from our CA. Strong auth stays on: simple binds
# work only over LDAPS/StartTLS, which is what avdgen uses. allow_sasl_over_tls
# lets a GSSAPI bind without a SASL security layer in through TLS, as a
# Windows DC does ([MS-ADTS]: no SASL layer inside TLS); Samba's default "yes" refuses it.
sed -i -e '/dns forwarder/d' -e "s|log file = .*|log file = $dir/log.%m|" "$conf"
sed -i "/^\[global\]/a\\
\tpid directory = $dir/run\\
\tncalrpc dir = $dir/run/ncalrpc\\
\tntp signd socket directory = $dir/run/ntp_signd\\
\ttls enabled = yes\\
\ttls keyfile = $tls/dc.key\\
\ttls certfile = $tls/dc.pem\\
\ttls cafile = $tls/ca.pem\\
\tserver signing = mandatory\\
\tldap server require strong auth = allow_sasl_over_tls" "$conf"
say "provisioned $domain"

samba -s "$conf" -F --no-process-group -M single >"$dir/samba.log" 2>&1 &
samba_pid=$!

# Every process in our network namespace except this shell: only what we
# started can be there, so stopping them all is safe.
ours() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
    [[ /proc/$p/ns/net -ef /proc/$$/ns/net ]] 2>/dev/null && echo "$p"
  done
  return 0
}
stop() {
  kill "$samba_pid" 2>/dev/null || true
  wait "$samba_pid" 2>/dev/null || true
  local i
  for i in $(seq 50); do [ -z "$(ours)" ] && return 0; sleep 0.1; done
  # shellcheck disable=SC2046
  kill -9 $(ours) 2>/dev/null || true
}
trap stop EXIT

for port in 53 389 445 636; do
  for i in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$samba_pid" 2>/dev/null || { tail -30 "$dir/samba.log" >&2; exit 1; }
    [ "$i" = 600 ] && { echo "samba-dc: port $port never answered" >&2; exit 1; }
    sleep 0.1
  done
done
say "samba answers on 53, 389, 445, 636"

export AVDGEN_DC_DOMAIN=$domain AVDGEN_DC_HOST=$fqdn AVDGEN_DC_CA=$tls/ca.pem \
  AVDGEN_DC_USER=Administrator@$domain AVDGEN_DC_PASSWORD=$password \
  AVDGEN_DC_SMBCONF=$conf AVDGEN_DC_DIR=$dir
unset AVDGEN_DC_INSIDE
status=0
"$@" || status=$?
say "command exited $status"
exit "$status"
