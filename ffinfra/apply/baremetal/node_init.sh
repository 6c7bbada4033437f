#!/bin/sh
# /init of ffinfra's stateless node image (busybox sh; built by ffinfra/apply/baremetal/image.py).
#
# The boot contract: the kernel command line carries ffinfra.url=http://SERVER:PORT ffinfra.host=HOSTNAME
# ffinfra.mac=MAC. This loads the image's NIC drivers, takes DHCP on the NIC with that MAC (else the first one),
# fetches ${url}/nodes/${host}/{hostname,authorized_keys,dropbear_host_key}, starts dropbear (key-only, root
# allowed) and POSTs key=value lines (host mac ip kernel boot_id image ssh) to ${url}/report/${host}. Each fetch
# and the report are retried every 2 s for up to 5 minutes. Everything it does goes to the console prefixed
# "ffinfra-init:".
#
# One file, several roles, by how it is called:
#   as PID 1 (the kernel runs /init)   becomes busybox init, which reads /etc/inittab and runs:
#   /init boot       sysinit: mounts, drivers, DHCP, the node's files (init waits for it)
#   /init sshd       respawn: dropbear in the foreground; init restarts it if it dies
#   /init report     once: the report, as soon as dropbear listens
#   /init shutdown   shutdown (poweroff, reboot): a last word on the console
#   /init deconfig|bound|renew|leasefail|nak   udhcpc's event script (udhcpc -s /init)
# busybox init, not a loop here, is PID 1 because it reaps orphans, restarts dropbear, and turns `poweroff`
# (SIGUSR2 to PID 1) into stopping everything and powering the machine off.

STATE=/run/ffinfra
KEY=/etc/dropbear/dropbear_ed25519_host_key

log() { echo "ffinfra-init: $*"; }

arg() {  # the value of $1=... on the kernel command line
    for w in $(cat /proc/cmdline); do
        case "$w" in "$1"=*) echo "${w#*=}"; return 0 ;; esac
    done
    return 1
}

server() {  # URL, HOST and MAC from the kernel command line
    URL=$(arg ffinfra.url); URL=${URL%/}; HOST=$(arg ffinfra.host)
    MAC=$(arg ffinfra.mac | tr 'A-F' 'a-f')
}

now() { read -r up _ </proc/uptime; echo "${up%.*}"; }

retry() {  # retry WHAT COMMAND...: every 2 s until it succeeds, for up to 5 minutes
    what=$1; shift
    end=$(($(now) + 300)); n=0
    until "$@"; do
        n=$((n + 1))
        if [ "$(now)" -ge "$end" ]; then log "giving up on $what after 5 minutes"; return 1; fi
        [ $((n % 15)) -eq 3 ] && log "$what: not yet, retrying every 2 s"
        sleep 2
    done
}

nic_with_mac() {  # the NIC whose MAC is $1 (any non-loopback NIC when $1 is empty)
    for d in /sys/class/net/*; do
        n=${d##*/}
        [ "$n" = lo ] || [ ! -e "$d/address" ] && continue
        if [ -z "$1" ] || [ "$(cat "$d/address")" = "$1" ]; then echo "$n"; return 0; fi
    done
    return 1
}

any_nic() { nic_with_mac "" >/dev/null; }

# wget under `timeout`: Debian's busybox-static has no wget -T (it crashes on it), and a fetch must not hang
fetch() {  # fetch NAME DEST: ${url}/nodes/${host}/NAME into DEST, which must come back non-empty
    timeout 15 wget -q -O "$2.part" "$URL/nodes/$HOST/$1" && [ -s "$2.part" ] && mv "$2.part" "$2"
}

