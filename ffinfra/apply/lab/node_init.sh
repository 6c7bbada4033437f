#!/bin/bash
# PID 1 of one ffinfra lab node. Started by the lab provider as
#   setsid nsenter --net=/run/netns/NS unshare --mount --uts --ipc --pid --fork --propagation private \
#       node_init.sh NAME NODE_DIR HOSTS_FILE SHARE_DIR SECRETS_DIR STATE_DIR [VENV]
# It builds the node's private root (an overlay over the host's /, writes land in NODE_DIR/up only), installs the
# node's own SSH host key and the operator's public key, starts sshd (key-only), then waits forever, reaping
# orphans. Killing this process ends the node: the kernel kills its pid namespace and the mounts go with it.
# Not `ip netns exec`: that remounts /sys and loses /sys/fs/cgroup, and slurmd will not start without it.
set -euo pipefail
n=$1; d=$2; hostsfile=$3; share=$4; secrets=$5; statedir=$6; venv=${7:-}
hostname "$n"
mkdir -p "$d/up" "$d/work" "$d/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/up,workdir=$d/work" "$d/root"
r=$d/root
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"                      # fresh sysfs: this netns' devices
mount --rbind /sys/fs/cgroup "$r/sys/fs/cgroup"    # slurmd refuses to start without a cgroup tree
mount --rbind /dev "$r/dev"
mount -t tmpfs -o size=512m,mode=1777 tmpfs "$r/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
mkdir -p "$r/lab"; mount --bind "$share" "$r/lab"
# ffinfra's venv (PyTorch for the training suite) at its own path, read-only, where a fresh mount above hides it
case "$venv" in
  /tmp/*|/run/*|/dev/shm/*)
    mkdir -p "$r$venv"; mount --bind "$venv" "$r$venv"; mount -o remount,bind,ro "$r$venv" ;;
esac
# The stack's secrets and the lab's own state are on the host's / as well: nodes must not read them there.
for hide in "$secrets" "$statedir"; do [ -d "$r$hide" ] && mount -t tmpfs -o size=1m,mode=700 tmpfs "$r$hide"; done
install -m644 "$hostsfile" "$r/etc/hosts"
echo "$n" > "$r/etc/hostname"
rm -f "$r/etc/resolv.conf"; echo 'nameserver 127.0.0.1' > "$r/etc/resolv.conf"   # DNS fails on loopback
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
install -d -m700 "$r/root/.ssh"
install -m600 "$secrets/id_ed25519.pub" "$r/root/.ssh/authorized_keys"
cd "$r"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
umount -l /.oldroot; rmdir /.oldroot
mkdir -p /run/sshd /run/munge /run/slurm /var/log/slurm
mkdir -p -m 1777 /run/lock      # /var/lock -> /run/lock: Debian's init.d scripts take locks there
chown munge:munge /run/munge 2>/dev/null || true
rm -f /usr/sbin/init            # node-local whiteout: Ansible then sees service_mgr=sysvinit, not systemd
/usr/sbin/sshd -E /var/log/sshd.log
trap 'exit 0' TERM INT
echo READY > /run/node-ready
while :; do sleep 3600 & wait $! || true; done   # bash as PID 1 reaps the daemons' orphans
