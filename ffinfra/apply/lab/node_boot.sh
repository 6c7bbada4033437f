#!/bin/bash
# One ffinfra lab node, booted with systemd as its init (systemd-nspawn), in its own network namespace and an
# overlay root over the host's /. Started by the lab provider inside the node's network namespace, in a private
# mount namespace:
#   nsenter --net=NETNS unshare --mount --propagation private node_boot.sh NAME NETNS NODE_DIR HOSTS SHARE SECRETS \
#       STATE MACHINE_ID [VENV]
# systemd-nspawn then shares that network namespace (no --network-namespace-path: with it, nspawn mounts the node's
# /sys from the host's namespace, and /sys/class/net would show the host's interfaces, not the node's).
# It prepares the node's root once (hostname, machine id, /etc/hosts, its own SSH host key and the operator's key,
# key-only sshd, and every unit the host's packages enabled disabled but ssh: the node's roles enable what they
# run), then boots it. A reboot inside the node (`systemctl reboot`, nspawn exits 133) boots it again with the same
# root, so what the roles enabled comes back; a poweroff (SIGTERM to nspawn) ends this script. The overlay lives in
# this script's mount namespace: it goes when the script does.
set -euo pipefail
n=$1; netns=$2; d=$3; hostsfile=$4; share=$5; secrets=$6; statedir=$7; machine_id=$8; venv=${9:-}
mkdir -p "$d/up" "$d/work" "$d/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/up,workdir=$d/work" "$d/root"
r=$d/root
if [ ! -e "$d/prepared" ]; then
  echo "$n" > "$r/etc/hostname"
  echo "$machine_id" > "$r/etc/machine-id"
  install -m644 "$hostsfile" "$r/etc/hosts"
  rm -f "$r/etc/resolv.conf"; echo 'nameserver 127.0.0.1' > "$r/etc/resolv.conf"   # no DNS: fail fast, locally
  ln -sf /dev/null "$r/etc/systemd/system/systemd-firstboot.service"   # else it waits for a person at boot
  # The host's enabled units are not the node's: only ssh stays; the roles enable munge, slurmd, OpenSM ...
  for want in "$r"/etc/systemd/system/*.wants/*; do
    [ "$(basename "$want")" = ssh.service ] || rm -f "$want"
  done
  mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
  ln -sf /lib/systemd/system/ssh.service "$r/etc/systemd/system/multi-user.target.wants/ssh.service"
  rm -f "$r"/etc/ssh/ssh_host_*
  install -m600 "$secrets/hostkeys/$n/ssh_host_ed25519_key" "$r/etc/ssh/ssh_host_ed25519_key"
  install -m644 "$secrets/hostkeys/$n/ssh_host_ed25519_key.pub" "$r/etc/ssh/ssh_host_ed25519_key.pub"
  install -d -m755 "$r/etc/ssh/sshd_config.d"
  cat > "$r/etc/ssh/sshd_config.d/00-ffinfra-lab.conf" <<CONF
# ffinfra lab node: key-only root login, this node's own host key
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF
  # root's shell start-up files are Debian's defaults, as on a fresh node, not the host operator's: sshd has bash
  # read ~/.bashrc for every command, and a host's pyenv or conda init there cost 0.1 s per command over SSH.
  install -m644 /etc/skel/.bashrc /etc/skel/.profile "$r/root/"
  install -d -m700 "$r/root/.ssh"
  install -m600 "$secrets/id_ed25519.pub" "$r/root/.ssh/authorized_keys"
  touch "$d/prepared"
fi
args=(--quiet --directory="$r" --boot --register=no --keep-unit
      --machine="$(basename "$netns")" --hostname="$n" --resolv-conf=off --link-journal=no
      --capability=CAP_NET_ADMIN                     # tc, for the acceptance suite's throttled-link fault
      --bind="$share:/lab")
# ffinfra's venv (PyTorch for the training suite) at its own path, read-only, where the node's fresh /tmp hides it
case "$venv" in /tmp/*|/run/*|/dev/shm/*) args+=(--bind-ro="$venv") ;; esac
# The stack's secrets and the lab's own state are on the host's / as well: nodes must not read them there.
for hide in "$secrets" "$statedir"; do [ -d "$hide" ] && args+=(--tmpfs="$hide:mode=0700"); done
while :; do
  rc=0
  systemd-nspawn "${args[@]}" || rc=$?
  [ "$rc" -eq 133 ] || exit "$rc"   # 133: the node rebooted; anything else: it powered off or failed
  echo "$(date -u +%FT%TZ) $n rebooted"
done