boot() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p "$STATE"
    server
    log "image $(cat /etc/ffinfra-image) kernel $(uname -r) host ${HOST:-?} server ${URL:-?} mac ${MAC:-?}"
    if [ -z "$URL" ] || [ -z "$HOST" ]; then
        log "no ffinfra.url or ffinfra.host on the kernel command line: nothing to fetch, staying up"
        return 0
    fi
    ip link set lo up
    for m in $(cat /etc/ffinfra-modules); do modprobe "$m" || log "module $m did not load"; done
    # the NIC with the boot MAC: drivers may register it a moment after modprobe returns
    end=$(($(now) + 10))
    until NIC=$(nic_with_mac "$MAC"); do
        if [ "$(now)" -ge "$end" ]; then
            log "no NIC has MAC ${MAC:-?}: taking the first one"
            retry "finding a NIC" any_nic || return 0
            NIC=$(nic_with_mac ""); break
        fi
        sleep 1
    done
    cat "/sys/class/net/$NIC/address" >"$STATE/mac"
    log "DHCP on $NIC ($(cat "$STATE/mac"))"
    ip link set "$NIC" up
    # udhcpc stays in the background afterwards and renews the lease for as long as the node runs
    udhcpc -i "$NIC" -s /init -b -t 5 -T 2 -A 2 -p /run/udhcpc.pid
    retry "DHCP on $NIC" test -s "$STATE/ip" || return 0
    retry "GET $URL/nodes/$HOST/hostname" fetch hostname "$STATE/hostname" || return 0
    retry "GET $URL/nodes/$HOST/authorized_keys" fetch authorized_keys "$STATE/authorized_keys" || return 0
    retry "GET $URL/nodes/$HOST/dropbear_host_key" fetch dropbear_host_key "$STATE/host_key" || return 0
    read -r name <"$STATE/hostname"
    hostname "$name" && echo "$name" >/etc/hostname
    printf '127.0.0.1 localhost\n%s %s\n' "$(cat "$STATE/ip")" "$name" >/etc/hosts
    mkdir -p /root/.ssh && chmod 700 /root /root/.ssh
    cp "$STATE/authorized_keys" /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
    cp "$STATE/host_key" "$KEY" && chmod 600 "$KEY"
    touch "$STATE/ready"
    log "hostname $name, operator key and host key installed"
}

sshd() {
    [ -e "$STATE/ready" ] || exec sleep 2147483647  # boot gave up: nothing to serve, and no restart loop
    [ -e "$STATE/sshd.started" ] && { log "dropbear exited: restarting it"; sleep 1; }
    touch "$STATE/sshd.started"
    log "starting dropbear on port 22 (key-only)"
    exec dropbear -F -E -s -g -p 22 -r "$KEY"
}

listening() {  # something listens on TCP port 22 (state 0A), IPv4 or IPv6
    grep -q ':0016 [0-9A-F]*:[0-9A-F]* 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

post_report() {
    timeout 15 wget -q -O /dev/null --post-data "$1" "$URL/report/$HOST"
}

report() {
    [ -e "$STATE/ready" ] || exit 0
    server
    retry "dropbear listening" listening || exit 0
    body=$(printf 'host=%s\nmac=%s\nip=%s\nkernel=%s\nboot_id=%s\nimage=%s\nssh=dropbear\n' "$HOST" \
        "$(cat "$STATE/mac")" "$(cat "$STATE/ip")" "$(uname -r)" "$(cat /proc/sys/kernel/random/boot_id)" \
        "$(cat /etc/ffinfra-image)")
    retry "POST $URL/report/$HOST" post_report "$body" || exit 0
    log "reported to $URL/report/$HOST: up as $(hostname) at $(cat "$STATE/ip"), ssh root@$(cat "$STATE/ip")"
}

dhcp_event() {  # udhcpc's script: $1 the event; interface ip mask router dns in the environment
    case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound | renew)
        if [ "$1" = renew ] && [ "$ip" = "$(cat "$STATE/ip" 2>/dev/null)" ]; then return 0; fi
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface" && break; done
        : >/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        echo "$ip" >"$STATE/ip"
        log "DHCP $1: $ip/${mask:-24} on $interface, router ${router:-none}"
        ;;
    leasefail | nak) log "DHCP $1 on $interface" ;;
    esac
}

if [ $$ -eq 1 ]; then
    exec /usr/bin/init
fi
case "$1" in
boot) boot ;;
sshd) sshd ;;
report) report ;;
shutdown) log "shutting down: stopping every process" ;;
deconfig | bound | renew | leasefail | nak) dhcp_event "$1" ;;
*) echo "usage: /init boot|sshd|report|shutdown (busybox init runs these; udhcpc runs it with its events)" >&2; exit 2 ;;
esac
