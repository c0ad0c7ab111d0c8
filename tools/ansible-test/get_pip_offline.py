"""Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test downloads its pip bootstrap from ci-files.testing.ansible.com,
which this machine kind cannot reach. This script does the same job with what
the machine has: bootstrap pip with the standard library's ensurepip, then let
that pip install the exact pinned pip ansible-test asks for from PyPI.
ansible-test hides pip's config files (PIP_CONFIG_FILE=/dev/null), so the
system CA bundle is passed explicitly; pip >= 24.2 then uses the system trust
store by itself. scripts/sanity copies this file into ~/.ansible/test/cache/.
"""

import ensurepip
import os
import ssl
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def system_ca_bundle():
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile,
                      "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
bundle = system_ca_bundle()
if bundle:
    args = ["--cert", bundle] + args
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
