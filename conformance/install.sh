#!/usr/bin/env bash
# Installs the Autobahn TestSuite's fuzzing client (wstest) where it is
# missing, and prints the path of the wstest to use. Idempotent: a second
# run checks that the environment's wstest starts and returns at once.
#
# wstest runs only on Python 2.7, which this Debian release (bookworm) does
# not ship: python2.7 comes from the previous release (bullseye) through an
# apt source pinned low (priority 100), so nothing else is ever taken from it;
# virtualenv 20.21.1 is the last that makes 2.7 environments; the suite's
# requirements are pinned to the 2.7-compatible set it was released with.
set -euo pipefail

home="${AUTOBAHN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/ws-autobahn}"
env="$home/py27"
wstest="$env/bin/wstest"

if [ -x "$wstest" ] && "$wstest" --help >/dev/null 2>&1; then
    echo "$wstest"
    exit 0
fi

say() { echo "autobahn install: $*" >&2; }

if ! [ -x /usr/bin/python2.7 ] || ! [ -e /usr/include/python2.7/Python.h ]; then
    if ! [ -e /etc/apt/sources.list.d/bullseye.sources ]; then
        say "adding Debian bullseye (pinned to priority 100) for python2.7"
        cat >/etc/apt/sources.list.d/bullseye.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        cat >/etc/apt/preferences.d/bullseye-pin <<'PIN'
# Only what bookworm lacks (python2.7 and its libraries) comes from bullseye.
Package: *
Pin: release n=bullseye
Pin-Priority: 100
PIN
    fi
    say "apt-get install python2.7 python2.7-dev"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python2.7 python2.7-dev >&2
fi

if ! [ -x "$home/bootstrap/bin/virtualenv" ]; then
    say "virtualenv 20.21.1 (in $home/bootstrap)"
    mkdir -p "$home"
    python3 -m venv "$home/bootstrap"
    "$home/bootstrap/bin/pip" install -q --disable-pip-version-check virtualenv==20.21.1 >&2
fi

say "python 2.7 environment with autobahntestsuite (in $env)"
rm -rf "$env"
"$home/bootstrap/bin/virtualenv" -q -p /usr/bin/python2.7 "$env" >&2
# The sdist of 25.10.1 lacks the requirements.txt its setup.py reads, so its
# own pinned set (from its egg-info) is given here explicitly.
"$env/bin/pip" install -q --disable-pip-version-check --no-python-version-warning \
    setuptools==44.0.0 \
    six==1.16.0 \
    txaio==2.1.0 \
    incremental==16.10.1 \
    cryptography==3.3.2 \
    pyOpenSSL==19.1.0 \
    service_identity==18.1.0 \
    zope.interface==4.6.0 \
    Twisted==19.10.0 \
    jinja2==2.11.3 \
    markupsafe==1.1.1 \
    Werkzeug==1.0.1 \
    klein==17.10.0 \
    unittest2==1.1.0 \
    'autobahn[twisted,accelerate]==0.10.9' \
    autobahntestsuite==25.10.1 >&2
"$wstest" --help >/dev/null
echo "$wstest"
