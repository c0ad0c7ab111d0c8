# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The collection's one JSON file writer and reader (benchmark records, accuracy baselines, the MicroK8s
addon-argument record).

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os


def write_json(path, data, mode=0o644):
    """Write ``data`` as indented, sorted JSON through a temporary file: a reader never sees half a file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_json_object(path):
    """The JSON object stored at ``path``, or ``{}`` when the file is missing, unreadable or not an object."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
